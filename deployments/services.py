"""Every write to deployments: create, delete request, the one transition, leases, events.

The worker side (provisioning, the reconciler, deleting stacks) is in `reconciler.py`.
"""

import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import selectors as accounts_selectors
from accounts import services as accounts_services
from accounts.activity import Actor
from accounts.models import ActivityVerb, ApiKey, Customer, SshKey
from billing.exceptions import InsufficientFunds
from billing.money import micros_from_decimal, micros_to_cents
from billing.selectors import wallet_balance
from catalog import selectors as catalog_selectors
from catalog.exceptions import CatalogChoiceNotOffered
from catalog.models import Image, InstanceType, Region, StorageProfile
from catalog.selectors import ResolvedDeploymentSpec
from cloudportal.db import rows_update
from cloudportal.ids import new_public_id
from deployments import charging, events, reconcile_requests, selectors
from deployments.exceptions import (
    ApiKeySpendCapReached,
    DeploymentInputInvalid,
    DeploymentInsufficientBalance,
    DeploymentLimitReached,
    DeploymentStateConflict,
)
from deployments.leases import LEASE_DURATION, lease_keep, lease_stop
from deployments.models import (
    TRANSITIONS,
    WATCHED_STATUSES,
    Deployment,
    DeploymentEvent,
    DesiredState,
    Status,
    StatusChange,
)
from heat.adapter_types import StackEvent
from heat.rendering import RenderedStack, TemplateRenderError, stack_render

logger = logging.getLogger(__name__)

# An RFC 1123 label: the deployment's name is also the machine's hostname.
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# A provisioning task starts within a second; past this, the reconciler does its work. A
# task that claimed the row and died is covered by its lease lapsing (deployments.leases).
PROVISIONING_TASK_GRACE = timedelta(seconds=10)


def _stack_tags(*, customer: Customer, deployment_public_id: str) -> tuple[str, ...]:
    return (
        settings.OPENSTACK_STACK_TAG,
        f"customer:{customer.public_id}",
        f"deployment:{deployment_public_id}",
    )


def deployment_create(
    *,
    customer: Customer,
    name: str,
    region: str,
    instance_type: str,
    image: str,
    ssh_key_ids: Iterable[str],
    storage_profile: str | None = None,
    volume_size_gb: int | None = None,
    actor: Actor | None = None,
) -> Deployment:
    """Validate everything, capture the price, and queue provisioning after commit."""
    accounts_services.email_verification_require(user=customer.user)
    errors: dict[str, list[str]] = {}
    if not _NAME.fullmatch(name):
        errors["name"] = [
            "Use 1 to 63 lowercase letters, digits and hyphens, not starting or ending "
            "with a hyphen: it becomes the machine's hostname."
        ]
    wanted_keys = list(dict.fromkeys(ssh_key_ids))
    keys = list(
        accounts_selectors.ssh_key_list(customer=customer).filter(public_id__in=wanted_keys)
    )
    unknown = sorted(set(wanted_keys) - {key.public_id for key in keys})
    if unknown:
        errors["ssh_keys"] = [f"No such SSH key: {', '.join(unknown)}."]
    elif not keys:
        errors["ssh_keys"] = ["Choose at least one SSH key: it is how you log in."]
    try:
        spec = catalog_selectors.deployment_spec_resolve(
            region=region,
            instance_type=instance_type,
            image=image,
            storage_profile=storage_profile,
            size_gb=volume_size_gb,
        )
    except CatalogChoiceNotOffered as not_offered:
        if not errors:
            raise
        raise DeploymentInputInvalid(
            "Some choices are invalid.", errors={**(not_offered.errors or {}), **errors}
        ) from None
    if errors:
        raise DeploymentInputInvalid("Some choices are invalid.", errors=errors)

    public_id = new_public_id("dep")
    try:
        rendered = stack_render(
            spec.server_spec(
                name=name,
                ssh_public_keys=tuple(key.public_key for key in keys),
                tags=_stack_tags(customer=customer, deployment_public_id=public_id),
            )
        )
    except TemplateRenderError as error:
        raise DeploymentInputInvalid(str(error)) from error

    asked = {"name": name, "instance_type": spec.instance_type, "region": spec.region}
    charging.deployment_afford_check(
        customer=customer, hourly_price=spec.price.total.hourly, actor=actor, data=asked
    )
    try:
        deployment = _deployment_insert(
            customer=customer,
            public_id=public_id,
            name=name,
            spec=spec,
            keys=keys,
            rendered=rendered,
            actor=actor,
        )
    except InsufficientFunds as short:
        # Another create or start took the money since the check: refuse the same way, with
        # the balance the hold found (a second check may find it back and let this through).
        available = charging.hold_refusal_available(
            refusal=short, customer=customer, currency=spec.price.currency
        )
        raise charging.deployment_create_refusal(
            customer=customer,
            hourly_price=spec.price.total.hourly,
            available=available,
            actor=actor,
            data=asked,
        ) from None
    logger.info(
        "deployment.created",
        extra={"deployment_id": deployment.public_id, "customer_id": customer.public_id},
    )
    return deployment


def _deployment_insert(
    *,
    customer: Customer,
    public_id: str,
    name: str,
    spec: ResolvedDeploymentSpec,
    keys: Sequence[SshKey],
    rendered: RenderedStack,
    actor: Actor | None,
) -> Deployment:
    with transaction.atomic():
        _live_limit_check(customer=customer)
        api_key = _api_key_spend_cap_check(
            customer=customer,
            actor=actor,
            hourly_price=spec.price.total.hourly,
            currency=spec.price.currency,
        )
        deployment = Deployment.objects.create(
            public_id=public_id,
            customer=customer,
            created_by_key=api_key,
            name=name,
            region=Region.objects.get(slug=spec.region),
            instance_type=InstanceType.objects.get(slug=spec.instance_type),
            image=Image.objects.get(slug=spec.image),
            storage_profile=(
                StorageProfile.objects.get(slug=spec.storage_profile)
                if spec.storage_profile
                else None
            ),
            volume_size_gb=spec.volume_size_gb,
            ssh_keys=[
                {"id": key.public_id, "name": key.name, "fingerprint": key.fingerprint}
                for key in keys
            ],
            currency=spec.price.currency,
            hourly_price=spec.price.total.hourly,
            compute_hourly_price=spec.price.compute.hourly,
            storage_hourly_price=spec.price.storage.hourly,
            stack_name=public_id,
            stack_template=rendered.template_name,
            stack_parameters=rendered.parameters.as_dict(),
            stack_tags=list(rendered.tags),
            # The provisioning task runs at once; the reconciler steps in only if it is lost.
            next_check_at=timezone.now() + PROVISIONING_TASK_GRACE,
        )
        StatusChange.objects.create(
            deployment=deployment, from_status="", to_status=Status.PENDING, reason="created"
        )
        # Its first hour is reserved from now: the wallet lock makes two creates queue here.
        charging.deployment_hold_running(deployment=deployment, allow_short=False)
        accounts_services.activity_record(
            customer=customer,
            verb=ActivityVerb.DEPLOYMENT_CREATED,
            actor=actor,
            object_id=deployment.public_id,
            data={"name": name, "instance_type": spec.instance_type, "region": spec.region},
        )
        _schedule_provisioning(deployment.pk)
        events.publish_deployment_updated(deployment_id=deployment.pk)
    return deployment


def _api_key_spend_cap_check(
    *, customer: Customer, actor: Actor | None, hourly_price: Decimal, currency: str
) -> ApiKey | None:
    """The key a create comes through, once its month's spend plus an hour fits its cap.

    Runs under the customer's lock, so two creates through one key cannot both fit.
    """
    if actor is None or actor.api_key_id is None:
        return None
    api_key = ApiKey.objects.get(pk=actor.api_key_id, customer=customer)
    if api_key.monthly_spend_cap is None:
        return api_key
    spent = selectors.api_keys_month_spend([api_key])[api_key.pk]
    hour = micros_from_decimal(hourly_price)
    if spent + hour > api_key.monthly_spend_cap:
        cap_refused = ApiKeySpendCapReached(
            f"This API key has spent {micros_to_cents(spent)} {currency} this month; an hour "
            f"of this machine ({micros_to_cents(hour)} {currency}) would pass its cap of "
            f"{micros_to_cents(api_key.monthly_spend_cap)} {currency}. Raise the cap on the "
            "API keys page or use another key."
        )
        data = {"spent": spent, "hourly": hour, "cap": api_key.monthly_spend_cap}
        # The create's transaction rolls back; the refusal is recorded after it.
        cap_refused.after_rollback = lambda: accounts_services.activity_record(
            customer=customer,
            verb=ActivityVerb.API_KEY_CAP_REFUSED,
            actor=actor,
            object_id=api_key.public_id,
            data=data,
        )
        raise cap_refused
    return api_key


# The tasks below are queued after the action has committed, robustly: with the broker
# away the action stands and answers as usual (the error is logged), and the reconciler's
# cycles do the work the task would have started.
def _schedule_provisioning(deployment_id: int) -> None:
    from deployments.tasks import deployment_provision_task

    transaction.on_commit(lambda: deployment_provision_task.delay(deployment_id), robust=True)


def _schedule_stack_delete(deployment_id: int) -> None:
    from deployments.tasks import deployment_delete_stack_task

    transaction.on_commit(lambda: deployment_delete_stack_task.delay(deployment_id), robust=True)


def deployment_request_delete(*, deployment: Deployment, actor: Actor | None = None) -> Deployment:
    """Record the customer's intent; the worker deletes the stack and finishes the job."""
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if locked.status in (Status.DELETING, Status.DELETED):
            return locked  # asked twice: nothing more to do
        if locked.status == Status.ERROR:
            raise DeploymentStateConflict(
                "This deployment is waiting for our team to finish deleting it."
            )
        locked.desired_state = DesiredState.DELETED
        locked.save(update_fields=["desired_state", "updated_at"])
        updated = deployment_transition(
            deployment_id=locked.pk,
            to_status=Status.DELETING,
            reason="Deletion requested.",
            # Due at once: if the delete task is lost, the next reconciler cycle does its
            # work instead of waiting for the row's next settled check (5 minutes).
            changes={"next_check_at": timezone.now()},
        )
        accounts_services.activity_record(
            customer=locked.customer,
            verb=ActivityVerb.DEPLOYMENT_DELETED,
            actor=actor,
            object_id=locked.public_id,
            data={"name": locked.name},
        )
        _schedule_stack_delete(locked.pk)
        # And a cycle of its region at once, not at beat's next tick: it does the work if
        # the task is lost (one queued per region however many deletes come).
        reconcile_requests.region_reconcile_request(region_id=locked.region_id)
    logger.info("deployment.delete_requested", extra={"deployment_id": locked.public_id})
    return updated


def _schedule_stack_update(deployment_id: int) -> None:
    from deployments.tasks import deployment_update_stack_task

    transaction.on_commit(lambda: deployment_update_stack_task.delay(deployment_id), robust=True)


def deployment_request_stop(
    *, deployment: Deployment, actor: Actor | None = None, low_balance: bool = False
) -> Deployment:
    """Record the intent to stop: STOPPING at once (compute billing ends with this status
    change); the worker removes the server by a stack update and keeps the volumes."""
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if locked.status in (Status.STOPPING, Status.STOPPED):
            # Asked again (a client's retry): stopping or stopped already. A customer's stop
            # of what low balance stopped still counts: a top-up must not start it again.
            if locked.stopped_by_low_balance and not low_balance:
                locked.stopped_by_low_balance = False
                locked.save(update_fields=["stopped_by_low_balance", "updated_at"])
            return locked
        if locked.status != Status.ACTIVE:
            raise DeploymentStateConflict(
                f"It is {_status_label(locked.status)}; only a running deployment can be stopped."
            )
        if "system_volume_size" not in locked.stack_parameters:
            # Its stack boots from the image: removing the server would lose the system disk.
            raise DeploymentStateConflict(
                "This machine was launched before machines could be stopped: stopping it "
                "would lose its system disk. Keep it running or delete it."
            )
        locked.desired_state = DesiredState.STOPPED
        locked.stopped_by_low_balance = low_balance
        locked.save(update_fields=["desired_state", "stopped_by_low_balance", "updated_at"])
        updated = deployment_transition(
            deployment_id=locked.pk,
            to_status=Status.STOPPING,
            reason=(
                "Stopping: your balance ran out. The disks are kept."
                if low_balance
                else "Stopping. The disks are kept."
            ),
            changes={"next_check_at": timezone.now()},
        )
        # Compute ends now: the hold shrinks to an hour of the disks it keeps.
        charging.deployment_hold_stopped(deployment=locked)
        accounts_services.activity_record(
            customer=locked.customer,
            verb=(
                ActivityVerb.DEPLOYMENT_STOPPED_LOW_BALANCE
                if low_balance
                else ActivityVerb.DEPLOYMENT_STOPPED
            ),
            actor=actor,
            object_id=locked.public_id,
            data={"name": locked.name},
        )
        _schedule_stack_update(locked.pk)
    logger.info("deployment.stop_requested", extra={"deployment_id": locked.public_id})
    return updated


def _dollars(micros: int) -> str:
    return f"${micros_to_cents(micros)}"


def _start_afford_check(*, deployment: Deployment) -> None:
    """A start needs available >= one hour of the machine's price (the create rule); the
    machine's own storage hold counts as spent, so this is the whole hour on top of it."""
    available = wallet_balance(customer=deployment.customer, currency=deployment.currency).available
    if available < micros_from_decimal(deployment.hourly_price):
        raise _start_refusal(deployment=deployment, available=available)


def _start_refusal(*, deployment: Deployment, available: int) -> DeploymentInsufficientBalance:
    required = micros_from_decimal(deployment.hourly_price)
    return DeploymentInsufficientBalance(
        f"Starting {deployment.name} needs {_dollars(required)} available (one hour); "
        f"you have {_dollars(available)}. Top up "
        f"{_dollars(required - available)} or more to start it.",
        required=required,
        available=available,
        top_up_url=charging.top_up_url(),
    )


def _live_limit_check(*, customer: Customer) -> None:
    """Refuse one more running machine past the limit. Locks the customer (call it inside
    the transaction that adds it) so two creates or starts at once cannot both pass."""
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
    limit = settings.DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER
    if selectors.deployment_live_count(customer=customer) >= limit:
        raise DeploymentLimitReached(
            f"You can have {limit} running deployments at once. Delete or stop one first, "
            "or contact support to raise the limit."
        )


def deployment_request_start(
    *, deployment: Deployment, actor: Actor | None = None, low_balance: bool = False
) -> Deployment:
    """Record the intent to start a stopped machine: STARTING at once; the worker boots a
    new server from the kept system volume. Compute billing resumes only when it is ACTIVE."""
    with transaction.atomic():
        locked = (
            Deployment.objects.select_for_update().select_related("customer").get(pk=deployment.pk)
        )
        if locked.status in (Status.STARTING, Status.ACTIVE):
            return locked  # asked again (a client's retry): starting or running already
        if locked.status != Status.STOPPED:
            raise DeploymentStateConflict(
                f"It is {_status_label(locked.status)}; only a stopped deployment can be started."
            )
        _live_limit_check(customer=locked.customer)
        _start_afford_check(deployment=locked)
        try:
            # The hold grows back from an hour of storage to the whole hour.
            charging.deployment_hold_running(deployment=locked, allow_short=False)
        except InsufficientFunds as short:
            # Another start or create took the money since the check: refuse the same way,
            # with the balance the hold found (a fresh look may find it back already).
            available = charging.hold_refusal_available(
                refusal=short, customer=locked.customer, currency=locked.currency
            )
            raise _start_refusal(deployment=locked, available=available) from None
        locked.desired_state = DesiredState.ACTIVE
        locked.stopped_by_low_balance = False
        locked.save(update_fields=["desired_state", "stopped_by_low_balance", "updated_at"])
        updated = deployment_transition(
            deployment_id=locked.pk,
            to_status=Status.STARTING,
            reason="Starting from the kept disks.",
            changes={"next_check_at": timezone.now()},
        )
        accounts_services.activity_record(
            customer=locked.customer,
            verb=ActivityVerb.DEPLOYMENT_STARTED,
            actor=actor,
            object_id=locked.public_id,
            data={"name": locked.name, **({"low_balance": True} if low_balance else {})},
        )
        _schedule_stack_update(locked.pk)
    logger.info("deployment.start_requested", extra={"deployment_id": locked.public_id})
    return updated


@dataclass(frozen=True)
class DeploymentChange:
    """What a worker decided for one deployment: a move, observed fields, new Heat events.

    `expected_from` guards a worker's move against a concurrent one (e.g. a delete request
    that arrived while the worker was talking to the cloud): a refused move changes nothing
    but `if_refused`. Values in `changes` are plain values (not expressions).
    """

    deployment_id: int
    to_status: str | None = None
    reason: str = ""
    detail: str | None = None
    expected_from: frozenset[str] | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)
    if_refused: Mapping[str, Any] = field(default_factory=dict)
    heat_events: Sequence[StackEvent] = ()


@dataclass
class AppliedChanges:
    deployments: dict[int, Deployment]
    refused: dict[int, str]  # deployment id → why its move was refused
    new_events: int = 0


_HOLD_RELEASING_STATUSES = frozenset({Status.DELETING, Status.FAILED})
# Fields a customer sees change without a state transition: publish them too.
_VISIBLE_FIELDS = frozenset({"progress_complete", "progress_total", "heat_status", "outputs"})


def deployment_transition(
    *,
    deployment_id: int,
    to_status: str,
    reason: str = "",
    detail: str | None = None,
    expected_from: Iterable[str] | None = None,
    changes: Mapping[str, Any] | None = None,
) -> Deployment:
    """The one way a deployment changes state: checked, recorded and published after commit.

    Raises DeploymentStateConflict, changing nothing, when the move is not allowed.
    """
    change = DeploymentChange(
        deployment_id=deployment_id,
        to_status=to_status,
        reason=reason,
        detail=detail,
        expected_from=frozenset(expected_from) if expected_from is not None else None,
        changes=changes or {},
    )
    applied = deployments_apply([change])
    if deployment_id not in applied.deployments:
        raise Deployment.DoesNotExist(f"No deployment {deployment_id}.")
    if deployment_id in applied.refused:
        raise DeploymentStateConflict(applied.refused[deployment_id])
    return applied.deployments[deployment_id]


def deployments_apply(
    changes: Sequence[DeploymentChange], *, release: tuple[str, Iterable[int]] | None = None
) -> AppliedChanges:
    """Write many deployments' changes in one transaction with a constant number of queries.

    Each deployment is locked, each move checked against TRANSITIONS (a refused one is
    reported, not raised), every move appended to StatusChange, new Heat events stored once
    by id, and everything published after commit. `release=(owner, ids)` also releases
    that worker's leases on those deployments, in the same transaction. Changes apply in
    order; a deployment may have several.
    """
    ids = {change.deployment_id for change in changes}
    if not ids:
        if release is not None:
            deployments_release(deployment_ids=release[1], owner=release[0])
        return AppliedChanges(deployments={}, refused={})
    with transaction.atomic():
        rows = {
            deployment.pk: deployment
            for deployment in Deployment.objects.select_for_update().filter(pk__in=ids)
        }
        now = timezone.now()
        fields: set[str] = set()
        refused: dict[int, str] = {}
        status_changes: list[StatusChange] = []
        moves: list[tuple[Deployment, str, str]] = []
        published: set[int] = set()
        events_by_deployment: dict[int, list[StackEvent]] = {}
        for change in changes:
            deployment = rows.get(change.deployment_id)
            if deployment is None:
                continue
            updates = dict(change.changes)
            if change.to_status is not None:
                problem = _move_problem(deployment.status, change)
                if problem:
                    refused[deployment.pk] = problem
                    updates = dict(change.if_refused)
                else:
                    current = deployment.status
                    updates.update(_move_fields(change, now))
                    status_changes.append(
                        StatusChange(
                            deployment=deployment,
                            from_status=current,
                            to_status=change.to_status,
                            reason=change.reason[:500],
                            created_at=now,
                        )
                    )
                    moves.append((deployment, current, change.to_status))
                    published.add(deployment.pk)
            if change.heat_events:
                events_by_deployment.setdefault(deployment.pk, []).extend(change.heat_events)
                updates["events_marker"] = change.heat_events[-1].id
            for name, value in updates.items():
                setattr(deployment, name, value)
            fields.update(updates)
            if updates.keys() & _VISIBLE_FIELDS:
                published.add(deployment.pk)
        if fields:
            touched = [rows[pk] for pk in ids if pk in rows]
            for deployment in touched:
                deployment.updated_at = now
            rows_update(touched, sorted(fields | {"updated_at"}))
        StatusChange.objects.bulk_create(status_changes)
        # A deployment deleted or failed no longer runs: its next hour is not reserved.
        charging.deployment_holds_release(
            public_ids=[
                deployment.public_id
                for deployment, _, to_status in moves
                if to_status in _HOLD_RELEASING_STATUSES
            ]
        )
        # A start the cloud could not serve is stopped again: back to an hour of its disks.
        for deployment, current, to_status in moves:
            if current == Status.STARTING and to_status == Status.STOPPED:
                charging.deployment_hold_stopped(deployment=deployment)
        new_events = _events_store(events_by_deployment, now)
        if release is not None:
            deployments_release(deployment_ids=release[1], owner=release[0])
        events.publish_deployments_changed(updated_ids=published, new_events=new_events)
    for deployment, current, to_status in moves:
        logger.info(
            "deployment.transition",
            extra={"deployment_id": deployment.public_id, "from": current, "to": to_status},
        )
    return AppliedChanges(deployments=rows, refused=refused, new_events=len(new_events))


def _status_label(status: str) -> str:
    """What people read (staff messages, API details): "Error", never `Status.ERROR`."""
    return str(Status(status).label)


def _move_problem(current: str, change: DeploymentChange) -> str | None:
    if change.expected_from is not None and current not in change.expected_from:
        expected = " or ".join(sorted(_status_label(status) for status in change.expected_from))
        return f"It is {_status_label(current)}; this applies only to {expected} deployments."
    assert change.to_status is not None
    if change.to_status not in TRANSITIONS[current]:
        return (
            f"A deployment that is {_status_label(current)} cannot become "
            f"{_status_label(change.to_status)}."
        )
    return None


def _move_fields(change: DeploymentChange, now: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": change.to_status,
        "status_changed_at": now,
        "status_reason": change.reason[:500],
    }
    if change.detail is not None:
        fields["status_detail"] = change.detail
    if change.to_status == Status.ACTIVE:
        fields["activated_at"] = now
    if change.to_status == Status.DELETED:
        fields["deleted_at"] = now
    # The caller's own changes win (they are applied after these).
    return {**fields, **change.changes}


def deployment_update(*, deployment_id: int, **changes: Any) -> None:
    """Record what was observed without a state change (progress, Heat status…)."""
    if changes:
        deployments_apply([DeploymentChange(deployment_id=deployment_id, changes=changes)])


# --- Leases: one worker acts on a deployment at a time --------------------------------


def new_lease_owner() -> str:
    return uuid.uuid4().hex


def deployments_claim(
    *, condition: Q, owner: str, limit: int = 500, now: datetime | None = None
) -> list[int]:
    """Lease the deployments matching `condition` that nobody else holds; returns their ids.

    A short transaction with SKIP LOCKED: concurrent workers divide the rows between them.
    The lease is renewed while the worker lives (`deployments.leases`), so a dead worker's
    lapses within seconds; `deployments_release` ends it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Deployment.objects.filter(condition)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .select_for_update(skip_locked=True)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Deployment.objects.filter(id__in=ids).update(
                lease_owner=owner, lease_expires_at=now + LEASE_DURATION
            )
    if ids:
        lease_keep(owner=owner)
    return ids


def deployments_release(*, deployment_ids: Iterable[int], owner: str) -> None:
    lease_stop(owner=owner)
    Deployment.objects.filter(id__in=list(deployment_ids), lease_owner=owner).update(
        lease_owner="", lease_expires_at=None
    )


# --- Heat events ----------------------------------------------------------------------


def _events_store(
    events_by_deployment: Mapping[int, Sequence[StackEvent]], now: datetime
) -> list[DeploymentEvent]:
    """One read of the ids already stored and one bulk insert, whatever the batch size."""
    batches = {
        deployment_id: {event.id: event for event in heat_events}
        for deployment_id, heat_events in events_by_deployment.items()
        if heat_events
    }
    if not batches:
        return []
    known = set(
        DeploymentEvent.objects.filter(
            deployment_id__in=batches.keys(),
            heat_event_id__in={event_id for batch in batches.values() for event_id in batch},
        ).values_list("deployment_id", "heat_event_id")
    )
    new_events = [
        DeploymentEvent(
            deployment_id=deployment_id,
            heat_event_id=event.id,
            occurred_at=event.time or now,
            resource_name=event.resource_name[:255],
            resource_status=event.resource_status[:64],
            reason=event.reason,
        )
        for deployment_id, batch in batches.items()
        for event in batch.values()
        if (deployment_id, event.id) not in known
    ]
    DeploymentEvent.objects.bulk_create(new_events, ignore_conflicts=True)
    return new_events


# --- Staff actions (admin) ------------------------------------------------------------


def deployment_resync(*, deployment_id: int, reconcile_now: bool = True) -> Deployment:
    """Make the reconciler look at the deployment on its next cycle (or at once).

    Clears a lease that has expired, never a live one: a worker may be acting right now.
    """
    now = timezone.now()
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
        if deployment.status not in WATCHED_STATUSES:
            raise DeploymentStateConflict(
                f"It is {_status_label(deployment.status)}: the reconciler no longer watches it."
            )
        fields = ["next_check_at", "updated_at"]
        deployment.next_check_at = now
        if deployment.lease_expires_at is not None and deployment.lease_expires_at <= now:
            deployment.lease_owner = ""
            deployment.lease_expires_at = None
            fields += ["lease_owner", "lease_expires_at"]
        deployment.save(update_fields=fields)
        if reconcile_now:
            reconcile_requests.region_reconcile_request(region_id=deployment.region_id)
    logger.info(
        "deployment.resync_requested",
        extra={"deployment_id": deployment.public_id, "reconcile_now": reconcile_now},
    )
    return deployment


def deployment_retry_delete(*, deployment_id: int) -> Deployment:
    """ERROR → DELETING with a fresh attempt budget; the worker deletes the stack again."""
    with transaction.atomic():
        deployment = deployment_transition(
            deployment_id=deployment_id,
            to_status=Status.DELETING,
            reason="Deletion retried by our team.",
            expected_from={Status.ERROR},
            changes={
                "desired_state": DesiredState.DELETED,
                "delete_attempts": 0,
                "next_check_at": timezone.now(),
            },
        )
        _schedule_stack_delete(deployment.pk)
    logger.info("deployment.delete_retried", extra={"deployment_id": deployment.public_id})
    return deployment


def deployment_mark_resolved(*, deployment_id: int) -> Deployment:
    """ERROR → DELETED once staff have confirmed the cloud resources are gone."""
    deployment = deployment_transition(
        deployment_id=deployment_id,
        to_status=Status.DELETED,
        reason="Deleted: our team confirmed the cloud resources are gone.",
        expected_from={Status.ERROR},
        changes={"desired_state": DesiredState.DELETED},
    )
    logger.info("deployment.marked_resolved", extra={"deployment_id": deployment.public_id})
    return deployment
