"""The worker side of deployments: create stacks, watch them, delete them, sweep orphans.

Rules (DESIGN.md): no transaction is held across an OpenStack call; work is claimed with a
short SKIP LOCKED transaction and a lease. Each unit of work talks to Heat first and only
collects what it decided (`Writes`); everything is then written at once through
`services.deployments_apply`, which refuses a move that something else made stale. So a
reconciler cycle costs the same few queries whether 1 or 1,000 deployments changed.
Killing a worker at any point loses nothing: the lease expires and the next run converges.
"""

import contextvars
import logging
import math
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from catalog.models import Region
from deployments import selectors, services
from deployments.models import WATCHED_STATUSES, Deployment, DesiredState, Status
from heat import adapter
from heat.adapter_types import (
    RegionRef,
    Stack,
    StackEvent,
    StackListing,
    StackRef,
    StackSummary,
)
from heat.contract import StackOutputsInvalid, stack_outputs_parse
from heat.exceptions import (
    CloudCapacityExceeded,
    CloudCredentialsError,
    InvalidStackRequest,
    OpenStackError,
    StackConflict,
    StackNotFound,
)
from heat.rendering import SERVER_RUNNING, SERVER_STOPPED, template_resource_names, template_text

logger = logging.getLogger(__name__)

MAX_CREATE_ATTEMPTS = 5
MAX_DELETE_ATTEMPTS = 5
MAX_UPDATE_ATTEMPTS = 5  # a stop or start update Heat keeps failing
# When a deployment is next read in detail (progress, events), by how settled it is. Every
# cycle compares every watched row with the stack list anyway, at no Heat cost: an active
# deployment is read again only when its stack's status changes.
YOUNG_CHECK = timedelta(seconds=3)  # provisioning, deleting
SETTLED_CHECK = timedelta(minutes=5)  # active: its stack changing matters, not the clock
YOUNG_FOR = timedelta(minutes=10)
# Deployments one region's cycle works on; more wait for the next cycle. Keeps a cycle's
# Heat calls well inside the lease (a mass event changes thousands at once).
MAX_WORK_PER_CYCLE = 1000


def region_ref(region: Region) -> RegionRef:
    return RegionRef(cloud=region.cloud, region=region.region_name)


def _backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(300, 5 * 2 ** max(attempt - 1, 0)))


def customer_reason(heat_reason: str, region_name: str) -> str:
    """Heat's reason for a failed create, as one plain sentence for the customer."""
    reason = heat_reason.lower()
    if "no valid host" in reason:
        return (
            f"No GPU capacity in {region_name} right now. Try another region or instance "
            "type, or try again later."
        )
    if "maximum stacks" in reason:
        # Heat's max_stacks_per_tenant: the region's project is full.
        return (
            f"{region_name} cannot take more machines right now. Our team has been alerted; "
            "try another region or try again later."
        )
    if "quota" in reason:
        return (
            f"The cloud's capacity quota in {region_name} is used up. Our team has been "
            "alerted; try another region or try again later."
        )
    return "The machine could not be created. Our team has been alerted."


# Heat's custom-constraint failure: "Parameter 'flavor' is invalid: Error validating value
# 'x': The Flavor (x) could not be found." (heat-observed.md "Custom constraints").
_NOT_FOUND_IN_CLOUD = re.compile(r"The (Flavor|Image|Network) \((.*?)\) could not be found")
_MISSING_CHOICE = {
    "Flavor": "This instance type",
    "Image": "This image",
    "Network": "The network for machines",
}


def _error_reason(error: OpenStackError, region_name: str) -> str:
    if isinstance(error, CloudCapacityExceeded):
        return customer_reason(error.cloud_message or "quota", region_name)
    if isinstance(error, InvalidStackRequest):
        missing = _NOT_FOUND_IN_CLOUD.search(error.cloud_message)
        if missing:
            return (
                f"{_MISSING_CHOICE[missing.group(1)]} is not set up in {region_name} yet. "
                "Our team has been alerted; try another region or choice."
            )
        return "The cloud refused this configuration. Our team has been alerted."
    if isinstance(error, CloudCredentialsError):
        return "The cloud is misconfigured on our side. Our team has been alerted."
    return f"The cloud in {region_name} did not answer. Please try again later."


def _staff_detail(error: OpenStackError) -> str:
    return f"{error.operation}: {type(error).__name__}: {error.cloud_message or error.detail}"


# --- What a unit of work decided ------------------------------------------------------


class Writes:
    """The changes one unit of work decided, written later in one batch."""

    def __init__(self) -> None:
        self.changes: list[services.DeploymentChange] = []

    def move(
        self,
        deployment: Deployment,
        to_status: str,
        reason: str,
        expected_from: set[str],
        *,
        detail: str | None = None,
        changes: dict[str, Any] | None = None,
        if_refused: dict[str, Any] | None = None,
    ) -> None:
        """A worker's transition; refused (changing only `if_refused`) when a concurrent
        change already moved the deployment."""
        self.changes.append(
            services.DeploymentChange(
                deployment_id=deployment.pk,
                to_status=to_status,
                reason=reason,
                detail=detail,
                expected_from=frozenset(expected_from),
                changes=changes or {},
                if_refused=if_refused or {},
            )
        )

    def observe(self, deployment: Deployment, **changes: Any) -> None:
        """What the worker saw or did, without a state change."""
        self.changes.append(services.DeploymentChange(deployment_id=deployment.pk, changes=changes))

    def events(
        self, deployment: Deployment, ref: RegionRef, stack: StackRef
    ) -> tuple[StackEvent, ...]:
        """Read the stack's events since the deployment's marker, to be stored once each."""
        heat_events = adapter.stack_events(
            region=ref, stack=stack, since_event_id=deployment.events_marker or None
        )
        if heat_events:
            self.changes.append(
                services.DeploymentChange(deployment_id=deployment.pk, heat_events=heat_events)
            )
        return heat_events


def _write(writes: Writes, owner: str, claimed: list[int]) -> None:
    """Everything decided, in one transaction that also releases the leases."""
    services.deployments_apply(writes.changes, release=(owner, claimed))


# --- Provisioning ---------------------------------------------------------------------


def deployment_provision(*, deployment_id: int) -> None:
    """Create the deployment's stack (or adopt the one a lost attempt made)."""
    owner = services.new_lease_owner()
    claimed = services.deployments_claim(
        condition=Q(pk=deployment_id, status=Status.PENDING), owner=owner
    )
    if not claimed:
        return  # not pending any more, or another worker has it
    writes = Writes()
    try:
        _provision(Deployment.objects.select_related("region").get(pk=deployment_id), writes)
    finally:
        _write(writes, owner, claimed)


def _provision(deployment: Deployment, writes: Writes) -> None:
    ref = region_ref(deployment.region)
    timeout = settings.DEPLOYMENTS_PROVISIONING_TIMEOUT
    try:
        # Idempotent by name: a stack that a worker which died after Heat accepted the
        # create left behind is adopted by the adapter (409 → the existing stack).
        stack = adapter.stack_create(
            region=ref,
            name=deployment.stack_name,
            template=template_text(deployment.stack_template),
            parameters=deployment.stack_parameters,
            tags=deployment.stack_tags,
            timeout_minutes=math.ceil(timeout / 60),
        )
    except OpenStackError as error:
        _provision_failed(deployment, error, writes)
        return
    now = timezone.now()
    writes.move(
        deployment,
        Status.PROVISIONING,
        "Creating the machine.",
        {Status.PENDING},
        changes={
            "stack_id": stack.id,
            "heat_status": "CREATE_IN_PROGRESS",
            "progress_complete": 0,
            # Known at the first progress check: what exists depends on the parameters
            # (a resource whose condition is false is never made, e.g. no data volume).
            "progress_total": 0,
            "provisioning_deadline": now + timedelta(seconds=timeout),
            "next_check_at": now + YOUNG_CHECK,
            "create_attempts": deployment.create_attempts + 1,
        },
        # Deleted while we were creating: keep the id so the delete finds the stack.
        if_refused={"stack_id": stack.id},
    )


def _provision_failed(deployment: Deployment, error: OpenStackError, writes: Writes) -> None:
    attempts = deployment.create_attempts + 1
    if error.retryable and attempts < MAX_CREATE_ATTEMPTS:
        # The reconciler sends it again when next_check_at comes.
        writes.observe(
            deployment,
            create_attempts=attempts,
            next_check_at=timezone.now() + _backoff(attempts),
            status_detail=_staff_detail(error),
        )
        return
    # If it was deleted meanwhile, the move is refused and the delete path finishes it.
    writes.move(
        deployment,
        Status.FAILED,
        _error_reason(error, deployment.region.name),
        {Status.PENDING},
        detail=_staff_detail(error),
        changes={"create_attempts": attempts},
    )


# --- Deleting -------------------------------------------------------------------------


def deployment_delete_stack(*, deployment_id: int) -> None:
    owner = services.new_lease_owner()
    claimed = services.deployments_claim(
        condition=Q(pk=deployment_id, status=Status.DELETING), owner=owner
    )
    if not claimed:
        return
    writes = Writes()
    try:
        deployment = Deployment.objects.select_related("region").get(pk=deployment_id)
        _delete_stack(deployment, region_ref(deployment.region), timezone.now(), writes)
    finally:
        _write(writes, owner, claimed)


def _stack_of(deployment: Deployment, ref: RegionRef) -> StackRef | None:
    if deployment.stack_id:
        return StackRef(id=deployment.stack_id, name=deployment.stack_name)
    # Deleted before the stack id was saved: a create may still have reached Heat.
    found = adapter.stack_find(region=ref, name=deployment.stack_name)
    return found.ref if found is not None else None


def _delete_stack(
    deployment: Deployment,
    ref: RegionRef,
    now: datetime,
    writes: Writes,
    *,
    look_again_in: timedelta = YOUNG_CHECK,
    detail: str | None = None,
) -> None:
    try:
        stack = _stack_of(deployment, ref)
        deleting = stack is not None and adapter.stack_delete(region=ref, stack=stack)
    except StackConflict as error:
        writes.observe(
            deployment,
            next_check_at=now + _backoff(deployment.delete_attempts + 1),
            status_detail=_staff_detail(error),
        )
        return
    except OpenStackError as error:
        _delete_failed(deployment, _staff_detail(error), writes)
        return
    if not deleting:
        writes.move(
            deployment,
            Status.DELETED,
            "Deleted.",
            {Status.DELETING},
            changes={"heat_status": "DELETE_COMPLETE" if stack is not None else ""},
        )
        return
    assert stack is not None
    writes.observe(
        deployment,
        stack_id=stack.id,
        heat_status="DELETE_IN_PROGRESS",
        next_check_at=now + look_again_in,
        delete_attempts=deployment.delete_attempts + 1,  # we hold its lease
        **({"status_detail": detail} if detail is not None else {}),
    )


def _delete_failed(deployment: Deployment, detail: str, writes: Writes) -> None:
    """Asking Heat to delete failed: try again later, or give up after the last attempt."""
    attempts = deployment.delete_attempts + 1
    if attempts >= MAX_DELETE_ATTEMPTS:
        _give_up_delete(deployment, detail, attempts, writes)
        return
    writes.observe(
        deployment,
        delete_attempts=attempts,
        next_check_at=timezone.now() + _backoff(attempts),
        status_detail=detail,
    )


def _give_up_delete(
    deployment: Deployment,
    detail: str,
    attempts: int,
    writes: Writes,
    heat_status: str | None = None,
) -> None:
    writes.move(
        deployment,
        Status.ERROR,
        "Deleting this machine failed; our team has been alerted and will finish it.",
        {Status.DELETING},
        detail=detail,
        changes={
            "delete_attempts": attempts,
            **({"heat_status": heat_status} if heat_status is not None else {}),
        },
    )
    logger.error("deployment.delete_exhausted", extra={"deployment_id": deployment.public_id})


def _portal_stacks(ref: RegionRef) -> StackListing:
    return adapter.stacks_listing(
        region=ref,
        tags=[settings.OPENSTACK_STACK_TAG],
        page_size=settings.OPENSTACK_LIST_PAGE_SIZE,
    )


# --- The reconciler -------------------------------------------------------------------


@dataclass
class ReconcileReport:
    region: str
    watched: int = 0  # deployments whose stacks this region's list was compared with
    due: int = 0  # of those, claimed for work
    listed: int = 0
    acted: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # by phase, for operators
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - started

    def count(self, what: str) -> None:
        with self._lock:  # units of work run in threads
            self.acted[what] = self.acted.get(what, 0) + 1


class Triage(NamedTuple):
    """The few facts that decide whether a deployment needs work this cycle."""

    id: int
    status: str
    stack_name: str
    has_stack_id: bool
    heat_status: str
    due: bool  # its next look (progress, a retry's backoff) is due
    written_since_list: bool  # judged on the next cycle's list, which will be newer

    @classmethod
    def rows(cls, *, region_id: int, now: datetime, listed_at: datetime) -> list["Triage"]:
        """Every watched deployment of the region, as plain tuples (booleans computed by
        the database: no datetime per row to parse)."""
        return [
            cls(*values)
            for values in Deployment.objects.filter(
                region_id=region_id, status__in=WATCHED_STATUSES
            )
            .exclude(status=Status.FAILED, stack_id="")
            .annotate(
                _has_stack_id=ExpressionWrapper(~Q(stack_id=""), output_field=BooleanField()),
                _due=ExpressionWrapper(Q(next_check_at__lte=now), output_field=BooleanField()),
                _written=ExpressionWrapper(
                    Q(updated_at__gte=listed_at), output_field=BooleanField()
                ),
            )
            .values_list(
                "id", "status", "stack_name", "_has_stack_id", "heat_status", "_due", "_written"
            )
        ]

    @classmethod
    def of(cls, deployment: Deployment, *, now: datetime, listed_at: datetime) -> "Triage":
        return cls(
            id=deployment.pk,
            status=deployment.status,
            stack_name=deployment.stack_name,
            has_stack_id=bool(deployment.stack_id),
            heat_status=deployment.heat_status,
            due=deployment.next_check_at <= now,
            written_since_list=deployment.updated_at >= listed_at,
        )


def _absence_matters(row: Triage) -> bool:
    """Whether the row's stack missing from the listing would lead to a conclusion."""
    if row.status == Status.PENDING:
        return False
    if row.status == Status.DELETING:
        return row.has_stack_id or bool(row.heat_status)
    return True


def _needs_work(row: Triage, stack: StackSummary | None, complete: bool = True) -> bool:
    """Whether the listed stack and the row disagree, or the row's next look is due.

    Settled rows (an active deployment whose stack is as last seen, a failed one whose
    stack is being deleted) cost nothing: no claim, no write, no Heat read. A listing that
    may have left stacks out (`complete` False) proves nothing by an absence: those rows
    wait for a whole listing.
    """
    if row.written_since_list:
        return False
    if stack is None and not complete and _absence_matters(row):
        return False
    changed = stack is None or stack.status != row.heat_status
    if row.status == Status.ACTIVE:
        return changed
    if row.status == Status.PROVISIONING:
        return row.due or changed
    if row.status == Status.DELETING:
        # Gone from the list after Heat accepted the delete: DELETED, no Heat call needed.
        return row.due or (stack is None and (row.has_stack_id or bool(row.heat_status)))
    if row.status == Status.FAILED:
        if stack is None:
            return True  # its cleanup finished: forget the stack
        return row.due and stack.status != "DELETE_IN_PROGRESS"
    if row.status in (Status.STOPPING, Status.STARTING):
        return row.due or changed
    if row.status == Status.STOPPED:
        # Settled once its last update completed; otherwise a cleanup update is pending.
        return changed or (row.due and row.heat_status != "UPDATE_COMPLETE")
    return row.due  # PENDING: its provisioning task was lost or waits to retry


@dataclass(frozen=True)
class _Listing:
    """One region's stack list and when it was asked for (rows written later wait)."""

    listed_at: datetime
    stacks: dict[str, StackSummary] | None  # None: the cloud did not answer
    seconds: float
    complete: bool = True  # False: the listing may have left stacks out (see `problem`)
    problem: str = ""


def _listing(region: Region) -> _Listing:
    listed_at = timezone.now()
    started = time.perf_counter()
    try:
        listing = _portal_stacks(region_ref(region))
    except OpenStackError:
        logger.exception("reconcile.list_failed", extra={"region": region.slug})
        return _Listing(listed_at=listed_at, stacks=None, seconds=time.perf_counter() - started)
    return _Listing(
        listed_at=listed_at,
        stacks={stack.name: stack for stack in listing.stacks},
        seconds=time.perf_counter() - started,
        complete=listing.complete,
        problem=listing.problem,
    )


def regions_reconcile(*, now: datetime | None = None) -> list[ReconcileReport]:
    """One cycle over every active region. The regions' stack lists are asked for at once
    (separate clouds, no database); the rest runs region by region."""
    regions = list(Region.objects.filter(is_active=True).order_by("id"))
    if not regions:
        return []
    with ThreadPoolExecutor(max_workers=len(regions), thread_name_prefix="list") as pool:
        listings = list(
            pool.map(lambda region: contextvars.copy_context().run(_listing, region), regions)
        )
    return [
        _region_reconcile(region, listing, now or timezone.now())
        for region, listing in zip(regions, listings, strict=True)
    ]


def region_reconcile(*, region_id: int, now: datetime | None = None) -> ReconcileReport:
    """One cycle for one region."""
    region = Region.objects.get(pk=region_id)
    return _region_reconcile(region, _listing(region), now or timezone.now())


def _region_reconcile(region: Region, listing: _Listing, now: datetime) -> ReconcileReport:
    """One bulk stack list, detail reads only where needed.

    A fixed number of queries whatever the region's size or churn: one read of the watched
    rows (plain tuples), one claim of those that need work, one load of them, one batched
    write of everything decided.
    """
    report = ReconcileReport(region=region.slug)
    report.seconds["list"] = listing.seconds
    if listing.stacks is None:
        return report
    region_id, ref = region.pk, region_ref(region)
    stacks, listed_at = listing.stacks, listing.listed_at
    report.listed = len(stacks)
    complete = listing.complete
    with report.timed("triage"):
        rows = Triage.rows(region_id=region_id, now=now, listed_at=listed_at)
        wanted = [row.id for row in rows if _needs_work(row, stacks.get(row.stack_name), complete)]
    report.watched = len(rows)
    report.acted["unchanged"] = len(rows) - len(wanted)
    if not complete:
        skipped = sum(
            1
            for row in rows
            if row.stack_name not in stacks and _absence_matters(row) and not row.written_since_list
        )
        report.acted["skipped_listing_incomplete"] = skipped
        logger.warning(
            "reconcile.listing_incomplete",
            extra={"region": region.slug, "problem": listing.problem, "skipped": skipped},
        )
    if not wanted:
        return report
    owner = services.new_lease_owner()
    with report.timed("claim"):
        claimed = services.deployments_claim(
            condition=Q(id__in=wanted), owner=owner, limit=MAX_WORK_PER_CYCLE, now=now
        )
        deployments = list(Deployment.objects.filter(id__in=claimed).order_by("id"))
        created_before = selectors.deployments_created_resources(
            deployment_ids=[d.pk for d in deployments if d.status == Status.PROVISIONING]
        )
    report.due = len(claimed)
    writes = Writes()
    try:
        with (
            report.timed("work"),
            ThreadPoolExecutor(
                max_workers=settings.DEPLOYMENTS_RECONCILE_CONCURRENCY,
                thread_name_prefix="reconcile",
            ) as pool,
        ):
            # Heat calls only in the threads (they wait on HTTP); each returns what it
            # decided, written below in one batch. Results are taken in claim order.
            units = []
            for deployment in deployments:
                deployment.region = region
                stack = stacks.get(deployment.stack_name)
                # Read again under our lease: another worker may have just done the work.
                triage = Triage.of(deployment, now=now, listed_at=listed_at)
                if not _needs_work(triage, stack, complete):
                    report.count("unchanged")
                    continue
                context = contextvars.copy_context()  # the request id reaches the logs
                units.append(
                    pool.submit(
                        context.run,
                        _reconcile_guarded,
                        deployment,
                        stack,
                        ref,
                        now,
                        report,
                        created_before.get(deployment.pk, frozenset()),
                    )
                )
            for unit in units:
                writes.changes.extend(unit.result())
    finally:
        with report.timed("write"):
            _write(writes, owner, claimed)
    return report


def _reconcile_guarded(
    deployment: Deployment,
    stack: StackSummary | None,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
    created_before: frozenset[str],
) -> list[services.DeploymentChange]:
    """One deployment's turn; a cloud error drops what it decided and looks again later.

    `created_before`: the resources its stored events show as created (for progress).
    """
    writes = Writes()
    try:
        _reconcile_one(deployment, stack, ref, now, report, writes, created_before)
    except OpenStackError as error:
        logger.warning(
            "reconcile.deployment_failed",
            extra={"deployment_id": deployment.public_id, "error": _staff_detail(error)},
        )
        writes = Writes()
        writes.observe(deployment, next_check_at=now + _backoff(2))
    return writes.changes


def _reconcile_one(
    deployment: Deployment,
    stack: StackSummary | None,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
    writes: Writes,
    created_before: frozenset[str] = frozenset(),
) -> None:
    status = deployment.status
    if stack is None and status != Status.PENDING:
        stack = _confirm_absence(deployment, ref, report)
    if status == Status.PENDING:
        # Its provisioning task was lost, or is waiting to retry: we hold the lease, do it.
        _provision(deployment, writes)
        report.count("provisioned")
    elif status == Status.PROVISIONING:
        _reconcile_provisioning(deployment, stack, ref, now, report, writes, created_before)
    elif status == Status.DELETING:
        _reconcile_deleting(deployment, stack, ref, now, report, writes)
    elif status == Status.ACTIVE:  # its stack changed or vanished
        if stack is None:
            writes.move(
                deployment,
                Status.DELETING,
                "The machine disappeared from the cloud.",
                {Status.ACTIVE},
                changes={"desired_state": DesiredState.DELETED, "next_check_at": now},
            )
            report.count("active_vanished")
        elif stack.status != deployment.heat_status:
            writes.observe(deployment, heat_status=stack.status, next_check_at=now + SETTLED_CHECK)
            report.count("active_changed")
        else:
            # Only missing from the listing (a lookup found it as it was): nothing to publish.
            writes.observe(deployment, next_check_at=now + SETTLED_CHECK)
            report.count("unchanged")
    elif status == Status.FAILED:
        _reconcile_failed_cleanup(deployment, stack, ref, now, report, writes)
    elif status in (Status.STOPPING, Status.STOPPED, Status.STARTING):
        _reconcile_power(deployment, stack, ref, now, report, writes)


def _confirm_absence(
    deployment: Deployment, ref: RegionRef, report: ReconcileReport
) -> StackSummary | None:
    """A stack missing from the listing, looked up by itself: None only when Heat says it
    is gone (404 or DELETE_COMPLETE). Heat's listings can leave a live stack out, and
    concluding from that would end a running machine (heat-observed.md "List filters")."""
    if not deployment.stack_id and not deployment.heat_status:
        return None  # it never reached Heat: nothing to look up
    try:
        if deployment.stack_id:
            found: StackSummary | None = adapter.stack_get(
                region=ref, stack=StackRef(id=deployment.stack_id, name=deployment.stack_name)
            )
        else:
            found = adapter.stack_find(region=ref, name=deployment.stack_name)
    except StackNotFound:
        found = None
    if found is not None and found.status != "DELETE_COMPLETE":
        logger.warning(
            "reconcile.listing_missed_stack",
            extra={
                "deployment_id": deployment.public_id,
                "stack": deployment.stack_name,
                "stack_status": found.status,
            },
        )
        report.count("listing_missed_stack")
        return found
    return None


def _reconcile_provisioning(
    deployment: Deployment,
    stack: StackSummary | None,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
    writes: Writes,
    created_before: frozenset[str],
) -> None:
    region_name = deployment.region.name
    if stack is None or stack.status == "CREATE_FAILED":
        heat_reason = stack.status_reason if stack else "The stack disappeared."
        _fail_and_clean_up(
            deployment,
            ref,
            customer_reason(heat_reason, region_name),
            heat_reason,
            now,
            writes,
            heat_status=stack.status if stack else "DELETE_COMPLETE",
        )
        report.count("create_failed")
        return
    stack_ref = stack.ref
    if stack.status == "CREATE_COMPLETE":
        full = adapter.stack_get(region=ref, stack=stack_ref)
        writes.events(deployment, ref, stack_ref)
        try:
            outputs = stack_outputs_parse(full.output_values)
        except StackOutputsInvalid as error:
            _fail_and_clean_up(
                deployment,
                ref,
                "The machine was created incompletely. Our team has been alerted.",
                str(error),
                now,
                writes,
                heat_status=stack.status,
            )
            report.count("outputs_invalid")
            return
        writes.move(
            deployment,
            Status.ACTIVE,
            "Running.",
            {Status.PROVISIONING},
            changes={
                "outputs": {
                    "server_id": outputs.server_id,
                    "public_ip": outputs.public_ip,
                    "private_ip": outputs.private_ip,
                    "login_user": outputs.login_user,
                    "ssh_port": outputs.ssh_port,
                    "volume_id": outputs.volume_id,
                },
                "heat_status": stack.status,
                "progress_complete": deployment.progress_total or 1,
                "progress_total": deployment.progress_total or 1,
                "next_check_at": now + SETTLED_CHECK,
            },
        )
        report.count("activated")
        return
    if deployment.provisioning_deadline and now > deployment.provisioning_deadline:
        _fail_and_clean_up(
            deployment,
            ref,
            "Creating the machine took too long. Please try again.",
            f"Provisioning deadline passed in {stack.status}.",
            now,
            writes,
            heat_status=stack.status,
        )
        report.count("timed_out")
        return
    # Still in progress: a young stack's new events, and the progress they add up to (one
    # Heat call; the stack's resource list is read once, for the total, as only Heat knows
    # which of the template's resources exist for these parameters).
    new_events = writes.events(deployment, ref, stack_ref)
    total = deployment.progress_total
    if not total:
        total = adapter.stack_resources(region=ref, stack=stack_ref).total
    created = created_before | {
        event.resource_name for event in new_events if event.resource_status == "CREATE_COMPLETE"
    }
    complete = len(created & template_resource_names(deployment.stack_template))
    writes.observe(
        deployment,
        heat_status=stack.status,
        progress_complete=min(complete, total),
        progress_total=total,
        next_check_at=now
        + (YOUNG_CHECK if now - deployment.created_at < YOUNG_FOR else YOUNG_CHECK * 10),
    )
    report.count("progress")


def _fail_and_clean_up(
    deployment: Deployment,
    ref: RegionRef,
    reason: str,
    detail: str,
    now: datetime,
    writes: Writes,
    heat_status: str = "",
) -> None:
    # Deleting first is safe: if the move is refused, a delete request moved it meanwhile,
    # and that wants the stack gone too.
    cleanup = _request_cleanup(deployment, ref, now) if deployment.stack_id else {}
    writes.move(
        deployment,
        Status.FAILED,
        reason,
        {Status.PROVISIONING},
        detail=detail,
        # What Heat last said, unless the cleanup just asked for (or found) a delete.
        changes={"next_check_at": now + YOUNG_CHECK, "heat_status": heat_status, **cleanup},
    )


def _request_cleanup(deployment: Deployment, ref: RegionRef, now: datetime) -> dict[str, Any]:
    """A failed deployment's stack still holds resources: delete it (rollback is off).

    Returns the fields to record; nothing when the cloud refused (a later cycle retries).
    """
    try:
        deleting = adapter.stack_delete(
            region=ref, stack=StackRef(id=deployment.stack_id, name=deployment.stack_name)
        )
    except OpenStackError as error:
        logger.warning(
            "deployment.cleanup_failed",
            extra={"deployment_id": deployment.public_id, "error": _staff_detail(error)},
        )
        return {}
    return {
        "stack_cleanup_requested_at": now,
        "heat_status": "DELETE_IN_PROGRESS" if deleting else "DELETE_COMPLETE",
        **({} if deleting else {"stack_id": ""}),
    }


def _reconcile_failed_cleanup(
    deployment: Deployment,
    stack: StackSummary | None,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
    writes: Writes,
) -> None:
    if stack is None:
        writes.observe(deployment, stack_id="", heat_status="DELETE_COMPLETE")
        report.count("cleaned_up")
    elif stack.status == "DELETE_FAILED" or not stack.status.startswith("DELETE"):
        writes.observe(
            deployment,
            next_check_at=now + YOUNG_CHECK,
            heat_status=stack.status,
            **_request_cleanup(deployment, ref, now),
        )
        report.count("cleanup_requested")
    else:
        writes.observe(deployment, heat_status=stack.status, next_check_at=now + YOUNG_CHECK)


def _reconcile_deleting(
    deployment: Deployment,
    stack: StackSummary | None,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
    writes: Writes,
) -> None:
    if stack is None:
        if deployment.stack_id or deployment.heat_status:
            # Gone, confirmed by a lookup of its own: DELETE_COMPLETE or 404.
            writes.move(
                deployment,
                Status.DELETED,
                "Deleted.",
                {Status.DELETING},
                changes={"heat_status": "DELETE_COMPLETE"},
            )
            report.count("deleted")
        else:
            _delete_stack(deployment, ref, now, writes)  # never reached Heat, or not yet asked
            report.count("delete_requested")
        return
    if stack.status == "DELETE_IN_PROGRESS":
        writes.events(deployment, ref, stack.ref)
        writes.observe(
            deployment,
            stack_id=stack.id,
            heat_status=stack.status,
            next_check_at=now + YOUNG_CHECK,
        )
        report.count("delete_progress")
        return
    if stack.status == "DELETE_FAILED":
        detail = f"DELETE_FAILED: {stack.status_reason}"
        if deployment.delete_attempts >= MAX_DELETE_ATTEMPTS:
            # Staff take over.
            _give_up_delete(
                deployment, detail, deployment.delete_attempts, writes, heat_status=stack.status
            )
        else:
            # Ask again now, look again after a growing pause; each ask counts once.
            _delete_stack(
                deployment,
                ref,
                now,
                writes,
                look_again_in=_backoff(deployment.delete_attempts + 1),
                detail=detail,
            )
        report.count("delete_retried")
        return
    # The stack exists but no delete is under way (delete asked before it was created).
    _delete_stack(deployment, ref, now, writes)
    report.count("delete_requested")


# --- Stopping and starting -------------------------------------------------------------
#
# Both are stack updates of the same template with server_state stopped or running. The
# stack's own parameters say which update Heat last took, so a worker that died before or
# after sending one just looks again: nothing is sent twice that matters (an update to the
# state the stack is already in completes at once) and nothing is lost.


def deployment_update_stack(*, deployment_id: int) -> None:
    """Send the stop or start update a request asked for (the reconciler would too)."""
    owner = services.new_lease_owner()
    claimed = services.deployments_claim(
        condition=Q(pk=deployment_id, status__in=[Status.STOPPING, Status.STARTING]), owner=owner
    )
    if not claimed:
        return
    writes = Writes()
    deployment = Deployment.objects.select_related("region").get(pk=deployment_id)
    try:
        ref = region_ref(deployment.region)
        report = ReconcileReport(region=deployment.region.slug)
        try:
            found = _stack_of(deployment, ref)
            stack: StackSummary | None = (
                adapter.stack_get(region=ref, stack=found) if found is not None else None
            )
        except StackNotFound:
            stack = None
        _reconcile_power(deployment, stack, ref, timezone.now(), report, writes)
    except OpenStackError as error:
        # The reconciler looks again (the row stays due); the request is not lost.
        writes = Writes()
        writes.observe(
            deployment,
            next_check_at=timezone.now() + _backoff(2),
            status_detail=_staff_detail(error),
        )
    finally:
        _write(writes, owner, claimed)


def _start_failed_reason(heat_reason: str, region_name: str) -> str:
    if "no valid host" in heat_reason.lower():
        return (
            f"No GPU capacity in {region_name} to start this machine right now. Its disks "
            "are kept and nothing was charged; try again later."
        )
    return "The machine could not be started. Its disks are kept; our team has been alerted."


def _update_send(
    deployment: Deployment, ref: RegionRef, stack: StackRef, server_state: str
) -> None:
    adapter.stack_update(
        region=ref,
        stack=stack,
        template=template_text(deployment.stack_template),
        parameters={**deployment.stack_parameters, "server_state": server_state},
        tags=deployment.stack_tags,
    )


def _reconcile_power(
    deployment: Deployment,
    stack: StackSummary | None,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
    writes: Writes,
) -> None:
    """Converge a stopping, stopped or starting deployment with its stack."""
    status = deployment.status
    if stack is None:
        writes.move(
            deployment,
            Status.DELETING,
            "The machine disappeared from the cloud.",
            {status},
            changes={"desired_state": DesiredState.DELETED, "next_check_at": now},
        )
        report.count("power_vanished")
        return
    if stack.status.endswith("_IN_PROGRESS"):
        writes.events(deployment, ref, stack.ref)
        writes.observe(deployment, heat_status=stack.status, next_check_at=now + YOUNG_CHECK)
        report.count("power_progress")
        return
    full = adapter.stack_get(region=ref, stack=stack.ref)
    wanted = SERVER_RUNNING if status == Status.STARTING else SERVER_STOPPED
    current = full.parameters.get("server_state", SERVER_RUNNING)
    if current == wanted and full.status == "UPDATE_COMPLETE":
        writes.events(deployment, ref, stack.ref)
        _power_done(deployment, full, ref, now, report, writes)
        return
    if status == Status.STARTING and current == SERVER_RUNNING and full.status == "UPDATE_FAILED":
        # No capacity (or another failure) for the new server: back to STOPPED, never
        # charged (it was not ACTIVE); a stop update takes the failed server away.
        writes.events(deployment, ref, stack.ref)
        heat_status = full.status
        try:
            _update_send(deployment, ref, stack.ref, SERVER_STOPPED)
            heat_status = "UPDATE_IN_PROGRESS"
        except OpenStackError as error:  # the STOPPED reconcile sends it again
            logger.warning(
                "deployment.start_cleanup_failed",
                extra={"deployment_id": deployment.public_id, "error": _staff_detail(error)},
            )
        writes.move(
            deployment,
            Status.STOPPED,
            _start_failed_reason(full.status_reason, deployment.region.name),
            {Status.STARTING},
            detail=f"UPDATE_FAILED: {full.status_reason}",
            changes={
                "desired_state": DesiredState.STOPPED,
                "heat_status": heat_status,
                "next_check_at": now + YOUNG_CHECK,
            },
        )
        report.count("start_failed")
        return
    attempts = deployment.update_attempts
    if full.status == "UPDATE_FAILED" and current == wanted:
        # Heat failed this very update (a volume would not detach…): again after a growing
        # pause, and after the last attempt staff take over (the row keeps its status).
        detail = f"UPDATE_FAILED: {full.status_reason}"
        if attempts >= MAX_UPDATE_ATTEMPTS or deployment.next_check_at > now:
            if attempts >= MAX_UPDATE_ATTEMPTS:
                logger.error(
                    "deployment.update_exhausted", extra={"deployment_id": deployment.public_id}
                )
            writes.observe(
                deployment,
                heat_status=full.status,
                status_detail=detail,
                next_check_at=max(deployment.next_check_at, now + _backoff(attempts + 1)),
            )
            return
        attempts += 1
    try:
        _update_send(deployment, ref, stack.ref, wanted)
    except StackConflict as error:
        writes.observe(
            deployment, next_check_at=now + _backoff(2), status_detail=_staff_detail(error)
        )
        return
    except OpenStackError as error:
        if error.retryable:
            raise  # the cloud did not answer: the cycle looks again shortly
        # Heat refused the update itself: it will not pass by repetition; look again
        # after a growing pause (staff see why in the detail).
        logger.error(
            "deployment.update_refused",
            extra={"deployment_id": deployment.public_id, "error": _staff_detail(error)},
        )
        writes.observe(
            deployment,
            update_attempts=deployment.update_attempts + 1,
            next_check_at=now + _backoff(deployment.update_attempts + 1),
            status_detail=_staff_detail(error),
        )
        return
    writes.observe(
        deployment,
        heat_status="UPDATE_IN_PROGRESS",
        update_attempts=attempts,
        next_check_at=now + (_backoff(attempts) if attempts else YOUNG_CHECK),
        **({"status_detail": f"{full.status}: {full.status_reason}"}
           if full.status.endswith("FAILED") else {}),
    )  # fmt: skip
    report.count("stop_sent" if wanted == SERVER_STOPPED else "start_sent")


def _power_done(
    deployment: Deployment,
    stack: Stack,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
    writes: Writes,
) -> None:
    outputs = dict(deployment.outputs or {})
    if deployment.status == Status.STOPPING:
        writes.move(
            deployment,
            Status.STOPPED,
            "Stopped. The disks are kept; start it again at any time.",
            {Status.STOPPING},
            changes={
                "heat_status": stack.status,
                "outputs": {**outputs, "server_id": None, "public_ip": None},
                "update_attempts": 0,
                "next_check_at": now + SETTLED_CHECK,
            },
        )
        report.count("stopped")
    elif deployment.status == Status.STARTING:
        try:
            parsed = stack_outputs_parse(stack.output_values)
        except StackOutputsInvalid as error:
            writes.observe(deployment, status_detail=str(error), next_check_at=now + YOUNG_CHECK)
            return
        writes.move(
            deployment,
            Status.ACTIVE,
            "Running.",
            {Status.STARTING},
            changes={
                "heat_status": stack.status,
                "outputs": {
                    "server_id": parsed.server_id,
                    "public_ip": parsed.public_ip,
                    "private_ip": parsed.private_ip,
                    "login_user": parsed.login_user,
                    "ssh_port": parsed.ssh_port,
                    "volume_id": parsed.volume_id,
                },
                "update_attempts": 0,
                "next_check_at": now + SETTLED_CHECK,
            },
        )
        report.count("started")
    else:
        writes.observe(
            deployment,
            heat_status=stack.status,
            update_attempts=0,
            next_check_at=now + SETTLED_CHECK,
        )


# --- Orphans --------------------------------------------------------------------------


def orphan_stacks_sweep(*, now: datetime | None = None) -> list[str]:
    """Delete portal-tagged stacks that no live deployment owns; returns their names.

    Nothing is deleted on the listing's word alone: a region whose listing may have left
    stacks out is skipped, and each candidate is looked up by itself first — it must
    exist, carry the portal's tag, not be deleting already, and be older than
    DEPLOYMENTS_ORPHAN_GRACE seconds (a stack a create has just made may not have its
    deployment's id saved yet).
    """
    now = now or timezone.now()
    grace = timedelta(seconds=settings.DEPLOYMENTS_ORPHAN_GRACE)
    deleted: list[str] = []
    for region in Region.objects.filter(is_active=True).order_by("id"):
        ref = region_ref(region)
        try:
            listing = _portal_stacks(ref)
        except OpenStackError:
            logger.exception("orphans.list_failed", extra={"region": region.slug})
            continue
        if not listing.complete:
            logger.warning(
                "orphans.listing_incomplete",
                extra={"region": region.slug, "problem": listing.problem},
            )
            continue
        owned = set(
            Deployment.objects.filter(
                region=region, stack_name__in=[stack.name for stack in listing.stacks]
            )
            .exclude(status=Status.DELETED)
            .values_list("stack_name", flat=True)
        )
        for listed in listing.stacks:
            if listed.name in owned or listed.status.startswith("DELETE"):
                continue
            stack = _orphan_confirmed(ref, listed, now - grace)
            if stack is None:
                continue
            logger.warning(
                "orphans.deleting",
                extra={"region": region.slug, "stack": stack.name, "stack_id": stack.id},
            )
            try:
                adapter.stack_delete(region=ref, stack=stack.ref)
            except OpenStackError:
                logger.exception("orphans.delete_failed", extra={"stack": stack.name})
                continue
            deleted.append(stack.name)
    return deleted


def _orphan_confirmed(
    ref: RegionRef, listed: StackSummary, created_before: datetime
) -> StackSummary | None:
    """The listed stack as Heat shows it by itself, when it may be deleted as an orphan."""
    if listed.created_at is None or listed.created_at > created_before:
        return None
    try:
        stack = adapter.stack_get(region=ref, stack=listed.ref)
    except OpenStackError:
        return None  # gone already, or the cloud did not answer: the next sweep decides
    if (
        stack.status.startswith("DELETE")
        or settings.OPENSTACK_STACK_TAG not in stack.tags
        or stack.created_at is None
        or stack.created_at > created_before
    ):
        return None
    return stack
