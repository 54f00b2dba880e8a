"""Converting between Decimal money and the ledger's integer micro-units.

The rounding rule is catalog/pricing.py's, the only one: half up to micro-units, once, at
the end of a computation. Pages show cents, rounded by the same rule.
"""

from decimal import ROUND_HALF_UP, Decimal

from billing.models import MICROS_PER_UNIT
from catalog.pricing import price_quantize

CENT = Decimal("0.01")


def micros_from_decimal(amount: Decimal) -> int:
    """`Decimal("2.3100004")` → 2_310_000 (half up at the sixth decimal)."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"Money is a Decimal, not {type(amount).__name__}.")
    return int(price_quantize(amount) * MICROS_PER_UNIT)


def micros_to_decimal(micros: int) -> Decimal:
    """2_310_000 → `Decimal("2.310000")`: the API's representation (as catalog prices)."""
    return (Decimal(micros) / MICROS_PER_UNIT).quantize(Decimal("0.000001"))


def micros_to_cents(micros: int) -> Decimal:
    """2_314_999 → `Decimal("2.31")`; 2_315_000 → `Decimal("2.32")` (half up, away from 0)."""
    return (Decimal(micros) / MICROS_PER_UNIT).quantize(CENT, rounding=ROUND_HALF_UP)


def usd_text(micros: int | None) -> str:
    """12_345_678 → "$12.35"; -1_500_000 → "-$1.50" (with a typographic minus sign; cents,
    half up): how pages, charts and the staff console write an amount."""
    cents = micros_to_cents(int(micros or 0))
    sign = "\N{MINUS SIGN}" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def cents_usd_text(cents: int | None) -> str:
    """A payment's cents (top-ups count as the card network does): 5000 → "$50.00"."""
    return usd_text(int(cents or 0) * 10_000)
