"""Every write to deployments: create, delete request, the one transition, leases, events.

The worker side (provisioning, the reconciler, deleting stacks) is in `reconciler.py`.
"""

import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import selectors as accounts_selectors
from accounts import services as accounts_services
from accounts.models import Customer
from catalog import selectors as catalog_selectors
from catalog.exceptions import CatalogChoiceNotOffered
from catalog.models import Image, InstanceType, Region, StorageProfile
from cloudportal.ids import new_public_id
from deployments import events, selectors
from deployments.exceptions import (
    DeploymentInputInvalid,
    DeploymentLimitReached,
    DeploymentStateConflict,
)
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
from heat.rendering import TemplateRenderError, stack_render

logger = logging.getLogger(__name__)

# An RFC 1123 label: the deployment's name is also the machine's hostname.
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
LEASE_DURATION = timedelta(minutes=2)
PROVISIONING_TASK_GRACE = timedelta(seconds=30)


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

    with transaction.atomic():
        # Lock the customer so two concurrent creates cannot both pass the limit.
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        limit = settings.DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER
        if selectors.deployment_live_count(customer=customer) >= limit:
            raise DeploymentLimitReached(
                f"You can have {limit} running deployments at once. Delete one first, "
                "or contact support to raise the limit."
            )
        deployment = Deployment.objects.create(
            public_id=public_id,
            customer=customer,
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
        _schedule_provisioning(deployment.pk)
        events.publish_deployment_updated(deployment_id=deployment.pk)
    logger.info(
        "deployment.created",
        extra={"deployment_id": deployment.public_id, "customer_id": customer.public_id},
    )
    return deployment


def _schedule_provisioning(deployment_id: int) -> None:
    from deployments.tasks import deployment_provision_task

    transaction.on_commit(lambda: deployment_provision_task.delay(deployment_id))


def _schedule_stack_delete(deployment_id: int) -> None:
    from deployments.tasks import deployment_delete_stack_task

    transaction.on_commit(lambda: deployment_delete_stack_task.delay(deployment_id))


def deployment_request_delete(*, deployment: Deployment) -> Deployment:
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
            deployment_id=locked.pk, to_status=Status.DELETING, reason="Deletion requested."
        )
        _schedule_stack_delete(locked.pk)
    logger.info("deployment.delete_requested", extra={"deployment_id": locked.public_id})
    return updated


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

    `expected_from` guards a worker's move against a concurrent one (e.g. a delete request
    that arrived while the worker was talking to the cloud): the move is refused with
    DeploymentStateConflict and nothing changes.
    """
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
        current = deployment.status
        if expected_from is not None and current not in set(expected_from):
            raise DeploymentStateConflict(f"Expected {sorted(expected_from)}, found {current}.")
        if to_status not in TRANSITIONS[current]:
            raise DeploymentStateConflict(f"A {current} deployment cannot become {to_status}.")
        now = timezone.now()
        fields = {"status", "status_changed_at", "status_reason", "updated_at"}
        deployment.status = to_status
        deployment.status_changed_at = now
        deployment.status_reason = reason[:500]
        if detail is not None:
            deployment.status_detail = detail
            fields.add("status_detail")
        if to_status == Status.ACTIVE:
            deployment.activated_at = now
            fields.add("activated_at")
        if to_status == Status.DELETED:
            deployment.deleted_at = now
            fields.add("deleted_at")
        for field, value in (changes or {}).items():
            setattr(deployment, field, value)
            fields.add(field)
        deployment.save(update_fields=sorted(fields))
        StatusChange.objects.create(
            deployment=deployment,
            from_status=current,
            to_status=to_status,
            reason=reason[:500],
            created_at=now,
        )
        events.publish_deployment_updated(deployment_id=deployment.pk)
    logger.info(
        "deployment.transition",
        extra={"deployment_id": deployment.public_id, "from": current, "to": to_status},
    )
    return deployment


def deployment_update(*, deployment_id: int, **changes: Any) -> None:
    """Record what the worker observed without a state change (progress, Heat status…)."""
    if not changes:
        return
    with transaction.atomic():
        Deployment.objects.filter(pk=deployment_id).update(**changes, updated_at=timezone.now())
        if changes.keys() & {"progress_complete", "progress_total", "heat_status", "outputs"}:
            events.publish_deployment_updated(deployment_id=deployment_id)


# --- Leases: one worker acts on a deployment at a time --------------------------------


def new_lease_owner() -> str:
    return uuid.uuid4().hex


def deployments_claim(
    *, condition: Q, owner: str, limit: int = 500, now: datetime | None = None
) -> list[int]:
    """Lease the deployments matching `condition` that nobody else holds; returns their ids.

    A short transaction with SKIP LOCKED: concurrent workers divide the rows between them,
    and a dead worker's lease simply expires.
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
    return ids


def deployments_release(*, deployment_ids: Iterable[int], owner: str) -> None:
    Deployment.objects.filter(id__in=list(deployment_ids), lease_owner=owner).update(
        lease_owner="", lease_expires_at=None
    )


# --- Heat events ----------------------------------------------------------------------


def deployment_events_record(*, deployment_id: int, heat_events: Iterable[StackEvent]) -> int:
    """Store new Heat events once each (by Heat's id); returns how many were new.

    Heat repeats events when a marker is unknown (purged), so duplicates are expected: one
    read of the ids already stored and one bulk insert, whatever the batch size.
    """
    heat_events = list({event.id: event for event in heat_events}.values())
    if not heat_events:
        return 0
    known = set(
        DeploymentEvent.objects.filter(
            deployment_id=deployment_id, heat_event_id__in=[event.id for event in heat_events]
        ).values_list("heat_event_id", flat=True)
    )
    new_events = [
        DeploymentEvent(
            deployment_id=deployment_id,
            heat_event_id=event.id,
            occurred_at=event.time or timezone.now(),
            resource_name=event.resource_name[:255],
            resource_status=event.resource_status[:64],
            reason=event.reason,
        )
        for event in heat_events
        if event.id not in known
    ]
    with transaction.atomic():
        DeploymentEvent.objects.bulk_create(new_events, ignore_conflicts=True)
        Deployment.objects.filter(pk=deployment_id).update(events_marker=heat_events[-1].id)
        events.publish_deployment_events(deployment_id=deployment_id, new_events=new_events)
    return len(new_events)


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
                f"A {deployment.status} deployment is not watched by the reconciler."
            )
        fields = ["next_check_at", "updated_at"]
        deployment.next_check_at = now
        if deployment.lease_expires_at is not None and deployment.lease_expires_at <= now:
            deployment.lease_owner = ""
            deployment.lease_expires_at = None
            fields += ["lease_owner", "lease_expires_at"]
        deployment.save(update_fields=fields)
        if reconcile_now:
            _schedule_reconcile()
    logger.info(
        "deployment.resync_requested",
        extra={"deployment_id": deployment.public_id, "reconcile_now": reconcile_now},
    )
    return deployment


def _schedule_reconcile() -> None:
    from deployments.tasks import deployments_reconcile_task

    # One extra cycle over every region: leases keep it from colliding with beat's.
    transaction.on_commit(lambda: deployments_reconcile_task.delay())


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
