"""Every periodic task, declared here in code and synced to django-celery-beat.

Beat syncs at start (cloudportal.celery); `manage.py sync_periodic_tasks` does it by
hand. Entries created here are marked as managed: staff may pause them in admin, and a
schedule removed from this file is removed from the database on the next sync.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

logger = logging.getLogger(__name__)

MANAGED_MARKER = "Declared in cloudportal/schedules.py; edits other than 'enabled' are overwritten."


@dataclass(frozen=True)
class Every:
    seconds: int


@dataclass(frozen=True)
class Cron:
    minute: str = "0"
    hour: str = "*"
    day_of_week: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    when: Every | Cron
    # Drop a queued run that waited longer than this (a newer one is coming anyway).
    expire_seconds: int | None = None


PERIODIC_TASKS: tuple[Schedule, ...] = (
    Schedule(
        name="deployments: reconcile stacks",
        task="deployments.reconcile",
        when=Every(seconds=3),
        expire_seconds=3,
    ),
    Schedule(
        name="deployments: low balance (warn, stop, delete after the grace period)",
        task="deployments.low_balance_sweep",
        when=Every(seconds=60),
        expire_seconds=60,
    ),
    Schedule(
        # Bills each closed 60-second window once; a missed run is caught up by the next.
        name="deployments: meter usage",
        task="deployments.usage_meter",
        when=Every(seconds=settings.METERING_INTERVAL_SECONDS),
        expire_seconds=settings.METERING_INTERVAL_SECONDS,
    ),
    Schedule(
        name="deployments: sweep orphan stacks",
        task="deployments.orphan_sweep",
        when=Cron(minute="23"),
    ),
    Schedule(
        name="api: purge expired idempotency keys",
        task="cloudportal.idempotency_keys_purge",
        when=Cron(minute="7"),
    ),
    Schedule(
        name="support: auto-close tickets waiting on the customer",
        task="support.tickets_auto_close",
        when=Cron(minute="41"),
    ),
    Schedule(
        name="accounts: clear expired sessions",
        task="accounts.sessions_clear_expired",
        when=Cron(minute="17", hour="3"),
    ),
    Schedule(
        # Hourly: last month's invoices go out on the 1st as soon as metering has posted
        # the month's last windows (a month waits for that), and a downtime is caught up.
        # Nothing due costs one index probe per wallet and month.
        name="billing: issue invoices due",
        task="billing.invoices_issue_due",
        when=Cron(minute="15"),
    ),
    Schedule(
        name="billing: pull card payments a webhook missed",
        task="billing.payments_pull",
        when=Every(seconds=120),
        expire_seconds=120,
    ),
    Schedule(
        name="billing: verify the ledger",
        task="billing.ledger_verify",
        when=Cron(minute="41", hour="2"),
    ),
)


def periodic_tasks_sync(schedules: tuple[Schedule, ...] = PERIODIC_TASKS) -> None:
    with transaction.atomic():
        for schedule in schedules:
            defaults: dict[str, object] = {
                "task": schedule.task,
                "description": MANAGED_MARKER,
                "expire_seconds": schedule.expire_seconds,
            }
            if isinstance(schedule.when, Every):
                interval, _ = IntervalSchedule.objects.get_or_create(
                    every=schedule.when.seconds, period=IntervalSchedule.SECONDS
                )
                defaults |= {"interval": interval, "crontab": None}
            else:
                crontab, _ = CrontabSchedule.objects.get_or_create(
                    minute=schedule.when.minute,
                    hour=schedule.when.hour,
                    day_of_week=schedule.when.day_of_week,
                    day_of_month=schedule.when.day_of_month,
                    month_of_year=schedule.when.month_of_year,
                    timezone="UTC",
                )
                defaults |= {"crontab": crontab, "interval": None}
            PeriodicTask.objects.update_or_create(name=schedule.name, defaults=defaults)
        stale = PeriodicTask.objects.filter(description=MANAGED_MARKER).exclude(
            name__in=[schedule.name for schedule in schedules]
        )
        removed, _ = stale.delete()
    logger.info("schedules.synced", extra={"declared": len(schedules), "removed": removed})
