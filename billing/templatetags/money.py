"""`{{ micros|usd }}`: ledger micro-units as dollars and cents for pages."""

from decimal import Decimal

from django import template

from billing.money import micros_to_cents

register = template.Library()


@register.filter
def usd(micros: int | None) -> str:
    """12_345_678 → "$12.35"; -1_500_000 → "-$1.50" (with a typographic minus sign;
    cents, half up, as billing.money)."""
    cents = micros_to_cents(int(micros or 0))
    sign = "\N{MINUS SIGN}" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


@register.filter
def rate(value: Decimal | None) -> str:
    """A price per unit-hour without trailing zeros past the cents: 2.500000 → "2.50",
    0.000139 → "0.000139"."""
    if value is None:
        return ""
    text = f"{Decimal(value):f}"
    if "." in text:
        whole, fraction = text.split(".")
        fraction = fraction.rstrip("0").ljust(2, "0")
        text = f"{whole}.{fraction}"
    return text


@register.filter
def cents_usd(cents: int | None) -> str:
    """A payment's cents (top-ups count as the card network does): 5000 → "$50.00"."""
    return usd(int(cents or 0) * 10_000)
