"""Reads of deployments: the customer's (scoped to them, joined for the API) and the worker's."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import ApiKey, Customer
from billing import selectors as billing_selectors
from deployments.models import LIVE_STATUSES, TRANSITIONS, Deployment, DeploymentEvent, Status


def _customer_deployments(*, customer: Customer) -> QuerySet[Deployment]:
    return (
        Deployment.objects.filter(customer=customer)
        .select_related("region", "instance_type", "image", "storage_profile")
        .order_by("-created_at")
    )


def deployment_list(
    *,
    customer: Customer,
    status: str | None = None,
    region: str | None = None,
    include_deleted: bool = False,
) -> QuerySet[Deployment]:
    """Newest first. Deleted ones only when asked for (or when the status filter names them):
    they are history, and would otherwise crowd out the machines that exist."""
    deployments = _customer_deployments(customer=customer)
    if status:
        deployments = deployments.filter(status=status.upper())
    elif not include_deleted:
        deployments = deployments.exclude(status=Status.DELETED)
    if region:
        deployments = deployments.filter(region__slug=region)
    return deployments


def deployment_get(*, customer: Customer, public_id: str) -> Deployment:
    """Another customer's deployment is indistinguishable from a missing one: 404."""
    return get_object_or_404(_customer_deployments(customer=customer), public_id=public_id)


def deployment_live_count(*, customer: Customer) -> int:
    return Deployment.objects.filter(customer=customer, status__in=LIVE_STATUSES).count()


@dataclass(frozen=True)
class LiveUsage:
    """How many deployments count against the customer's limit ("3 of 5 running")."""

    running: int
    limit: int

    @property
    def is_full(self) -> bool:
        return self.running >= self.limit


def deployment_live_usage(*, customer: Customer) -> LiveUsage:
    return LiveUsage(
        running=deployment_live_count(customer=customer),
        limit=settings.DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER,
    )


def deployment_event_list(*, deployment: Deployment) -> QuerySet[DeploymentEvent]:
    return DeploymentEvent.objects.filter(deployment=deployment).order_by("occurred_at", "id")


def deployment_deletable_statuses() -> list[str]:
    """Where the customer may still ask for a delete (an ERROR one waits for staff)."""
    return [
        status
        for status in Status.values
        if status != Status.ERROR and Status.DELETING in TRANSITIONS[status]
    ]


def deployment_can_request_delete(*, deployment: Deployment) -> bool:
    return deployment.status in deployment_deletable_statuses()


def deployments_created_resources(*, deployment_ids: list[int]) -> dict[int, frozenset[str]]:
    """For each deployment, the resources its stored Heat events show as created: with the
    events of a progress check, they count the progress (one query for a whole cycle)."""
    created: dict[int, set[str]] = {}
    for deployment_id, resource_name in (
        DeploymentEvent.objects.filter(
            deployment_id__in=deployment_ids, resource_status="CREATE_COMPLETE"
        )
        .values_list("deployment_id", "resource_name")
        .distinct()
    ):
        created.setdefault(deployment_id, set()).add(resource_name)
    return {deployment_id: frozenset(names) for deployment_id, names in created.items()}


def month_start(now: datetime | None = None) -> datetime:
    """The start of the current UTC month, where spend caps start again."""
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def api_keys_month_spend(api_keys: Sequence[ApiKey]) -> dict[int, int]:
    """Micro-units charged this UTC month for the deployments each key created."""
    spend = {api_key.pk: 0 for api_key in api_keys}
    customers = {api_key.customer_id: api_key.customer for api_key in api_keys}
    for customer in customers.values():
        key_of = dict(
            Deployment.objects.filter(
                customer=customer, created_by_key__in=list(api_keys)
            ).values_list("public_id", "created_by_key_id")
        )
        if not key_of:
            continue
        amounts = billing_selectors.usage_amount_by_subject(
            customer=customer, subjects=list(key_of), since=month_start()
        )
        for subject, amount in amounts.items():
            spend[key_of[subject]] += amount
    return spend
