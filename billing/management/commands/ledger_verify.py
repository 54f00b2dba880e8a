"""`manage.py ledger_verify`: prove the ledger's invariants; exits 1 naming what is wrong."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from billing import selectors


class Command(BaseCommand):
    help = (
        "Check that every account's entries sum to its cached balance with an unbroken "
        "balance-after chain, held amounts match active holds, every transaction balances, "
        "and all accounts of a currency sum to zero."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = selectors.ledger_verify()
        for problem in report.problems:
            self.stderr.write(f"MISMATCH {problem}")
        summary = (
            f"{report.accounts} accounts, {report.transactions} transactions, "
            f"{report.entries} entries checked"
        )
        if report.problems:
            raise CommandError(f"{len(report.problems)} problems; {summary}")
        self.stdout.write(f"Ledger OK: {summary}, 0 mismatches.")
