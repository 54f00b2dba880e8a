"""The invoice run on a month of minute-by-minute usage: finding who is due, building one
customer's month, issuing everyone's.

    DJANGO_DEBUG=true .venv/bin/python bench/invoices.py [--customers 50] [--deployments 2]

Defaults: DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_bench_invoices (created if
missing, migrated; its customers, usage charges and invoices are replaced: never point it
at a database you care about), REDIS_URL=redis://127.0.0.1:6379/10.

Seeds `--customers` customers, each with `--deployments` deployments that ran all of
November 2026: a compute and a storage charge per minute (43,200 windows each), written
straight to the table with generate_series (the postings are the ledger bench's business;
the wallet rows exist so the run can find the customers). Then, with the clock on
December 1st, prints rows, seconds and queries for `invoices_due` (one index probe per
wallet and month, 12 months), `invoice_build` of one customer, and `invoices_issue_due`
(every customer; the emails are queued after commit and not sent here).
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cp_bench_invoices")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudportal.settings")

SEED_SQL = """
INSERT INTO billing_usagecharge
    (customer_id, subject, label, component, window_start, seconds, quantity, rate, amount,
     currency, created_at)
SELECT %(customer)s, %(subject)s, %(label)s, component.name,
       timestamptz '2026-11-01 00:00+00' + make_interval(mins => minute), 60,
       component.quantity, component.rate, component.amount, 'USD', now()
  FROM generate_series(0, 43199) AS minute,
       (VALUES ('compute', 1, 2.5, 41667), ('storage', 100, 0.000139, 232))
           AS component(name, quantity, rate, amount)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--deployments", type=int, default=2)
    args = parser.parse_args()

    subprocess.run([sys.executable, str(ROOT / "bin" / "ensure-database")], check=True)
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)
    from datetime import UTC, date, datetime

    import time_machine
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Customer, User
    from billing import invoices
    from billing.models import AccountKind, LedgerAccount, UsageCharge, wallet_code

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SET billing.allow_truncate = 'on'")
        cursor.execute(
            "TRUNCATE billing_invoiceline, billing_creditnote, billing_invoice, "
            "billing_documentcounter, billing_usagecharge, billing_receipt, "
            "billing_ledgerentry, billing_hold, billing_ledgertransaction, "
            "billing_ledgeraccount, billing_billingdetails, accounts_activityentry CASCADE"
        )
    User.objects.filter(email__endswith="@bench.invalid").delete()

    started = time.perf_counter()
    customers = []
    for index in range(args.customers):
        user = User.objects.create_user(f"c{index}@bench.invalid", "x")
        customer = Customer.objects.get(user=user)
        customers.append(customer)
        LedgerAccount.objects.create(
            code=wallet_code(customer.public_id),
            kind=AccountKind.WALLET,
            customer=customer,
        )
        with transaction.atomic(), connection.cursor() as cursor:
            for deployment in range(args.deployments):
                cursor.execute(
                    SEED_SQL,
                    {
                        "customer": customer.pk,
                        "subject": f"dep_{index}_{deployment}",
                        "label": f"trainer-{deployment}",
                    },
                )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE billing_usagecharge")
    rows = UsageCharge.objects.count()
    print(
        f"seeded {rows:,} usage charges for {args.customers} customers in "
        f"{time.perf_counter() - started:.1f} s"
    )

    def measure(label, function):
        with (
            time_machine.travel(datetime(2026, 12, 1, 2, 15, tzinfo=UTC), tick=False),
            CaptureQueriesContext(connection) as queries,
        ):
            began = time.perf_counter()
            result = function()
            seconds = time.perf_counter() - began
        print(f"{label:<38} {seconds:8.3f} s {len(queries):6d} queries")
        return result

    due = measure("invoices_due (12 months)", invoices.invoices_due)
    assert len(due) == args.customers, due[:3]
    build = measure(
        "invoice_build (one customer)",
        lambda: invoices.invoice_build(customer=customers[0], period_start=date(2026, 11, 1)),
    )
    print(
        f"  {len(build.lines)} lines, total {build.invoice.total:,} micro-units "
        f"(expected {args.deployments * 43_200 * (41_667 + 232):,})"
    )
    issued = measure("invoices_issue_due (every customer)", invoices.invoices_issue_due)
    again = measure("invoices_issue_due again (nothing due)", invoices.invoices_issue_due)
    print(f"  issued {issued}, then {again}")


if __name__ == "__main__":
    main()
