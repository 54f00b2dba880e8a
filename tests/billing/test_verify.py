import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from billing import services
from billing.models import LedgerAccount
from tests.billing.conftest import top_up, use


@pytest.fixture
def ledger(customer):
    top_up(customer, 9_000_000)
    use(customer, 1_000_000, key="usage:1")
    services.hold_place(customer=customer, key="hold:1", amount=500_000)
    return customer


def test_a_clean_ledger_verifies(ledger, capsys):
    call_command("ledger_verify")

    assert capsys.readouterr().out == (
        "Ledger OK: 3 accounts, 2 transactions, 4 entries checked, 0 mismatches.\n"
    )


def test_a_tampered_cached_balance_is_named_and_fails_the_command(ledger, capsys):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_ledgeraccount SET posted_balance = posted_balance + 5 "
            "WHERE customer_id = %s",
            [ledger.pk],
        )

    with pytest.raises(CommandError, match="2 problems; 3 accounts, 2 transactions, 4 entries"):
        call_command("ledger_verify")

    assert capsys.readouterr().err.splitlines() == [
        f"MISMATCH wallet:{ledger.public_id} (USD): cached balance 8000005 but its entries "
        "sum to 8000000; entry_seq 2 but 2 entries",
        "MISMATCH all USD accounts: cached balances sum to 5, not zero",
    ]


def test_a_tampered_held_amount_is_named(ledger, capsys):
    LedgerAccount.objects.filter(customer=ledger).update(held_amount=0)

    with pytest.raises(CommandError, match="1 problems"):
        call_command("ledger_verify")

    assert capsys.readouterr().err == (
        f"MISMATCH wallet:{ledger.public_id} (USD): held 0 but its active holds sum to 500000\n"
    )


def test_the_command_exits_non_zero_on_a_problem(ledger):
    LedgerAccount.objects.filter(code="revenue:compute").update(posted_balance=0)

    with pytest.raises(CommandError) as raised:
        call_command("ledger_verify")

    assert raised.value.returncode == 1


def test_the_nightly_task_logs_the_result(ledger, caplog):
    from billing.tasks import ledger_verify_task

    assert ledger_verify_task() == 0
    LedgerAccount.objects.filter(code="revenue:compute").update(posted_balance=0)
    assert ledger_verify_task() == 2

    assert [(r.levelname, r.getMessage()) for r in caplog.records if "ledger.verif" in r.msg] == [
        ("INFO", "ledger.verified"),
        ("ERROR", "ledger.verify_failed"),
    ]
