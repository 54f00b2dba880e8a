"""`{{ micros|usd }}`: ledger micro-units as dollars and cents for pages."""

from decimal import Decimal

from django import template

from billing.money import cents_usd_text, usd_text

register = template.Library()


@register.filter
def usd(micros: int | None) -> str:
    """12_345_678 → "$12.35" (billing.money.usd_text)."""
    return usd_text(micros)


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
    """5000 cents → "$50.00" (billing.money.cents_usd_text)."""
    return cents_usd_text(cents)
