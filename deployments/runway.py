"""What a customer's machines cost per hour, for billing's runway (`billing.runway`).

Compute costs while a machine runs or is on its way to running; storage costs while its
volumes exist, stopped included. Prices are the ones captured at create.
"""

from decimal import Decimal

from django.db.models import Sum

from accounts.models import Customer
from billing.money import micros_from_decimal
from deployments.models import Deployment, Status

# Statuses whose whole hourly price (compute and storage) is owed from now on.
RUNNING_STATUSES = frozenset({Status.PENDING, Status.PROVISIONING, Status.ACTIVE, Status.STARTING})
# Statuses that keep their disks but no server: only storage is owed.
KEPT_STATUSES = frozenset({Status.STOPPING, Status.STOPPED})


def customer_hourly_cost(customer: Customer) -> int:
    """What everything the customer runs and keeps costs per hour, in micro-units."""
    deployments = Deployment.objects.filter(customer=customer)
    running = deployments.filter(status__in=RUNNING_STATUSES).aggregate(total=Sum("hourly_price"))
    kept = deployments.filter(status__in=KEPT_STATUSES).aggregate(total=Sum("storage_hourly_price"))
    return micros_from_decimal((running["total"] or Decimal(0)) + (kept["total"] or Decimal(0)))
