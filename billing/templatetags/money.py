"""`{{ micros|usd }}`: ledger micro-units as dollars and cents for pages."""

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
def cents_usd(cents: int | None) -> str:
    """A payment's cents (top-ups count as the card network does): 5000 → "$50.00"."""
    return usd(int(cents or 0) * 10_000)
