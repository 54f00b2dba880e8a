"""A usage charge debits the wallet once per (subject, component, window)."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from billing import selectors, services
from billing.models import LedgerTransaction, SystemAccount, UsageCharge
from tests.billing.conftest import ledger_assert_verified

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


def usage_line(
    customer, *, subject="dep_01BULK", component="compute", amount=41_667, window=WINDOW
):
    return services.UsageLine(
        customer_id=customer.pk,
        customer_public_id=customer.public_id,
        subject=subject,
        label="trainer",
        component=component,
        window_start=window,
        seconds=60,
        rate=Decimal("2.50"),
        amount=amount,
    )


def test_many_charges_post_one_transaction_per_customer_and_window(
    customer, other_customer, ledger_verified
):
    later = WINDOW.replace(minute=2)
    lines = [
        usage_line(customer, subject="dep_A"),
        usage_line(customer, subject="dep_A", component="storage", amount=500),
        usage_line(customer, subject="dep_B", amount=0),
        usage_line(customer, subject="dep_A", window=later),
        usage_line(other_customer, subject="dep_C"),
    ]
    posted = services.usage_charges_post_many(lines=lines)
    assert (posted.charges, posted.postings) == (5, 3)
    assert posted.customer_ids == {customer.pk, other_customer.pk}
    assert selectors.wallet_balance(customer=customer).posted == -(41_667 * 2 + 500)
    assert selectors.system_account_balance(account=SystemAccount.REVENUE_STORAGE) == 500
    first = UsageCharge.objects.get(subject="dep_A", component="compute", window_start=WINDOW)
    assert first.transaction.idempotency_key == (
        f"usage:{customer.public_id}:{int(WINDOW.timestamp())}"
    )
    assert UsageCharge.objects.get(subject="dep_B").transaction is None

    again = services.usage_charges_post_many(lines=lines)
    assert (again.charges, again.postings) == (0, 0)
    assert LedgerTransaction.objects.count() == 3


def test_a_window_partly_charged_one_by_one_posts_only_the_rest(customer, ledger_verified):
    charge(customer)  # dep_01TEST's compute for WINDOW, posted on its own
    posted = services.usage_charges_post_many(
        lines=[usage_line(customer, subject="dep_01TEST"), usage_line(customer, subject="dep_X")]
    )
    assert (posted.charges, posted.postings) == (1, 1)
    assert selectors.wallet_balance(customer=customer).posted == -2 * 41_667


@pytest.mark.django_db(transaction=True)
def test_many_charges_posted_by_two_processes_at_once_debit_once(customer):
    lines = [usage_line(customer, subject=f"dep_{n}") for n in range(50)]
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            services.usage_charges_post_many(lines=lines)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert UsageCharge.objects.count() == 50
    assert selectors.wallet_balance(customer=customer).posted == -50 * 41_667
    ledger_assert_verified()
