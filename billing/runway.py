"""How long a customer's money lasts: available balance ÷ what they run and keep, per hour.

Billing knows money, not machines: the app that owns machines (deployments) registers
the function that prices a customer's running and kept machines per hour, in its
AppConfig.ready. Until one is registered, nothing costs anything.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from accounts.models import Customer
from billing.models import DEFAULT_CURRENCY, AccountKind, LedgerAccount
from billing.money import micros_to_decimal
from billing.selectors import WalletBalance, wallet_balance

HourlyCost = Callable[[Customer], int]
# The same for many customers at once: {customer id: micro-units per hour}.
HourlyCosts = Callable[[Collection[int]], Mapping[int, int]]

_providers: list[HourlyCost] = []
_bulk_providers: list[HourlyCosts] = []


def hourly_cost_provider_register(provider: HourlyCost, *, bulk: HourlyCosts | None = None) -> None:
    """`provider(customer)` answers micro-units per hour, `bulk(customer_ids)` the same for
    many customers in one go (metering pushes runways to a thousand customers a minute);
    registering twice changes nothing."""
    if provider not in _providers:
        _providers.append(provider)
    if bulk is not None and bulk not in _bulk_providers:
        _bulk_providers.append(bulk)


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


def balance_document(*, balance: WalletBalance, hourly_cost: int) -> dict[str, str | None]:
    """The balance as the API and the WebSocket (`balance.updated`) show it: decimal strings."""
    runway = Runway(available=balance.available, hourly_cost=hourly_cost)
    return {
        "currency": balance.currency,
        "posted": str(micros_to_decimal(balance.posted)),
        "held": str(micros_to_decimal(balance.held)),
        "available": str(micros_to_decimal(balance.available)),
        "hourly_cost": str(micros_to_decimal(hourly_cost)),
        "runway_hours": None if runway.hours is None else str(runway.hours),
    }


def balance_documents(
    *, customer_ids: Collection[int], currency: str = DEFAULT_CURRENCY
) -> dict[int, dict[str, str | None]]:
    """`balance_document` of many customers with a constant number of queries."""
    costs: dict[int, int] = dict.fromkeys(customer_ids, 0)
    for bulk in _bulk_providers:
        for customer_id, cost in bulk(customer_ids).items():
            costs[customer_id] += cost
    balances = {
        customer_id: WalletBalance(currency=currency, posted=posted, held=held)
        for customer_id, posted, held in LedgerAccount.objects.filter(
            customer_id__in=list(customer_ids), kind=AccountKind.WALLET, currency=currency
        ).values_list("customer_id", "posted_balance", "held_amount")
    }
    return {
        customer_id: balance_document(
            balance=balances.get(customer_id, WalletBalance(currency=currency, posted=0, held=0)),
            hourly_cost=costs[customer_id],
        )
        for customer_id in customer_ids
    }
