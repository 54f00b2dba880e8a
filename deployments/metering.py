"""Usage metering: what every deployment used, per 60-second UTC window, charged once.

Billed time comes from the status-change table, written when the customer's intent is
recorded (a delete or stop request ends compute at once, not when Heat finishes):

- compute: from each change into ACTIVE to the next change out of it;
- storage: from the first ACTIVE until DELETING — the volumes exist while the machine
  runs, is stopping, stopped or starting.

Amounts use cumulative rounding: a window's charge is round(rate * time up to its end) -
round(rate * time up to its start), both since the deployment's first second, so the
windows of an hour at $2.50 sum to exactly $2.500000 however they fall. Storage is
charged as one volume (quantity 1) at the storage hourly price captured at create.

`usage_meter` runs from beat: it bills the windows closed for `METERING_SETTLE_SECONDS`
from the watermark on, at most `METERING_BATCH_WINDOWS` windows per transaction, batch
after batch until caught up. The watermark row is locked for a batch (a second run at
the same time skips it) and usage charges are unique per (deployment, component, window),
so nothing is ever charged twice. Each batch also advances billing's usage watermark
(`billing.services.usage_watermark_advance`) in its transaction: invoices, which may not
read this app, wait for it to pass a month's end.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from billing import services as billing_services
from billing.models import MICROS_PER_UNIT, UsageCharge
from billing.services import UsageLine
from deployments.models import Deployment, MeteringWatermark, Status, StatusChange

logger = logging.getLogger(__name__)

WINDOW = timedelta(seconds=60)
WATERMARK = "usage"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_WINDOW_US = WINDOW // _MICROSECOND
_US_PER_SECOND = 1_000_000
_US_PER_HOUR = 3600 * _US_PER_SECOND


def window_floor(moment: datetime) -> datetime:
    """The start of the 60-second UTC window holding `moment`."""
    return _from_us(_us(moment) // _WINDOW_US * _WINDOW_US)


def _us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float on the way)."""
    return (moment - _EPOCH) // _MICROSECOND


def _from_us(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


# An interval of billed time in epoch microseconds; None: still running.
Interval = tuple[int, int | None]


def billed_intervals(
    changes: Iterable[tuple[str, int]],
) -> tuple[list[Interval], list[Interval]]:
    """(compute, storage) intervals from a deployment's status changes (status, epoch
    microseconds), in time order."""
    compute: list[Interval] = []
    active_since: int | None = None
    storage_start: int | None = None
    storage_end: int | None = None
    for to_status, moment in changes:
        if to_status == Status.ACTIVE:
            if active_since is None:
                active_since = moment
            if storage_start is None:
                storage_start = moment
            continue
        if active_since is not None:
            compute.append((active_since, moment))
            active_since = None
        if to_status == Status.DELETING and storage_start is not None and storage_end is None:
            storage_end = moment
    if active_since is not None:
        compute.append((active_since, None))
    storage: list[Interval] = [] if storage_start is None else [(storage_start, storage_end)]
    return compute, storage


def _cumulative_us(intervals: Sequence[Interval], until: int) -> int:
    """Billed microseconds from the first interval up to `until`."""
    total = 0
    for start, end in intervals:
        if start >= until:
            break
        total += min(until, end if end is not None else until) - start
    return total


def _amount(rate_micros: int, microseconds: int) -> int:
    """rate * time in micro-units, rounded half up (integers only, so it is exact)."""
    return (2 * rate_micros * microseconds + _US_PER_HOUR) // (2 * _US_PER_HOUR)


def _seconds(microseconds: int) -> int:
    return (2 * microseconds + _US_PER_SECOND) // (2 * _US_PER_SECOND)


def _status_changes(candidates: QuerySet[Deployment]) -> Iterable[tuple[int, str, int]]:
    """(deployment id, to status, epoch microseconds) of the candidates, in time order.

    PostgreSQL computes the microseconds (exact: its epoch is numeric): turning 30,000
    timestamps into aware datetimes and back costs more than the rest of a run.
    """
    changes = StatusChange.objects.filter(deployment_id__in=candidates.values("id")).order_by(
        "deployment_id", "created_at", "id"
    )
    if connection.vendor != "postgresql":
        return (
            (deployment_id, to_status, _us(at))
            for deployment_id, to_status, at in changes.values_list(
                "deployment_id", "to_status", "created_at"
            )
        )
    epoch_us = RawSQL(
        "(extract(epoch FROM deployments_statuschange.created_at) * 1000000)::bigint", []
    )
    return changes.annotate(at_us=epoch_us).values_list("deployment_id", "to_status", "at_us")


def usage_lines(*, start: datetime, end: datetime) -> list[UsageLine]:
    """The usage charges of every deployment for the windows in [start, end): two queries."""
    start_us, end_us = _us(start), _us(end)
    candidates = Deployment.objects.filter(activated_at__isnull=False).filter(
        # Deleted before the range: its DELETING (its last billed second) is earlier still.
        Q(deleted_at__isnull=True) | Q(deleted_at__gte=start)
    )
    rows = list(
        candidates.values_list(
            "id",
            "public_id",
            "name",
            "customer_id",
            "customer__public_id",
            "compute_hourly_price",
            "storage_hourly_price",
        )
    )
    changes: dict[int, list[tuple[str, int]]] = {}
    for deployment_id, to_status, at in _status_changes(candidates):
        changes.setdefault(deployment_id, []).append((to_status, at))
    windows = {window_us: _from_us(window_us) for window_us in range(start_us, end_us, _WINDOW_US)}
    lines: list[UsageLine] = []
    for pk, public_id, name, customer_id, customer_public_id, compute_rate, storage_rate in rows:
        compute, storage = billed_intervals(changes.get(pk, ()))
        for component, rate, intervals in (
            (UsageCharge.Component.COMPUTE, compute_rate, compute),
            (UsageCharge.Component.STORAGE, storage_rate, storage),
        ):
            if not intervals or rate <= 0:
                continue
            last_end = intervals[-1][1]
            if intervals[0][0] >= end_us or (last_end is not None and last_end <= start_us):
                continue
            rate_micros = int(rate * MICROS_PER_UNIT)
            for window_us in range(start_us, end_us, _WINDOW_US):
                before = _cumulative_us(intervals, window_us)
                after = _cumulative_us(intervals, window_us + _WINDOW_US)
                if after == before:
                    continue
                lines.append(
                    UsageLine(
                        customer_id=customer_id,
                        customer_public_id=customer_public_id,
                        subject=public_id,
                        label=name,
                        component=component,
                        window_start=windows[window_us],
                        seconds=_seconds(after) - _seconds(before),
                        rate=rate,
                        amount=_amount(rate_micros, after) - _amount(rate_micros, before),
                    )
                )
    return lines


@dataclass
class MeteringReport:
    windows: int = 0
    charges: int = 0
    postings: int = 0
    customer_ids: set[int] = field(default_factory=set)
    metered_until: datetime | None = None


def usage_meter(*, now: datetime | None = None, max_batches: int | None = None) -> MeteringReport:
    """Bill every window closed (and settled) since the watermark, batch after batch.

    The first run ever starts the watermark at the last settled window: usage before it
    is not billed. Safe to run twice at once: a run that finds the watermark locked stops.
    """
    now = now or timezone.now()
    target = window_floor(now - timedelta(seconds=settings.METERING_SETTLE_SECONDS))
    with transaction.atomic():
        _, started = MeteringWatermark.objects.get_or_create(
            name=WATERMARK, defaults={"metered_until": target}
        )
        if started:
            billing_services.usage_watermark_advance(posted_until=target)
    report = MeteringReport()
    batches = 0
    while max_batches is None or batches < max_batches:
        if not _batch_meter(target=target, report=report):
            break
        batches += 1
    if report.customer_ids:
        _balances_publish(report.customer_ids)
    if report.windows:
        logger.info(
            "metering.run",
            extra={
                "windows": report.windows,
                "charges": report.charges,
                "postings": report.postings,
                "metered_until": report.metered_until,
            },
        )
    return report


def _balances_publish(customer_ids: set[int]) -> None:
    """Push the debited customers' balances once per run (a window closes once a minute),
    from another task: a thousand socket sends are not the meter's to wait for."""
    from deployments.tasks import balances_publish_task

    ids = sorted(customer_ids)
    transaction.on_commit(lambda: balances_publish_task.delay(ids))


def _batch_meter(*, target: datetime, report: MeteringReport) -> bool:
    """Bill the next batch of windows in one transaction; False when there was none to bill."""
    with transaction.atomic():
        watermark = (
            MeteringWatermark.objects.select_for_update(skip_locked=True)
            .filter(name=WATERMARK)
            .first()
        )
        if watermark is None or watermark.metered_until >= target:
            return False  # another run is billing, or nothing is due
        start = watermark.metered_until
        end = min(target, start + WINDOW * settings.METERING_BATCH_WINDOWS)
        posted = billing_services.usage_charges_post_many(lines=usage_lines(start=start, end=end))
        watermark.metered_until = end
        watermark.updated_at = timezone.now()
        watermark.save(update_fields=["metered_until", "updated_at"])
        billing_services.usage_watermark_advance(posted_until=end)
    report.windows += (end - start) // WINDOW
    report.charges += posted.charges
    report.postings += posted.postings
    report.customer_ids |= posted.customer_ids
    report.metered_until = end
    return True
