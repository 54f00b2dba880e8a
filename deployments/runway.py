"""What a customer's machines cost per hour, for billing's runway (`billing.runway`).

Compute costs while a machine runs or is on its way to running; storage costs while its
volumes exist, stopped included. Prices are the ones captured at create.
"""

from collections.abc import Collection
from decimal import Decimal

from django.db.models import Q, Sum

from accounts.models import Customer
from billing.money import micros_from_decimal
from deployments.models import Deployment, Status

# Statuses whose whole hourly price (compute and storage) is owed from now on.
RUNNING_STATUSES = frozenset({Status.PENDING, Status.PROVISIONING, Status.ACTIVE, Status.STARTING})
# Statuses that keep their disks but no server: only storage is owed.
KEPT_STATUSES = frozenset({Status.STOPPING, Status.STOPPED})


def customers_hourly_cost(customer_ids: Collection[int]) -> dict[int, int]:
    """`customer_hourly_cost` of many customers in one query (metering's runway pushes)."""
    rows = (
        Deployment.objects.filter(
            customer_id__in=list(customer_ids), status__in=RUNNING_STATUSES | KEPT_STATUSES
        )
        .values("customer_id")
        .annotate(
            running=Sum("hourly_price", filter=Q(status__in=RUNNING_STATUSES)),
            kept=Sum("storage_hourly_price", filter=Q(status__in=KEPT_STATUSES)),
        )
    )
    return {
        row["customer_id"]: micros_from_decimal(
            (row["running"] or Decimal(0)) + (row["kept"] or Decimal(0))
        )
        for row in rows
    }


def customer_hourly_cost(customer: Customer) -> int:
    """What everything the customer runs and keeps costs per hour, in micro-units."""
    deployments = Deployment.objects.filter(customer=customer)
    running = deployments.filter(status__in=RUNNING_STATUSES).aggregate(total=Sum("hourly_price"))
    kept = deployments.filter(status__in=KEPT_STATUSES).aggregate(total=Sum("storage_hourly_price"))
    return micros_from_decimal((running["total"] or Decimal(0)) + (kept["total"] or Decimal(0)))
