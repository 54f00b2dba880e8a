"""The worker side of deployments: create stacks, watch them, delete them, sweep orphans.

Rules (DESIGN.md): no transaction is held across an OpenStack call; work is claimed with a
short SKIP LOCKED transaction and a lease; results are written back through
`services.deployment_transition`, which refuses a move that something else made stale.
Killing a worker at any point loses nothing: the lease expires and the next run converges.
"""

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from catalog.models import Region
from deployments import services
from deployments.exceptions import DeploymentStateConflict
from deployments.models import WATCHED_STATUSES, Deployment, DesiredState, Status
from heat import adapter
from heat.adapter_types import RegionRef, StackRef, StackSummary
from heat.contract import StackOutputsInvalid, stack_outputs_parse
from heat.exceptions import (
    CloudCapacityExceeded,
    CloudCredentialsError,
    InvalidStackRequest,
    OpenStackError,
    StackConflict,
)
from heat.rendering import template_text

logger = logging.getLogger(__name__)

MAX_CREATE_ATTEMPTS = 5
MAX_DELETE_ATTEMPTS = 5
# How often a deployment's stack is looked at, by how settled it is.
YOUNG_CHECK = timedelta(seconds=3)  # provisioning, deleting
SETTLED_CHECK = timedelta(minutes=5)  # active, failed and cleaned up
YOUNG_FOR = timedelta(minutes=10)


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
    if "quota" in reason:
        return (
            f"The cloud's capacity quota in {region_name} is used up. Our team has been "
            "alerted; try another region or try again later."
        )
    return "The machine could not be created. Our team has been alerted."


def _error_reason(error: OpenStackError, region_name: str) -> str:
    if isinstance(error, CloudCapacityExceeded):
        return customer_reason(error.cloud_message or "quota", region_name)
    if isinstance(error, InvalidStackRequest):
        return "The cloud refused this configuration. Our team has been alerted."
    if isinstance(error, CloudCredentialsError):
        return "The cloud is misconfigured on our side. Our team has been alerted."
    return f"The cloud in {region_name} did not answer. Please try again later."


def _staff_detail(error: OpenStackError) -> str:
    return f"{error.operation}: {type(error).__name__}: {error.cloud_message or error.detail}"


# --- Provisioning ---------------------------------------------------------------------


def deployment_provision(*, deployment_id: int) -> None:
    """Create the deployment's stack (or adopt the one a lost attempt made)."""
    owner = services.new_lease_owner()
    claimed = services.deployments_claim(
        condition=Q(pk=deployment_id, status=Status.PENDING), owner=owner
    )
    if not claimed:
        return  # not pending any more, or another worker has it
    try:
        _provision(Deployment.objects.select_related("region").get(pk=deployment_id))
    finally:
        services.deployments_release(deployment_ids=claimed, owner=owner)


def _provision(deployment: Deployment) -> None:
    ref = region_ref(deployment.region)
    timeout = settings.DEPLOYMENTS_PROVISIONING_TIMEOUT
    try:
        # A worker that died after Heat accepted the create left a stack with our name.
        existing = adapter.stack_find(region=ref, name=deployment.stack_name)
        if existing is not None:
            stack = existing.ref
            logger.info("deployment.stack_adopted", extra={"deployment_id": deployment.public_id})
        else:
            stack = adapter.stack_create(
                region=ref,
                name=deployment.stack_name,
                template=template_text(deployment.stack_template),
                parameters=deployment.stack_parameters,
                tags=deployment.stack_tags,
                timeout_minutes=math.ceil(timeout / 60),
            )
    except OpenStackError as error:
        _provision_failed(deployment, error)
        return
    now = timezone.now()
    try:
        services.deployment_transition(
            deployment_id=deployment.pk,
            to_status=Status.PROVISIONING,
            reason="Creating the machine.",
            expected_from={Status.PENDING},
            changes={
                "stack_id": stack.id,
                "heat_status": "CREATE_IN_PROGRESS",
                "provisioning_deadline": now + timedelta(seconds=timeout),
                "next_check_at": now + YOUNG_CHECK,
                "create_attempts": deployment.create_attempts + 1,
            },
        )
    except DeploymentStateConflict:
        # Deleted while we were creating: keep the id so the delete finds the stack.
        services.deployment_update(deployment_id=deployment.pk, stack_id=stack.id)


def _provision_failed(deployment: Deployment, error: OpenStackError) -> None:
    attempts = deployment.create_attempts + 1
    if error.retryable and attempts < MAX_CREATE_ATTEMPTS:
        # The reconciler sends it again when next_check_at comes.
        services.deployment_update(
            deployment_id=deployment.pk,
            create_attempts=attempts,
            next_check_at=timezone.now() + _backoff(attempts),
            status_detail=_staff_detail(error),
        )
        return
    # If it was deleted meanwhile, the move is refused and the delete path finishes it.
    _transition_quietly(
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
    try:
        deployment = Deployment.objects.select_related("region").get(pk=deployment_id)
        _delete_stack(deployment, region_ref(deployment.region))
    finally:
        services.deployments_release(deployment_ids=claimed, owner=owner)


def _stack_of(deployment: Deployment, ref: RegionRef) -> StackRef | None:
    if deployment.stack_id:
        return StackRef(id=deployment.stack_id, name=deployment.stack_name)
    # Deleted before the stack id was saved: a create may still have reached Heat.
    found = adapter.stack_find(region=ref, name=deployment.stack_name)
    return found.ref if found is not None else None


def _delete_stack(
    deployment: Deployment,
    ref: RegionRef,
    *,
    look_again_in: timedelta = YOUNG_CHECK,
    detail: str | None = None,
) -> None:
    now = timezone.now()
    try:
        stack = _stack_of(deployment, ref)
        deleting = stack is not None and adapter.stack_delete(region=ref, stack=stack)
    except StackConflict as error:
        services.deployment_update(
            deployment_id=deployment.pk,
            next_check_at=now + _backoff(deployment.delete_attempts + 1),
            status_detail=_staff_detail(error),
        )
        return
    except OpenStackError as error:
        _delete_failed(deployment, _staff_detail(error))
        return
    if not deleting:
        _transition_quietly(deployment, Status.DELETED, "Deleted.", {Status.DELETING})
        return
    assert stack is not None
    services.deployment_update(
        deployment_id=deployment.pk,
        stack_id=stack.id,
        heat_status="DELETE_IN_PROGRESS",
        next_check_at=now + look_again_in,
        delete_attempts=F("delete_attempts") + 1,
        **({"status_detail": detail} if detail is not None else {}),
    )


def _delete_failed(deployment: Deployment, detail: str) -> None:
    """Asking Heat to delete failed: try again later, or give up after the last attempt."""
    attempts = deployment.delete_attempts + 1
    if attempts >= MAX_DELETE_ATTEMPTS:
        _give_up_delete(deployment, detail, attempts)
        return
    services.deployment_update(
        deployment_id=deployment.pk,
        delete_attempts=attempts,
        next_check_at=timezone.now() + _backoff(attempts),
        status_detail=detail,
    )


def _give_up_delete(deployment: Deployment, detail: str, attempts: int) -> None:
    _transition_quietly(
        deployment,
        Status.ERROR,
        "Deleting this machine failed; our team has been alerted and will finish it.",
        {Status.DELETING},
        detail=detail,
        changes={"delete_attempts": attempts},
    )
    logger.error("deployment.delete_exhausted", extra={"deployment_id": deployment.public_id})


def _transition_quietly(
    deployment: Deployment,
    to_status: str,
    reason: str,
    expected_from: set[str],
    *,
    detail: str | None = None,
    changes: dict[str, object] | None = None,
) -> bool:
    """A worker's transition; False when a concurrent change already moved the deployment."""
    try:
        services.deployment_transition(
            deployment_id=deployment.pk,
            to_status=to_status,
            reason=reason,
            detail=detail,
            expected_from=expected_from,
            changes=changes,
        )
    except DeploymentStateConflict:
        return False
    return True


def _portal_stacks(ref: RegionRef) -> tuple[StackSummary, ...]:
    return adapter.stacks_list(
        region=ref,
        tags=[settings.OPENSTACK_STACK_TAG],
        page_size=settings.OPENSTACK_LIST_PAGE_SIZE,
    )


# --- The reconciler -------------------------------------------------------------------


@dataclass
class ReconcileReport:
    region: str
    due: int = 0
    listed: int = 0
    acted: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.acted[what] = self.acted.get(what, 0) + 1


def regions_reconcile(*, now: datetime | None = None) -> list[ReconcileReport]:
    return [
        region_reconcile(region_id=region_id, now=now)
        for region_id in Region.objects.filter(is_active=True).values_list("id", flat=True)
    ]


def region_reconcile(*, region_id: int, now: datetime | None = None) -> ReconcileReport:
    """One cycle for one region: one bulk stack list, detail reads only where needed."""
    now = now or timezone.now()
    region = Region.objects.get(pk=region_id)
    report = ReconcileReport(region=region.slug)
    owner = services.new_lease_owner()
    due_ids = services.deployments_claim(
        condition=Q(region_id=region_id, status__in=WATCHED_STATUSES, next_check_at__lte=now)
        & ~Q(status=Status.FAILED, stack_id=""),
        owner=owner,
        limit=10_000,
        now=now,
    )
    report.due = len(due_ids)
    if not due_ids:
        return report
    ref = region_ref(region)
    held = set(due_ids)
    try:
        try:
            stacks = {stack.name: stack for stack in _portal_stacks(ref)}
        except OpenStackError:
            logger.exception("reconcile.list_failed", extra={"region": region.slug})
            return report
        report.listed = len(stacks)
        # Plain tuples first: most due deployments need nothing, and model rows cost time.
        unchanged: list[int] = []
        needs_work: list[int] = []
        for pk, status, stack_name, heat_status in Deployment.objects.filter(
            id__in=due_ids
        ).values_list("id", "status", "stack_name", "heat_status"):
            if _is_settled(status, heat_status, stacks.get(stack_name)):
                unchanged.append(pk)
            else:
                needs_work.append(pk)
        # One write for everything that needs nothing, lease released with it.
        Deployment.objects.filter(id__in=unchanged, lease_owner=owner).update(
            next_check_at=now + SETTLED_CHECK, lease_owner="", lease_expires_at=None
        )
        held.difference_update(unchanged)
        report.acted["unchanged"] = len(unchanged)
        for deployment in Deployment.objects.filter(id__in=needs_work).select_related("region"):
            stack = stacks.get(deployment.stack_name)
            try:
                _reconcile_one(deployment, stack, ref, now, report)
            except OpenStackError as error:
                logger.warning(
                    "reconcile.deployment_failed",
                    extra={"deployment_id": deployment.public_id, "error": _staff_detail(error)},
                )
                services.deployment_update(
                    deployment_id=deployment.pk, next_check_at=now + _backoff(2)
                )
    finally:
        services.deployments_release(deployment_ids=held, owner=owner)
    return report


def _is_settled(status: str, heat_status: str, stack: StackSummary | None) -> bool:
    """An active deployment whose stack is still there as we last saw it needs no work."""
    return status == Status.ACTIVE and stack is not None and stack.status == heat_status


def _reconcile_one(
    deployment: Deployment,
    stack: StackSummary | None,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
) -> None:
    status = deployment.status
    if status == Status.PENDING:
        # Its provisioning task was lost, or is waiting to retry: we hold the lease, do it.
        _provision(deployment)
        report.count("provisioned")
    elif status == Status.PROVISIONING:
        _reconcile_provisioning(deployment, stack, ref, now, report)
    elif status == Status.DELETING:
        _reconcile_deleting(deployment, stack, ref, now, report)
    elif status == Status.ACTIVE:  # and not settled: its stack changed or vanished
        if stack is None:
            _transition_quietly(
                deployment,
                Status.DELETING,
                "The machine disappeared from the cloud.",
                {Status.ACTIVE},
                changes={"desired_state": DesiredState.DELETED, "next_check_at": now},
            )
            report.count("active_vanished")
        else:
            services.deployment_update(
                deployment_id=deployment.pk,
                heat_status=stack.status,
                next_check_at=now + SETTLED_CHECK,
            )
            report.count("active_changed")
    elif status == Status.FAILED:
        _reconcile_failed_cleanup(deployment, stack, ref, now, report)


def _reconcile_provisioning(
    deployment: Deployment,
    stack: StackSummary | None,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
) -> None:
    region_name = deployment.region.name
    if stack is None or stack.status == "CREATE_FAILED":
        heat_reason = stack.status_reason if stack else "The stack disappeared."
        _fail_and_clean_up(
            deployment, ref, customer_reason(heat_reason, region_name), heat_reason, now
        )
        report.count("create_failed")
        return
    stack_ref = stack.ref
    if stack.status == "CREATE_COMPLETE":
        full = adapter.stack_get(region=ref, stack=stack_ref)
        _events_catch_up(deployment, ref, stack_ref)
        try:
            outputs = stack_outputs_parse(full.output_values)
        except StackOutputsInvalid as error:
            _fail_and_clean_up(
                deployment,
                ref,
                "The machine was created incompletely. Our team has been alerted.",
                str(error),
                now,
            )
            report.count("outputs_invalid")
            return
        _transition_quietly(
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
        )
        report.count("timed_out")
        return
    # Still in progress: a young stack is worth a progress count and its new events.
    progress = adapter.stack_resources(region=ref, stack=stack_ref)
    _events_catch_up(deployment, ref, stack_ref)
    services.deployment_update(
        deployment_id=deployment.pk,
        heat_status=stack.status,
        progress_complete=progress.complete,
        progress_total=progress.total,
        next_check_at=now
        + (YOUNG_CHECK if now - deployment.created_at < YOUNG_FOR else YOUNG_CHECK * 10),
    )
    report.count("progress")


def _events_catch_up(deployment: Deployment, ref: RegionRef, stack: StackRef) -> None:
    heat_events = adapter.stack_events(
        region=ref, stack=stack, since_event_id=deployment.events_marker or None
    )
    services.deployment_events_record(deployment_id=deployment.pk, heat_events=heat_events)


def _fail_and_clean_up(
    deployment: Deployment, ref: RegionRef, reason: str, detail: str, now: datetime
) -> None:
    moved = _transition_quietly(
        deployment,
        Status.FAILED,
        reason,
        {Status.PROVISIONING},
        detail=detail,
        changes={"next_check_at": now + YOUNG_CHECK},
    )
    if moved and deployment.stack_id:
        _request_cleanup(deployment, ref, now)


def _request_cleanup(deployment: Deployment, ref: RegionRef, now: datetime) -> None:
    """A failed deployment's stack still holds resources: delete it (rollback is off)."""
    try:
        deleting = adapter.stack_delete(
            region=ref, stack=StackRef(id=deployment.stack_id, name=deployment.stack_name)
        )
    except OpenStackError as error:
        logger.warning(
            "deployment.cleanup_failed",
            extra={"deployment_id": deployment.public_id, "error": _staff_detail(error)},
        )
        return
    services.deployment_update(
        deployment_id=deployment.pk,
        stack_cleanup_requested_at=now,
        **({} if deleting else {"stack_id": ""}),
    )


def _reconcile_failed_cleanup(
    deployment: Deployment,
    stack: StackSummary | None,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
) -> None:
    if stack is None:
        services.deployment_update(deployment_id=deployment.pk, stack_id="", heat_status="")
        report.count("cleaned_up")
    elif stack.status in ("DELETE_FAILED",) or not stack.status.startswith("DELETE"):
        _request_cleanup(deployment, ref, now)
        services.deployment_update(deployment_id=deployment.pk, next_check_at=now + YOUNG_CHECK)
        report.count("cleanup_requested")
    else:
        services.deployment_update(deployment_id=deployment.pk, next_check_at=now + YOUNG_CHECK)


def _reconcile_deleting(
    deployment: Deployment,
    stack: StackSummary | None,
    ref: RegionRef,
    now: datetime,
    report: ReconcileReport,
) -> None:
    if stack is None:
        if deployment.stack_id or deployment.heat_status:
            # Gone from the list: DELETE_COMPLETE (Heat hides deleted stacks).
            _transition_quietly(deployment, Status.DELETED, "Deleted.", {Status.DELETING})
            report.count("deleted")
        else:
            _delete_stack(deployment, ref)  # never reached Heat, or not yet asked
            report.count("delete_requested")
        return
    if stack.status == "DELETE_IN_PROGRESS":
        _events_catch_up(deployment, ref, stack.ref)
        services.deployment_update(
            deployment_id=deployment.pk,
            stack_id=stack.id,
            heat_status=stack.status,
            next_check_at=now + YOUNG_CHECK,
        )
        report.count("delete_progress")
        return
    if stack.status == "DELETE_FAILED":
        detail = f"DELETE_FAILED: {stack.status_reason}"
        if deployment.delete_attempts >= MAX_DELETE_ATTEMPTS:
            _give_up_delete(deployment, detail, deployment.delete_attempts)  # staff take over
        else:
            # Ask again now, look again after a growing pause; each ask counts once.
            _delete_stack(
                deployment,
                ref,
                look_again_in=_backoff(deployment.delete_attempts + 1),
                detail=detail,
            )
        report.count("delete_retried")
        return
    # The stack exists but no delete is under way (delete asked before it was created).
    _delete_stack(deployment, ref)
    report.count("delete_requested")


# --- Orphans --------------------------------------------------------------------------


def orphan_stacks_sweep() -> list[str]:
    """Delete portal-tagged stacks that no live deployment owns; returns their names."""
    deleted: list[str] = []
    for region in Region.objects.filter(is_active=True):
        ref = region_ref(region)
        try:
            stacks = _portal_stacks(ref)
        except OpenStackError:
            logger.exception("orphans.list_failed", extra={"region": region.slug})
            continue
        owned = set(
            Deployment.objects.filter(
                region=region, stack_name__in=[stack.name for stack in stacks]
            )
            .exclude(status=Status.DELETED)
            .values_list("stack_name", flat=True)
        )
        for stack in stacks:
            if stack.name in owned or stack.status == "DELETE_IN_PROGRESS":
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
