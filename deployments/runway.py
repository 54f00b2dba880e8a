"""How long a customer's money lasts: available balance ÷ the hourly cost of what they keep.

Compute costs while a machine runs or is on its way to running; storage costs while its
volumes exist, stopped included. Prices are the ones captured at create.
"""

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from django.db.models import Sum

from accounts.models import Customer
from billing import selectors as billing_selectors
from billing.money import micros_from_decimal
from deployments.models import Deployment, Status

# Statuses whose whole hourly price (compute and storage) is owed from now on.
RUNNING_STATUSES = frozenset({Status.PENDING, Status.PROVISIONING, Status.ACTIVE, Status.STARTING})
# Statuses that keep their disks but no server: only storage is owed.
KEPT_STATUSES = frozenset({Status.STOPPING, Status.STOPPED})


@dataclass(frozen=True)
class Runway:
    """Micro-units; `hours` is None when nothing costs money (an endless runway)."""

    available: int
    hourly_cost: int

    @property
    def hours(self) -> Decimal | None:
        if self.hourly_cost <= 0:
            return None
        hours = Decimal(max(self.available, 0)) / Decimal(self.hourly_cost)
        return hours.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def customer_hourly_cost(*, customer: Customer) -> int:
    """What everything the customer runs and keeps costs per hour, in micro-units."""
    deployments = Deployment.objects.filter(customer=customer)
    running = deployments.filter(status__in=RUNNING_STATUSES).aggregate(total=Sum("hourly_price"))
    kept = deployments.filter(status__in=KEPT_STATUSES).aggregate(total=Sum("storage_hourly_price"))
    return micros_from_decimal((running["total"] or Decimal(0)) + (kept["total"] or Decimal(0)))


def customer_runway(*, customer: Customer) -> Runway:
    balance = billing_selectors.wallet_balance(customer=customer)
    return Runway(available=balance.available, hourly_cost=customer_hourly_cost(customer=customer))
