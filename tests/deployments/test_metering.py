"""Metering: compute while ACTIVE, storage while the volumes exist, each 60-second window
charged once with cumulative rounding (deployments/metering.py)."""

import importlib
import logging
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from billing import invoices
from billing import selectors as billing_selectors
from billing.models import Invoice, LedgerTransaction, SystemAccount, UsageCharge
from catalog.models import Image, InstanceType, Region
from deployments import metering, services
from deployments.models import Deployment, MeteringWatermark, Status
from tests.billing.conftest import FUNDS, ledger_assert_verified

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SETTLE = timedelta(seconds=30)


@pytest.fixture
def watermark(db):
    """Metering has billed everything before T0 (as if it had been running all along)."""
    MeteringWatermark.objects.create(name=metering.WATERMARK, metered_until=T0)


def deployment_row(customer, *, compute="2.50", storage="0.00", name="trainer") -> Deployment:
    return Deployment.objects.create(
        customer=customer,
        name=name,
        region=Region.objects.first(),
        instance_type=InstanceType.objects.first(),
        image=Image.objects.first(),
        hourly_price=Decimal(compute) + Decimal(storage),
        compute_hourly_price=Decimal(compute),
        storage_hourly_price=Decimal(storage),
        stack_name=uuid.uuid4().hex,
        stack_template="server",
    )


def move(deployment, *statuses, at):
    with time_machine.travel(at, tick=False):
        for status in statuses:
            services.deployment_transition(deployment_id=deployment.pk, to_status=status)


def activate(deployment, *, at):
    move(deployment, Status.PROVISIONING, Status.ACTIVE, at=at)


def meter(at):
    with time_machine.travel(at, tick=False):
        return metering.usage_meter()


def charged(deployment, component="compute") -> int:
    return sum(
        UsageCharge.objects.filter(subject=deployment.public_id, component=component).values_list(
            "amount", flat=True
        )
    )


def test_ninety_minutes_at_2_50_cost_exactly_3_75(catalog, customer, watermark):
    deployment = deployment_row(customer, storage="0.10")
    activate(deployment, at=T0 + timedelta(seconds=17))
    move(deployment, Status.DELETING, at=T0 + timedelta(minutes=90, seconds=17))
    report = meter(T0 + timedelta(hours=2) + SETTLE)

    assert charged(deployment) == 3_750_000
    assert charged(deployment, "storage") == 150_000
    # 17 s into the first window, 17 s into the last: 91 windows of compute.
    assert UsageCharge.objects.filter(component="compute").count() == 91
    assert report.windows == 120
    assert billing_selectors.wallet_balance(customer=customer).posted == FUNDS - 3_900_000
    assert billing_selectors.system_account_balance(account=SystemAccount.REVENUE_COMPUTE) == (
        3_750_000
    )
    assert billing_selectors.system_account_balance(account=SystemAccount.REVENUE_STORAGE) == (
        150_000
    )
    ledger_assert_verified()


def test_a_delete_mid_window_bills_up_to_the_request(catalog, customer, watermark):
    deployment = deployment_row(customer)
    activate(deployment, at=T0)
    move(deployment, Status.DELETING, at=T0 + timedelta(minutes=5, seconds=30))
    meter(T0 + timedelta(minutes=10))

    charges = list(UsageCharge.objects.order_by("window_start"))
    assert [charge.seconds for charge in charges] == [60, 60, 60, 60, 60, 30]
    # 330 s at $2.50/h = $0.2291666… → 0.229167; the last window takes what rounding leaves.
    assert charges[-1].amount == 229_167 - 208_333
    assert charged(deployment) == 229_167
    ledger_assert_verified()


def test_catch_up_after_an_hour_down_bills_the_missed_windows_once(catalog, customer, watermark):
    deployment = deployment_row(customer)
    activate(deployment, at=T0)
    first = meter(T0 + timedelta(minutes=2) + SETTLE)
    assert first.windows == 2
    assert charged(deployment) == 2 * 41_667 - 1  # 83,333: two minutes, rounded once

    # Beat is down for an hour; the next run bills every window it missed, in batches.
    later = meter(T0 + timedelta(minutes=62) + SETTLE)
    assert later.windows == 60
    assert later.postings == 60
    windows = list(UsageCharge.objects.values_list("window_start", flat=True))
    assert len(windows) == len(set(windows)) == 62
    assert charged(deployment) == 2_583_333  # 62 minutes at $2.50/h
    assert meter(T0 + timedelta(minutes=62) + SETTLE).windows == 0
    assert LedgerTransaction.objects.filter(kind="usage").count() == 62
    ledger_assert_verified()


def test_stop_and_start_bill_compute_only_while_active_storage_throughout(
    catalog, customer, watermark
):
    deployment = deployment_row(customer, storage="0.12")
    activate(deployment, at=T0)
    move(deployment, Status.STOPPING, at=T0 + timedelta(minutes=10))
    move(deployment, Status.STOPPED, at=T0 + timedelta(minutes=11))
    move(deployment, Status.STARTING, at=T0 + timedelta(minutes=30))
    move(deployment, Status.ACTIVE, at=T0 + timedelta(minutes=32))
    move(deployment, Status.DELETING, at=T0 + timedelta(minutes=40))
    meter(T0 + timedelta(minutes=45))

    assert charged(deployment) == 750_000  # 10 + 8 minutes at $2.50/h
    assert charged(deployment, "storage") == 80_000  # 40 minutes at $0.12/h
    compute_windows = UsageCharge.objects.filter(component="compute").count()
    assert compute_windows == 18
    ledger_assert_verified()


def test_never_active_and_deleted_long_ago_cost_nothing(catalog, customer, watermark):
    failed = deployment_row(customer, name="failed")
    move(failed, Status.PROVISIONING, Status.FAILED, at=T0)
    gone = deployment_row(customer, name="gone")
    activate(gone, at=T0 - timedelta(hours=2))
    move(gone, Status.DELETING, Status.DELETED, at=T0 - timedelta(hours=1))
    assert meter(T0 + timedelta(minutes=30)).charges == 0
    assert not UsageCharge.objects.exists()


def test_the_first_run_ever_starts_billing_from_now(catalog, customer):
    deployment = deployment_row(customer)
    activate(deployment, at=T0)
    assert meter(T0 + timedelta(hours=1)).windows == 0
    assert meter(T0 + timedelta(hours=1, minutes=1)).windows == 1
    assert UsageCharge.objects.get().window_start == T0 + timedelta(minutes=59)


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_debit_once(catalog, customer):
    MeteringWatermark.objects.create(name=metering.WATERMARK, metered_until=T0)
    deployments = [deployment_row(customer, name=f"m{n}") for n in range(3)]
    for deployment in deployments:
        activate(deployment, at=T0)
    now = T0 + timedelta(minutes=20) + SETTLE
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            metering.usage_meter(now=now)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert UsageCharge.objects.count() == 60
    assert billing_selectors.wallet_balance(customer=customer).posted == FUNDS - 3 * 833_333
    ledger_assert_verified()


def test_a_machine_without_a_data_volume_pays_for_its_system_disk_running_and_stopped(
    catalog, customer, ssh_key, watermark
):
    with time_machine.travel(T0 - timedelta(minutes=1), tick=False):
        deployment = services.deployment_create(
            customer=customer,
            name="no-data-volume",
            region="eu-central-1",
            instance_type="h100-1x",
            image="ubuntu-24.04-cuda-12.8",
            ssh_key_ids=[ssh_key.public_id],
        )
    # The 100 GB system disk at 0.10/GB-month: 10.00 / 730 h = 0.013699/h, captured at create.
    assert deployment.storage_profile is None
    assert deployment.storage_hourly_price == Decimal("0.013699")
    assert deployment.stack_parameters["system_volume_size"] == 100
    activate(deployment, at=T0)
    move(deployment, Status.STOPPING, at=T0 + timedelta(minutes=30))
    move(deployment, Status.STOPPED, at=T0 + timedelta(minutes=31))
    meter(T0 + timedelta(minutes=90) + SETTLE)

    assert charged(deployment) == 1_395_000  # 30 minutes at $2.79/h
    # 90 minutes of the system disk: 0.013699 x 1.5 = 0.0205485 -> 20,549 micro-units.
    assert charged(deployment, "storage") == 20_549
    stopped_windows = UsageCharge.objects.filter(
        subject=deployment.public_id,
        component="storage",
        window_start__gte=T0 + timedelta(minutes=30),
        amount__gt=0,
    )
    assert stopped_windows.count() == 60  # every minute while stopping and stopped
    assert billing_selectors.system_account_balance(account=SystemAccount.REVENUE_STORAGE) == (
        20_549
    )
    ledger_assert_verified()


# --- Invoices wait for metering ---------------------------------------------------------

NOVEMBER = date(2026, 11, 1)
LAST_HOUR = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # trainer runs November's last hour
INVOICE_RUN = datetime(2026, 12, 1, 2, 15, tzinfo=UTC)


def issue_due(at):
    with time_machine.travel(at, tick=False):
        return invoices.invoices_issue_due()


def test_an_invoice_waits_until_metering_has_posted_the_whole_month(catalog, customer, caplog):
    MeteringWatermark.objects.create(name=metering.WATERMARK, metered_until=LAST_HOUR)
    deployment = deployment_row(customer)
    activate(deployment, at=LAST_HOUR)
    move(deployment, Status.DELETING, at=LAST_HOUR + timedelta(hours=1))
    # Metering billed half of the last hour, then its worker was down past the invoice run.
    meter(LAST_HOUR + timedelta(minutes=30) + SETTLE)
    assert charged(deployment) == 1_250_000

    with caplog.at_level(logging.INFO, logger="billing.invoices"):
        assert issue_due(INVOICE_RUN) == 0

    assert not Invoice.objects.exists()
    waiting = [r for r in caplog.records if r.msg == "invoices.waiting_for_metering"]
    assert [(r.period, r.metered_until, r.invoices) for r in waiting] == [
        ("2026-11", LAST_HOUR + timedelta(minutes=30), 1)
    ]
    # Metering catches up; the next hourly run issues November with its late half hour.
    meter(INVOICE_RUN + timedelta(minutes=5))
    assert issue_due(INVOICE_RUN + timedelta(hours=1)) == 1
    invoice = Invoice.objects.get(customer=customer, period_start=NOVEMBER)
    assert invoice.usage_total == 2_500_000  # the whole hour at $2.50/h
    assert issue_due(INVOICE_RUN + timedelta(hours=2)) == 0
    assert Invoice.objects.count() == 1


def test_an_invoice_is_issued_on_the_first_when_metering_is_caught_up(catalog, customer):
    MeteringWatermark.objects.create(name=metering.WATERMARK, metered_until=LAST_HOUR)
    deployment = deployment_row(customer)
    activate(deployment, at=LAST_HOUR)
    move(deployment, Status.DELETING, at=LAST_HOUR + timedelta(hours=1))
    meter(INVOICE_RUN - timedelta(minutes=1))

    assert issue_due(INVOICE_RUN) == 1
    invoice = Invoice.objects.get(customer=customer, period_start=NOVEMBER)
    assert invoice.usage_total == 2_500_000


def test_the_migration_starts_billings_usage_watermark_at_meterings(db):
    MeteringWatermark.objects.create(name=metering.WATERMARK, metered_until=LAST_HOUR)
    migration = importlib.import_module("deployments.migrations.0006_usage_watermark_backfill")
    apps = (
        MigrationLoader(connection)
        .project_state(("deployments", "0006_usage_watermark_backfill"))
        .apps
    )
    with connection.schema_editor() as schema_editor:
        migration.usage_watermark_backfill(apps, schema_editor)

    assert billing_selectors.usage_posted_until() == LAST_HOUR
