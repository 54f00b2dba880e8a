"""A usage charge debits the wallet once per (subject, component, window)."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from billing import selectors, services
from billing.models import LedgerTransaction, SystemAccount, UsageCharge

WINDOW = datetime(2026, 11, 30, 12, 1, tzinfo=UTC)


def charge(customer, *, amount=41_667, window=WINDOW, component="compute"):
    return services.usage_charge_post(
        customer=customer,
        subject="dep_01TEST",
        label="trainer",
        component=component,
        window_start=window,
        seconds=60,
        rate=Decimal("2.50"),
        amount=amount,
    )


def test_a_rerun_charges_nothing_twice(customer, ledger_verified):
    first = charge(customer)
    again = charge(customer)
    assert again.pk == first.pk
    assert UsageCharge.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="usage").count() == 1
    assert selectors.wallet_balance(customer=customer).posted == -41_667
    assert selectors.system_account_balance(account=SystemAccount.REVENUE_COMPUTE) == 41_667


def test_storage_goes_to_storage_revenue_and_zero_posts_nothing(customer, ledger_verified):
    charge(customer, component="storage", amount=1_000)
    charge(customer, component="compute", amount=0)
    assert selectors.system_account_balance(account=SystemAccount.REVENUE_STORAGE) == 1_000
    assert LedgerTransaction.objects.count() == 1
    assert UsageCharge.objects.get(component="compute").transaction is None


@pytest.mark.django_db(transaction=True)
def test_two_processes_at_once_charge_once(customer):
    errors = []

    def run():
        try:
            charge(customer)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert UsageCharge.objects.count() == 1
    assert selectors.wallet_balance(customer=customer).posted == -41_667


def test_a_posting_tells_listeners_after_commit(customer, django_capture_on_commit_callbacks):
    from billing.signals import wallet_changed

    heard = []

    def receiver(**kwargs):
        heard.append((kwargs["customer_id"], kwargs["currency"]))

    wallet_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            charge(customer)
            assert heard == []
        assert heard == [(customer.pk, "USD")]
    finally:
        wallet_changed.disconnect(receiver)
