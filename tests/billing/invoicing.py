"""A month of usage, refunds, adjustments and top-ups, posted through the billing services
at the times they would happen (the ledger stamps postings with the clock)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import time_machine
from django.db import transaction

from accounts.activity import Actor
from billing import invoices, services
from billing.models import SystemAccount, TransactionKind
from billing.services import Line
from tests.billing.conftest import top_up

NOVEMBER = date(2026, 11, 1)
OCTOBER = date(2026, 10, 1)
# The invoice run: the 1st of December, after midnight UTC.
ISSUE_TIME = datetime(2026, 12, 1, 2, 15, tzinfo=UTC)
COMPUTE_RATE = Decimal("2.50")  # per machine-hour
STORAGE_RATE = Decimal("0.000139")  # per GB-hour
COMPUTE_WINDOW = 41_667  # 60 s of one machine at $2.50/h
STORAGE_WINDOW = 232  # 60 s of 100 GB at $0.000139/GB-h


def at(year, month, day, hour=0, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def usage(customer, *, subject, label, component, window, amount, quantity=Decimal(1)):
    """Meter one 60 s window, posted when metering would (30 s after it ends)."""
    rate = COMPUTE_RATE if component == "compute" else STORAGE_RATE
    with time_machine.travel(window + timedelta(seconds=90), tick=False):
        return services.usage_charge_post(
            customer=customer,
            subject=subject,
            label=label,
            component=component,
            window_start=window,
            seconds=60,
            rate=rate,
            amount=amount,
            quantity=quantity,
        )


def run(customer, *, subject, label, start, minutes, compute=True):
    """A deployment's windows: compute (while running) and its 100 GB volume."""
    for minute in range(minutes):
        window = start + timedelta(minutes=minute)
        if compute:
            usage(
                customer,
                subject=subject,
                label=label,
                component="compute",
                window=window,
                amount=COMPUTE_WINDOW,
            )
        usage(
            customer,
            subject=subject,
            label=label,
            component="storage",
            window=window,
            amount=STORAGE_WINDOW,
            quantity=Decimal(100),
        )


def refund(customer, micros, *, when, key):
    with time_machine.travel(when, tick=False):
        return services.ledger_post(
            key=key,
            kind=TransactionKind.REFUND,
            memo="Refund to card",
            lines=[Line.wallet(customer, -micros), Line.system(SystemAccount.REFUNDS, micros)],
        )


def paid(customer, micros, *, when, key, brand="visa", last4="4242", receipt=True):
    """A card top-up as the top-up service posts it (kind TOPUP, `stripe:pi:<id>`) with its
    receipt; `receipt=False`: credited before receipts came with the credit."""
    with time_machine.travel(when, tick=False), transaction.atomic():
        txn = services.ledger_post(
            key=f"stripe:pi:{key}",
            kind=TransactionKind.TOPUP,
            memo="Card top-up",
            lines=[
                Line.wallet(customer, micros),
                Line.system(SystemAccount.CLEARING_STRIPE_CARD, -micros),
            ],
            metadata={
                "topup": f"top_{key}",
                "provider": "stripe",
                "payment_intent": key,
                "card_brand": brand,
                "card_last4": last4,
            },
        )
        if receipt:
            invoices.receipt_issue(txn=txn)
        return txn


def november(customer, *, staff=None, suffix=""):
    """October's top-up and one deployment's start, then November:

    - trainer (dep_A) runs from Oct 31 23:58 to Nov 1 00:02, across the month's start;
    - render (dep_B) runs 3 minutes on Nov 10, is stopped (2 storage-only minutes), started
      again for 2 minutes and deleted;
    - nightly (dep_C) starts Nov 30 23:59 and runs into December;
    - a refund on Nov 15, a staff credit on Nov 20, a top-up on Nov 25.

    Deployment ids end in `suffix` (another customer's deployments have other ids).
    """
    with time_machine.travel(at(2026, 10, 30, 10), tick=False):
        top_up(customer, 100_000_000, key=f"test:topup:{customer.public_id}:october")
    run(
        customer,
        subject="dep_A" + suffix,
        label="trainer",
        start=at(2026, 10, 31, 23, 58),
        minutes=4,
    )
    run(customer, subject="dep_B" + suffix, label="render", start=at(2026, 11, 10, 12), minutes=3)
    run(
        customer,
        subject="dep_B" + suffix,
        label="render",
        start=at(2026, 11, 10, 12, 3),
        minutes=2,
        compute=False,
    )
    run(
        customer, subject="dep_B" + suffix, label="render", start=at(2026, 11, 10, 12, 5), minutes=2
    )
    run(
        customer,
        subject="dep_C" + suffix,
        label="nightly",
        start=at(2026, 11, 30, 23, 59),
        minutes=2,
    )
    refund(customer, 5_000_000, when=at(2026, 11, 15, 9), key=f"refund:{customer.public_id}")
    with time_machine.travel(at(2026, 11, 20, 9), tick=False):
        services.wallet_adjust(
            customer=customer,
            amount=2_000_000,
            reason="Goodwill for the outage",
            actor=Actor.staff(staff) if staff else Actor.system(),
            key=f"adjust:{customer.public_id}",
        )
    paid(customer, 20_000_000, when=at(2026, 11, 25, 9), key=f"pi_{customer.pk}")
