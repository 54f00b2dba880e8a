"""Metering one window of 10,000 ACTIVE deployments: seconds, queries, postings.

    DJANGO_DEBUG=true .venv/bin/python bench/metering.py [--sizes 100,1000,10000]

Defaults: DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_bench_metering (created if
missing, migrated, and its deployments and ledger TRUNCATEd for every N: never point it at
a database you care about), REDIS_URL=redis://127.0.0.1:6379/10.

For each N: N deployments ACTIVE for an hour (three status changes each), 10 per customer
(N/10 customers, each with a funded wallet and its running deployments' holds), $2.50 to
$5.50 an hour of compute and $0.05 of storage. The watermark is one window behind the last
settled one, and `metering.usage_meter()` runs once: it bills that window (2N usage
charges, one ledger transaction per customer). Then the rerun: the watermark is put back
and the same window metered again — every charge exists, so 0 postings. Queries are
counted with a connection execute wrapper (every statement the run sends); seconds are
wall time. Then `ledger_verify`. Targets: a run <= 2 s at N=10,000, queries not growing
with N.
"""

import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cp_bench_metering")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudportal.settings")

PER_CUSTOMER = 10
TARGET_SECONDS = 2.0


def django_setup() -> None:
    import logging

    import django

    subprocess.run([sys.executable, str(ROOT / "bin" / "ensure-database")], check=True)
    django.setup()
    logging.disable(logging.INFO)
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # As in production: DEBUG's cursor wrapper records every query and its SQL text.
    settings.DEBUG = False


def customers_ensure(count: int) -> list:
    from django.contrib.auth.hashers import make_password

    from accounts.models import Customer, User

    missing = count - Customer.objects.count()
    if missing > 0:
        start = User.objects.count()
        unusable = make_password(None)
        users = User.objects.bulk_create(
            User(email=f"meter{start + n}@example.com", password=unusable) for n in range(missing)
        )
        Customer.objects.bulk_create(Customer(user=user) for user in users)
    return list(Customer.objects.order_by("pk")[:count])


def seed(size: int) -> None:
    """N ACTIVE deployments (and their customers' wallets and holds) in a clean database."""
    from django.db import connection
    from django.utils import timezone

    from billing import services as billing_services
    from billing.models import SystemAccount, TransactionKind
    from catalog.models import Image, InstanceType, Region
    from catalog.services import catalog_seed_file_load
    from deployments.charging import hold_key
    from deployments.models import Deployment, Status, StatusChange

    with connection.cursor() as cursor:
        cursor.execute("SET billing.allow_truncate = 'on'")
        cursor.execute(
            "TRUNCATE billing_usagecharge, billing_ledgerentry, billing_ledgertransaction, "
            "billing_hold, billing_ledgeraccount, deployments_statuschange, "
            "deployments_deploymentevent, deployments_deployment, deployments_meteringwatermark "
            "CASCADE"
        )
    catalog_seed_file_load()
    customers = customers_ensure(max(1, size // PER_CUSTOMER))
    region, instance_type, image = (
        Region.objects.first(),
        InstanceType.objects.first(),
        Image.objects.first(),
    )
    active_since = timezone.now() - timedelta(hours=1)
    deployments = Deployment.objects.bulk_create(
        Deployment(
            customer=customers[n % len(customers)],
            name=f"box-{n}",
            region=region,
            instance_type=instance_type,
            image=image,
            hourly_price=Decimal("2.55") + n % 4,
            compute_hourly_price=Decimal("2.50") + n % 4,
            storage_hourly_price=Decimal("0.05"),
            stack_name=f"bench-{n}",
            stack_template="server",
            status=Status.ACTIVE,
            activated_at=active_since,
        )
        for n in range(size)
    )
    StatusChange.objects.bulk_create(
        StatusChange(
            deployment=deployment, from_status=before, to_status=after, created_at=active_since
        )
        for deployment in deployments
        for before, after in (
            ("", "PENDING"),
            ("PENDING", "PROVISIONING"),
            ("PROVISIONING", "ACTIVE"),
        )
    )
    for customer in customers:
        billing_services.ledger_post(
            key=f"bench:topup:{customer.public_id}",
            kind=TransactionKind.TOPUP,
            memo="bench",
            lines=[
                billing_services.Line.wallet(customer, 1_000_000_000),
                billing_services.Line.system(SystemAccount.CLEARING_STRIPE_CARD, -1_000_000_000),
            ],
        )
    for deployment in deployments:
        billing_services.hold_place(
            customer=deployment.customer,
            key=hold_key(deployment.public_id),
            amount=int(deployment.hourly_price * 1_000_000),
            subject=deployment.public_id,
            allow_short=True,
        )


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.count += 1
        return execute(sql, params, many, context)


def measured_run(now):  # type: ignore[no-untyped-def]
    from django.db import connection

    from deployments import metering

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        report = metering.usage_meter(now=now)
        seconds = time.perf_counter() - started
    return report, counter.count, seconds


def bench(size: int) -> dict[str, float]:
    from django.conf import settings
    from django.utils import timezone

    from deployments import metering
    from deployments.models import MeteringWatermark

    seed(size)
    now = timezone.now()
    target = metering.window_floor(now - timedelta(seconds=settings.METERING_SETTLE_SECONDS))
    watermark = {"name": metering.WATERMARK, "metered_until": target - metering.WINDOW}
    MeteringWatermark.objects.update_or_create(name=watermark["name"], defaults=watermark)
    first, queries, seconds = measured_run(now)
    MeteringWatermark.objects.filter(name=watermark["name"]).update(**watermark)
    again, rerun_queries, rerun_seconds = measured_run(now)
    return {
        "customers": max(1, size // PER_CUSTOMER),
        "charges": first.charges,
        "postings": first.postings,
        "queries": queries,
        "seconds": seconds,
        "rerun_charges": again.charges,
        "rerun_postings": again.postings,
        "rerun_queries": rerun_queries,
        "rerun_seconds": rerun_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]

    django_setup()
    figures = {size: bench(size) for size in sizes}

    print(
        f"\nMetering one 60-second window; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"{'N':>7}{'customers':>10}{'charges':>9}{'postings':>9}{'queries':>8}{'seconds':>9}"
        f"   | rerun:{'charges':>8}{'postings':>9}{'queries':>8}{'seconds':>9}"
    )
    for size, figure in figures.items():
        print(
            f"{size:>7,}{figure['customers']:>10,}{figure['charges']:>9,}{figure['postings']:>9,}"
            f"{figure['queries']:>8}{figure['seconds']:>9.2f}"
            f"   |       {figure['rerun_charges']:>8,}{figure['rerun_postings']:>9,}"
            f"{figure['rerun_queries']:>8}{figure['rerun_seconds']:>9.2f}"
        )
    largest = figures[max(sizes)]
    constant = len({figure["queries"] for figure in figures.values()}) == 1
    fast = largest["seconds"] <= TARGET_SECONDS
    print(
        f"\nTargets at N={max(sizes):,}: a run <= {TARGET_SECONDS:.0f} s: "
        f"{'met' if fast else 'NOT met'} ({largest['seconds']:.2f} s); queries not growing "
        f"with N: {'met' if constant else 'NOT met'}; rerun posts nothing: "
        f"{'met' if all(f['rerun_postings'] == 0 for f in figures.values()) else 'NOT met'}"
    )

    from billing import selectors

    report = selectors.ledger_verify()
    print(
        f"ledger_verify: {report.transactions:,} transactions, {report.entries:,} entries, "
        f"{len(report.problems)} mismatches"
    )
    for problem in report.problems[:20]:
        print(f"  MISMATCH {problem}")
    if report.problems or not (fast and constant):
        sys.exit(1)


if __name__ == "__main__":
    main()
