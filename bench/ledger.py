"""Ledger postings per second on PostgreSQL with 8 concurrent writers, then ledger_verify.

    DJANGO_DEBUG=true .venv/bin/python bench/ledger.py [--writers 8] [--postings 1000]

Defaults: DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_bench_ledger (created if
missing, migrated, and its ledger TRUNCATEd at start: never point it at a database you
care about), REDIS_URL=redis://127.0.0.1:6379/10.

The 1,000 customers' wallets exist before the clock starts (each funded once: a wallet is
made once in its life), and each writer makes one untimed posting first (a long-lived
process has the posting function compiled on its connection). Two scenarios, each with
`--writers` processes (each its own connection) released together, each posting
`--postings` transactions through `billing.services.ledger_post` (alternately a card
top-up: wallet + card clearing, and an hour of usage: wallet + compute revenue):

- spread: every posting on a wallet picked at random among 1,000;
- hot: every posting on one wallet.

Prints postings per second (all writers' postings / wall time from the first start to
the last finish), per-posting latency percentiles and the writers' own CPU per posting
(`cpu ms`: Python's share; the rest is PostgreSQL's). Each posting's reactions (the
balance push and the low-balance check) are marked in Redis by the writer, as in
production, and run by a worker's drain: the bench then drains them in-process and prints
how long that took for how many customers. Last, `ledger_verify`.
Targets on the 2-core development machine: >= 1,000/s spread, >= 300/s hot.
"""

import argparse
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cp_bench_ledger")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudportal.settings")

WALLETS = 1000
TARGETS = {"spread": 1000, "hot": 300}


def django_setup() -> None:
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)


def prepare() -> list[int]:
    """A migrated database with an empty ledger and 1,000 customers; returns their pks."""
    subprocess.run([sys.executable, str(ROOT / "bin" / "ensure-database")], check=True)
    django_setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Customer, User

    call_command("migrate", verbosity=0)
    from deployments import wallet_reactions

    wallet_reactions._redis().flushdb()  # the bench's own Redis db: earlier runs' marks
    with connection.cursor() as cursor:
        cursor.execute("SET billing.allow_truncate = 'on'")
        cursor.execute(
            "TRUNCATE billing_ledgerentry, billing_ledgertransaction, billing_hold, "
            "billing_ledgeraccount CASCADE"  # and what refers to postings (usage, receipts…)
        )
    missing = WALLETS - Customer.objects.count()
    if missing > 0:
        from django.contrib.auth.hashers import make_password

        start = User.objects.count()
        unusable = make_password(None)
        users = User.objects.bulk_create(
            User(email=f"bench{start + n}@example.com", password=unusable) for n in range(missing)
        )
        Customer.objects.bulk_create(Customer(user=user) for user in users)
    customer_ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:WALLETS])

    # The wallets exist, as a customer's does from their first top-up on: a wallet is made
    # once in its life, so making 1,000 of them is not what the steady state costs.
    from billing.models import SystemAccount, TransactionKind
    from billing.services import Line, ledger_post

    for customer in Customer.objects.filter(pk__in=customer_ids):
        ledger_post(
            key=f"bench:setup:{customer.pk}",
            kind=TransactionKind.TOPUP,
            memo="bench setup",
            lines=[
                Line.wallet(customer, 1_000_000),
                Line.system(SystemAccount.CLEARING_STRIPE_CARD, -1_000_000),
            ],
        )
    # Statistics as a live ledger has them. Straight after the TRUNCATE the planner takes
    # the tables for empty, and each writer's session keeps the plans it makes first: the
    # commit-time balance check then read the entries table from end to end, a cost that
    # grew with every posting of the run (until autovacuum's next round, a minute away).
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE billing_ledgeraccount, billing_ledgertransaction, billing_ledgerentry"
        )
    return customer_ids


def writer(
    scenario: str,
    number: int,
    customer_ids: list[int],
    postings: int,
    barrier: "multiprocessing.synchronize.Barrier",
    results: "multiprocessing.Queue[tuple[float, float, float, list[float]]]",
) -> None:
    django_setup()
    from django.conf import settings
    from django.db import connection

    # As in production: DEBUG's cursor wrapper records every query and its SQL text.
    settings.DEBUG = False

    from accounts.models import Customer
    from billing.models import SystemAccount, TransactionKind
    from billing.services import Line, ledger_post

    customers = list(Customer.objects.filter(pk__in=customer_ids))
    rng = random.Random(number)
    # A long-lived process's connection has the posting function compiled and planned.
    amount = 1_000_000
    ledger_post(
        key=f"bench:warm-up:{scenario}:{number}",
        kind=TransactionKind.TOPUP,
        memo="bench warm-up",
        lines=[
            Line.wallet(customers[0], amount),
            Line.system(SystemAccount.CLEARING_STRIPE_CARD, -amount),
        ],
    )
    barrier.wait()
    latencies = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    for n in range(postings):
        customer = rng.choice(customers)
        amount = rng.randint(1, 5_000_000)
        if n % 2:
            kind, system = TransactionKind.TOPUP, SystemAccount.CLEARING_STRIPE_CARD
            lines = [Line.wallet(customer, amount), Line.system(system, -amount)]
        else:
            kind, system = TransactionKind.USAGE, SystemAccount.REVENUE_COMPUTE
            lines = [Line.wallet(customer, -amount), Line.system(system, amount)]
        before = time.perf_counter()
        ledger_post(key=f"bench:{scenario}:{number}:{n}", kind=kind, memo="bench", lines=lines)
        latencies.append(time.perf_counter() - before)
    finished = time.perf_counter()
    from deployments import wallet_reactions

    wallet_reactions.marks_flush()  # what the last linger gathered (as a clean exit would)
    results.put((started, finished, time.process_time() - cpu_started, latencies))
    connection.close()


def run(scenario: str, customer_ids: list[int], writers: int, postings: int) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers)
    results: multiprocessing.Queue[tuple[float, float, float, list[float]]] = context.Queue()
    processes = [
        context.Process(
            target=writer, args=(scenario, number, customer_ids, postings, barrier, results)
        )
        for number in range(writers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get() for _ in processes]
    for process in processes:
        process.join()
        if process.exitcode != 0:
            sys.exit(f"A {scenario} writer failed (exit code {process.exitcode}).")
    wall = max(end for _, end, _, _ in outcomes) - min(start for start, _, _, _ in outcomes)
    latencies = sorted(latency for *_, values in outcomes for latency in values)
    total = len(latencies)
    client_cpu = sum(cpu for _, _, cpu, _ in outcomes)
    return {
        "postings": total,
        "seconds": wall,
        "per_second": total / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(total * 0.99) - 1] * 1000,
        "client_cpu_ms": client_cpu / total * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--postings", type=int, default=1000, help="per writer and scenario")
    options = parser.parse_args()

    customer_ids = prepare()
    figures = {
        "spread": run("spread", customer_ids, options.writers, options.postings),
        "hot": run("hot", customer_ids[:1], options.writers, options.postings),
    }

    print(
        f"\nLedger postings on PostgreSQL, {options.writers} writers (processes); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"{'scenario':<34}{'postings':>9}{'seconds':>9}{'per s':>9}{'p50 ms':>8}"
        f"{'p99 ms':>8}{'cpu ms':>8}{'target':>9}"
    )
    labels = {"spread": f"spread over {len(customer_ids):,} wallets", "hot": "one hot wallet"}
    for scenario, figure in figures.items():
        verdict = "ok" if figure["per_second"] >= TARGETS[scenario] else "MISSED"
        print(
            f"{labels[scenario]:<34}{figure['postings']:>9,.0f}{figure['seconds']:>9.2f}"
            f"{figure['per_second']:>9,.0f}{figure['p50_ms']:>8.2f}{figure['p99_ms']:>8.2f}"
            f"{figure['client_cpu_ms']:>8.2f}{'>=' + str(TARGETS[scenario]):>7} {verdict}"
        )

    from deployments import wallet_reactions

    pushed = checked = drains = 0
    started = time.perf_counter()
    while True:  # what the worker does with the marks the postings left
        batch = wallet_reactions.wallet_reactions_drain()
        if batch == (0, 0):
            break
        pushed, checked, drains = pushed + batch[0], checked + batch[1], drains + 1
    print(
        f"\nreactions (worker): {drains} drains pushed {pushed:,} and checked {checked:,} "
        f"customers' balances in {time.perf_counter() - started:.2f} s, for "
        f"{sum(f['postings'] for f in figures.values()):,.0f} postings"
    )

    from billing import selectors

    started = time.perf_counter()
    report = selectors.ledger_verify()
    seconds = time.perf_counter() - started
    print(
        f"\nledger_verify: {report.accounts:,} accounts, {report.transactions:,} transactions, "
        f"{report.entries:,} entries, {len(report.problems)} mismatches ({seconds:.2f} s)"
    )
    for problem in report.problems[:20]:
        print(f"  MISMATCH {problem}")
    if report.problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
