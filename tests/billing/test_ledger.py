from decimal import Decimal

import pytest

from billing import selectors, services
from billing.exceptions import InsufficientFunds, LedgerKeyReused, LedgerTransactionInvalid
from billing.models import (
    SYSTEM_ACCOUNT_SHARDS,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    SystemAccount,
)
from billing.money import micros_from_decimal, micros_to_cents, micros_to_decimal
from billing.services import Line
from tests.billing.conftest import top_up, use

pytestmark = pytest.mark.usefixtures("ledger_verified")


def test_a_customer_without_a_wallet_reads_zero_and_gets_none_made(customer):
    balance = selectors.wallet_balance(customer=customer)

    assert (balance.currency, balance.posted, balance.held, balance.available) == ("USD", 0, 0, 0)
    assert not LedgerAccount.objects.exists()


def test_a_top_up_creates_the_wallet_and_credits_it(customer):
    txn = top_up(customer, 25_000_000)

    assert txn.public_id.startswith("txn_")
    assert selectors.wallet_balance(customer=customer).posted == 25_000_000
    entries = {
        entry.account.code: (entry.amount, entry.account_seq, entry.balance_after)
        for entry in LedgerEntry.objects.filter(transaction=txn).select_related("account")
    }
    assert entries == {
        f"wallet:{customer.public_id}": (25_000_000, 1, 25_000_000),
        "clearing:stripe_card": (-25_000_000, 1, -25_000_000),
    }
    wallet = LedgerAccount.objects.get(customer=customer)
    assert (wallet.kind, wallet.posted_balance, wallet.entry_seq) == ("wallet", 25_000_000, 1)


def test_each_entry_records_the_balance_after_it(customer):
    top_up(customer, 10_000_000)
    use(customer, 1_500_000, key="usage:1")
    use(customer, 2_000_000, key="usage:2")

    chain = list(
        LedgerEntry.objects.filter(account__customer=customer)
        .order_by("account_seq")
        .values_list("account_seq", "amount", "balance_after")
    )
    assert chain == [
        (1, 10_000_000, 10_000_000),
        (2, -1_500_000, 8_500_000),
        (3, -2_000_000, 6_500_000),
    ]
    assert selectors.system_account_balance(account=SystemAccount.REVENUE_COMPUTE) == 3_500_000


def test_posting_a_key_again_returns_the_first_transaction_and_posts_nothing(customer):
    first = top_up(customer, 5_000_000, key="stripe:pi:pi_123")
    again = top_up(customer, 5_000_000, key="stripe:pi:pi_123")

    assert again.pk == first.pk
    assert again.public_id == first.public_id
    assert LedgerTransaction.objects.count() == 1
    assert LedgerEntry.objects.count() == 2
    assert selectors.wallet_balance(customer=customer).posted == 5_000_000


def test_a_key_reused_with_other_amounts_is_refused(customer):
    top_up(customer, 5_000_000, key="stripe:pi:pi_123")

    with pytest.raises(LedgerKeyReused) as raised:
        top_up(customer, 6_000_000, key="stripe:pi:pi_123")

    assert raised.value.code == "ledger_key_reused"
    assert selectors.wallet_balance(customer=customer).posted == 5_000_000
    assert LedgerEntry.objects.count() == 2


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [("wallet", 1_000_000), ("clearing", -999_999)],
            "The lines sum to 1, not zero: unbalanced.",
        ),
        ([("wallet", 1_000_000)], "A transaction has at least two lines."),
        (
            [("wallet", 0), ("clearing", 0)],
            "wallet:{cus}: the amount must be a non-zero integer of micro-units.",
        ),
        (
            [("wallet", Decimal("1.5")), ("clearing", Decimal("-1.5"))],
            "wallet:{cus}: the amount must be a non-zero integer of micro-units.",
        ),
        (
            [("wallet", 1.0), ("clearing", -1.0)],
            "wallet:{cus}: the amount must be a non-zero integer of micro-units.",
        ),
    ],
)
def test_an_invalid_transaction_is_refused_and_nothing_is_written(customer, lines, message):
    built = [
        Line.wallet(customer, amount)
        if name == "wallet"
        else Line.system(SystemAccount.CLEARING_STRIPE_CARD, amount)
        for name, amount in lines
    ]

    with pytest.raises(LedgerTransactionInvalid) as raised:
        services.ledger_post(key="k", kind="topup", memo="", lines=built)

    assert raised.value.code == "ledger_transaction_invalid"
    assert message.format(cus=customer.public_id) in raised.value.detail
    assert not LedgerTransaction.objects.exists()
    assert not LedgerAccount.objects.exists()


def test_an_unknown_account_or_currency_is_refused(customer):
    with pytest.raises(LedgerTransactionInvalid, match="not an account of the chart"):
        services.ledger_post(
            key="k",
            kind="topup",
            memo="",
            lines=[Line(code="bank:vault", amount=-1), Line.wallet(customer, 1)],
        )
    top_up_lines = [Line.wallet(customer, 1), Line.system(SystemAccount.CLEARING_STRIPE_CARD, -1)]
    with pytest.raises(LedgerTransactionInvalid, match="Unknown currency 'EUR'"):
        services.ledger_post(key="k", kind="topup", memo="", lines=top_up_lines, currency="EUR")

    assert not LedgerTransaction.objects.exists()


def test_a_refund_cannot_overdraw_the_wallet(customer):
    top_up(customer, 3_000_000)

    with pytest.raises(InsufficientFunds) as raised:
        services.ledger_post(
            key="refund:1",
            kind="refund",
            memo="Refund to card",
            lines=[
                Line.wallet(customer, -3_000_001),
                Line.system(SystemAccount.REFUNDS, 3_000_001),
            ],
        )

    assert (raised.value.code, raised.value.status, raised.value.shortfall) == (
        "insufficient_funds",
        402,
        1,
    )
    assert selectors.wallet_balance(customer=customer).posted == 3_000_000
    assert not LedgerTransaction.objects.filter(idempotency_key="refund:1").exists()
    assert LedgerAccount.objects.get(customer=customer).entry_seq == 1


def test_a_refund_cannot_spend_money_on_hold(customer):
    top_up(customer, 3_000_000)
    services.hold_place(customer=customer, key="hold:1", amount=1_000_000)

    with pytest.raises(InsufficientFunds) as raised:
        services.ledger_post(
            key="refund:1",
            kind="refund",
            memo="Refund to card",
            lines=[
                Line.wallet(customer, -2_500_000),
                Line.system(SystemAccount.REFUNDS, 2_500_000),
            ],
        )

    assert raised.value.shortfall == 500_000
    services.ledger_post(
        key="refund:2",
        kind="refund",
        memo="Refund to card",
        lines=[Line.wallet(customer, -2_000_000), Line.system(SystemAccount.REFUNDS, 2_000_000)],
    )
    balance = selectors.wallet_balance(customer=customer)
    assert (balance.posted, balance.held, balance.available) == (1_000_000, 1_000_000, 0)


def test_consumed_usage_is_always_posted_even_below_zero(customer):
    top_up(customer, 1_000_000)

    use(customer, 1_250_000, key="usage:dep_1:w1")

    balance = selectors.wallet_balance(customer=customer)
    assert (balance.posted, balance.available) == (-250_000, -250_000)


def test_a_wallet_on_two_lines_is_checked_on_what_the_transaction_takes_from_it_in_all(
    customer, other_customer
):
    top_up(customer, 1_000_000)
    refund = SystemAccount.REFUNDS

    # Alone, the -3 would overdraw it; with the +2.5 on the same wallet it takes 0.5 in all.
    services.ledger_post(
        key="refund:net-covered",
        kind="refund",
        memo="",
        lines=[
            Line.wallet(customer, -3_000_000),
            Line.wallet(customer, 2_500_000),
            Line.system(refund, 500_000),
        ],
    )
    assert selectors.wallet_balance(customer=customer).posted == 500_000

    # In all it takes 1.0 of the 0.5 left, whichever order the lines come in.
    with pytest.raises(InsufficientFunds) as raised:
        services.ledger_post(
            key="refund:net-short",
            kind="refund",
            memo="",
            lines=[
                Line.system(refund, 1_000_000),
                Line.wallet(customer, 2_000_000),
                Line.wallet(customer, -3_000_000),
                Line.wallet(other_customer, 4_000_000),
                Line.wallet(other_customer, -4_000_000),
            ],
        )
    assert raised.value.shortfall == 500_000
    assert not LedgerTransaction.objects.filter(idempotency_key="refund:net-short").exists()
    assert selectors.wallet_balance(customer=customer).posted == 500_000


def test_the_posting_call_is_parsed_and_planned_once_per_connection(customer):
    """A posting is one call of a prepared statement: the server parses and plans it once
    per connection, not at every posting (psycopg prepared nothing under Django's
    connection settings, so it was parsed and planned each time)."""
    from django.db import connection

    def executions() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), coalesce(sum(generic_plans + custom_plans), 0) "
                "FROM pg_prepared_statements WHERE statement LIKE '%billing_ledger_post(%'"
            )
            return cursor.fetchone()

    _, before = executions()
    top_up(customer, 1_000_000, key="prepared:1")
    use(customer, 250_000, key="prepared:2")
    use(customer, 250_000, key="prepared:3")

    statements, after = executions()
    assert (statements, after - before) == (1, 3)
    assert selectors.wallet_balance(customer=customer).posted == 500_000


def test_a_dispute_the_bank_took_is_posted_below_zero(customer):
    services.ledger_post(
        key="stripe:dp:dp_1",
        kind="dispute",
        memo="Chargeback",
        lines=[Line.wallet(customer, -700_000), Line.system(SystemAccount.DISPUTES, 700_000)],
    )

    assert selectors.wallet_balance(customer=customer).posted == -700_000


def test_a_wallet_credit_is_never_refused_even_when_negative(customer):
    use(customer, 2_000_000, key="usage:1")

    top_up(customer, 500_000)

    assert selectors.wallet_balance(customer=customer).posted == -1_500_000


def test_wallets_of_two_customers_are_separate(customer, other_customer):
    top_up(customer, 1_000_000)
    top_up(other_customer, 2_000_000)

    assert selectors.wallet_balance(customer=customer).posted == 1_000_000
    assert selectors.wallet_balance(customer=other_customer).posted == 2_000_000
    assert (
        selectors.system_account_balance(account=SystemAccount.CLEARING_STRIPE_CARD) == -3_000_000
    )


def test_a_system_account_is_spread_over_shards_that_sum_to_its_balance(customer):
    for n in range(40):
        top_up(customer, 1_000_000, key=f"stripe:pi:pi_{n}")

    shards = LedgerAccount.objects.filter(code="clearing:stripe_card")
    assert 1 < shards.count() <= SYSTEM_ACCOUNT_SHARDS
    assert sorted(shards.values_list("shard", flat=True)) == sorted(
        set(shards.values_list("shard", flat=True))
    )
    assert (
        selectors.system_account_balance(account=SystemAccount.CLEARING_STRIPE_CARD) == -40_000_000
    )
    assert LedgerAccount.objects.get(customer=customer).entry_seq == 40


def test_reading_a_balance_is_one_query(customer, django_assert_num_queries):
    top_up(customer, 1_000_000)

    with django_assert_num_queries(1):
        selectors.wallet_balance(customer=customer)


def test_money_is_rounded_half_up_to_micro_units_as_catalog_prices_are():
    assert micros_from_decimal(Decimal("2.3100004")) == 2_310_000
    assert micros_from_decimal(Decimal("2.3100005")) == 2_310_001
    assert micros_from_decimal(Decimal("-0.0000005")) == -1
    assert micros_to_decimal(2_310_000) == Decimal("2.310000")
    assert micros_to_cents(2_314_999) == Decimal("2.31")
    assert micros_to_cents(2_315_000) == Decimal("2.32")
    with pytest.raises(TypeError):
        micros_from_decimal(2.31)  # type: ignore[arg-type]
