"""The ledger's own guards in PostgreSQL: nothing bypasses them, not even raw SQL."""

import pytest
from django.db import IntegrityError, connection, transaction

from billing.models import LedgerEntry, LedgerTransaction
from tests.billing.conftest import top_up


@pytest.fixture
def posted(customer):
    return top_up(customer, 4_000_000)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE billing_ledgerentry SET amount = amount + 1",
        "UPDATE billing_ledgerentry SET balance_after = 0",
        "DELETE FROM billing_ledgerentry",
        "UPDATE billing_ledgertransaction SET memo = 'edited'",
        "DELETE FROM billing_ledgertransaction",
    ],
)
def test_updating_or_deleting_ledger_rows_is_refused(posted, sql):
    with (
        pytest.raises(IntegrityError, match="The ledger is append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)

    assert sorted(LedgerEntry.objects.values_list("amount", "balance_after")) == [
        (-4_000_000, -4_000_000),
        (4_000_000, 4_000_000),
    ]
    assert LedgerTransaction.objects.get().memo == "Card top-up"


@pytest.mark.parametrize("table", ["billing_ledgerentry", "billing_ledgertransaction"])
def test_truncating_the_ledger_is_refused(posted, table):
    with connection.cursor() as cursor:
        # Run the posting's deferred balance checks now: TRUNCATE waits for none.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL billing.allow_truncate = 'off'")
    with (
        pytest.raises(IntegrityError, match=f"TRUNCATE on {table} is refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"TRUNCATE {table} CASCADE")

    assert LedgerEntry.objects.count() == 2


def test_an_unbalanced_transaction_inserted_by_hand_is_refused_at_commit(posted):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_ledgerentry "
            "(transaction_id, account_id, amount, currency, account_seq, balance_after, "
            "created_at) SELECT transaction_id, account_id, 1, currency, 2, "
            "balance_after + 1, now() FROM billing_ledgerentry WHERE amount > 0"
        )
        # The check is deferred to commit; the test's own transaction never commits.
        with pytest.raises(IntegrityError, match="does not balance: 3 entries summing to 1"):
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        transaction.set_rollback(True)

    assert LedgerEntry.objects.count() == 2
