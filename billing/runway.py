"""How long a customer's money lasts: available balance ÷ what they run and keep, per hour.

Billing knows money, not machines: the app that owns machines (deployments) registers
the function that prices a customer's running and kept machines per hour, in its
AppConfig.ready. Until one is registered, nothing costs anything.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from accounts.models import Customer
from billing.models import DEFAULT_CURRENCY
from billing.selectors import wallet_balance

HourlyCost = Callable[[Customer], int]

_providers: list[HourlyCost] = []


def hourly_cost_provider_register(provider: HourlyCost) -> None:
    """`provider(customer)` answers micro-units per hour; registering twice changes nothing."""
    if provider not in _providers:
        _providers.append(provider)


def customer_hourly_cost(*, customer: Customer) -> int:
    return sum(provider(customer) for provider in _providers)


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


def wallet_runway(*, customer: Customer, currency: str = DEFAULT_CURRENCY) -> Runway:
    balance = wallet_balance(customer=customer, currency=currency)
    return Runway(available=balance.available, hourly_cost=customer_hourly_cost(customer=customer))
