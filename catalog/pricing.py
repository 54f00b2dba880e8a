"""The one place catalog prices are converted and rounded.

Rule: a month is 730 hours (8,760 hours a year / 12). A per-month price becomes an hourly
price by dividing by 730; an hourly price becomes a monthly estimate by multiplying by
730. Every computed figure is rounded half-up to micro-units (6 decimal places, 1 USD =
1,000,000), the ledger's unit, once, at the end of the computation. Prices are
`Decimal` from the database to the API; floats never touch them.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CURRENCY = "USD"
HOURS_PER_MONTH = Decimal(730)
HOURS_PER_MONTH_INT = int(HOURS_PER_MONTH)  # as the API states it
MICRO = Decimal("0.000001")


def price_quantize(amount: Decimal) -> Decimal:
    """Round a computed price to micro-units, half up."""
    return amount.quantize(MICRO, rounding=ROUND_HALF_UP)


def price_monthly_to_hourly(monthly: Decimal) -> Decimal:
    return price_quantize(monthly / HOURS_PER_MONTH)


def price_hourly_to_monthly(hourly: Decimal) -> Decimal:
    return price_quantize(hourly * HOURS_PER_MONTH)


@dataclass(frozen=True)
class PriceLine:
    hourly: Decimal
    monthly: Decimal


@dataclass(frozen=True)
class PriceQuote:
    """What a configuration costs: compute + storage, per hour and per (730-hour) month.

    Storage is the system disk (every machine has one) plus the data volume, if any:
    `system_disk_gb` and `data_volume_gb` (0 without one) say what it is made of.
    """

    currency: str
    compute: PriceLine
    storage: PriceLine
    total: PriceLine
    system_disk_gb: int
    data_volume_gb: int


def price_quote(
    *,
    instance_hourly_price: Decimal,
    system_disk_gb: int,
    system_disk_price_per_gb_month: Decimal,
    price_per_gb_month: Decimal | None,
    size_gb: int,
) -> PriceQuote:
    """Price a configuration: the instance type, the system disk and the data volume.

    Storage per month = system disk GB x its price + data volume GB x the profile's price
    (`price_per_gb_month` is None and `size_gb` 0 without a data volume), rounded once.
    """
    compute = PriceLine(
        hourly=price_quantize(instance_hourly_price),
        monthly=price_hourly_to_monthly(instance_hourly_price),
    )
    storage_monthly = (
        system_disk_price_per_gb_month * system_disk_gb
        + (price_per_gb_month or Decimal(0)) * size_gb
    )
    storage = PriceLine(
        hourly=price_monthly_to_hourly(storage_monthly),
        monthly=price_quantize(storage_monthly),
    )
    total = PriceLine(
        hourly=compute.hourly + storage.hourly, monthly=compute.monthly + storage.monthly
    )
    return PriceQuote(
        currency=CURRENCY,
        compute=compute,
        storage=storage,
        total=total,
        system_disk_gb=system_disk_gb,
        data_volume_gb=size_gb,
    )
