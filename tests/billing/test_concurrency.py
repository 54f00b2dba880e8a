"""Real concurrent connections to PostgreSQL: each thread has its own, started together."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from billing import selectors, services
from billing.exceptions import InsufficientFunds
from billing.models import LedgerAccount, LedgerEntry, LedgerTransaction, SystemAccount
from billing.services import Line
from tests.accounts.factories import UserFactory
from tests.billing.conftest import ledger_assert_verified, top_up, use

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 8


def run_together(work, count=WRITERS):
    """Run `work(i)` in `count` threads released at the same instant; returns results or
    the exceptions they raised, in order."""
    barrier = threading.Barrier(count)

    def one(i):
        try:
            barrier.wait()
            return work(i)
        except Exception as error:
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_the_same_key_posted_by_eight_threads_at_once_posts_one_transaction():
    customer = UserFactory().customer

    results = run_together(lambda i: top_up(customer, 7_000_000, key="stripe:pi:pi_race"))

    assert all(not isinstance(result, Exception) for result in results), results
    assert {result.public_id for result in results} == {results[0].public_id}
    assert LedgerTransaction.objects.count() == 1
    assert LedgerEntry.objects.count() == 2
    assert selectors.wallet_balance(customer=customer).posted == 7_000_000
    ledger_assert_verified()


def test_eight_writers_on_one_wallet_lose_no_update():
    customer = UserFactory().customer
    rounds = 15

    def writer(i):
        for n in range(rounds):
            top_up(customer, 3_000_000, key=f"topup:{i}:{n}")
            use(customer, 1_000_001, key=f"usage:{i}:{n}")

    results = run_together(writer)

    assert results == [None] * WRITERS
    wallet = LedgerAccount.objects.get(customer=customer)
    assert wallet.posted_balance == WRITERS * rounds * (3_000_000 - 1_000_001)
    assert wallet.entry_seq == WRITERS * rounds * 2
    assert LedgerTransaction.objects.count() == WRITERS * rounds * 2
    ledger_assert_verified()


def test_transfers_both_ways_between_two_wallets_do_not_deadlock():
    first, second = UserFactory().customer, UserFactory().customer
    top_up(first, 50_000_000)
    top_up(second, 50_000_000)

    def writer(i):
        payer, payee = (first, second) if i % 2 else (second, first)
        for n in range(10):
            services.ledger_post(
                key=f"move:{i}:{n}",
                kind="adjustment",
                memo="move",
                # The payer's leg first in one direction, the payee's in the other.
                lines=[Line.wallet(payer, -1_000_000), Line.wallet(payee, 1_000_000)],
            )

    results = run_together(writer)

    assert results == [None] * WRITERS
    assert selectors.wallet_balance(customer=first).posted == 50_000_000
    assert selectors.wallet_balance(customer=second).posted == 50_000_000
    ledger_assert_verified()


def test_refunds_racing_on_one_wallet_never_overdraw_it():
    customer = UserFactory().customer
    top_up(customer, 3_000_000)

    def refund(i):
        return services.ledger_post(
            key=f"refund:{i}",
            kind="refund",
            memo="Refund to card",
            lines=[
                Line.wallet(customer, -1_000_000),
                Line.system(SystemAccount.REFUNDS, 1_000_000),
            ],
        )

    results = run_together(refund)

    refused = [result for result in results if isinstance(result, InsufficientFunds)]
    assert len(refused) == WRITERS - 3
    assert len([r for r in results if isinstance(r, LedgerTransaction)]) == 3
    assert selectors.wallet_balance(customer=customer).posted == 0
    ledger_assert_verified()


def test_holds_racing_on_one_wallet_reserve_no_more_than_it_has():
    customer = UserFactory().customer
    top_up(customer, 3_000_000)

    results = run_together(
        lambda i: services.hold_place(customer=customer, key=f"hold:{i}", amount=1_000_000)
    )

    assert len([r for r in results if isinstance(r, InsufficientFunds)]) == WRITERS - 3
    balance = selectors.wallet_balance(customer=customer)
    assert (balance.posted, balance.held, balance.available) == (3_000_000, 3_000_000, 0)
    ledger_assert_verified()
