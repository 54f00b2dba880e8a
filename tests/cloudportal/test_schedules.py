"""Periodic tasks are declared in code and synced to django-celery-beat's tables."""

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from cloudportal.schedules import PERIODIC_TASKS, Cron, Every, Schedule, periodic_tasks_sync

pytestmark = pytest.mark.django_db


def test_sync_creates_every_declared_task():
    periodic_tasks_sync()

    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {schedule.name for schedule in PERIODIC_TASKS} <= names
    sessions = PeriodicTask.objects.get(name="accounts: clear expired sessions")
    assert sessions.task == "accounts.sessions_clear_expired"
    assert (sessions.crontab.minute, sessions.crontab.hour) == ("17", "3")


def test_sync_twice_changes_nothing():
    periodic_tasks_sync()
    before = list(PeriodicTask.objects.order_by("id").values("id", "name", "task", "crontab_id"))

    periodic_tasks_sync()

    assert (
        list(PeriodicTask.objects.order_by("id").values("id", "name", "task", "crontab_id"))
        == before
    )


def test_sync_updates_a_changed_schedule_and_keeps_it_paused():
    periodic_tasks_sync((Schedule(name="tick", task="a.task", when=Every(seconds=30)),))
    PeriodicTask.objects.filter(name="tick").update(enabled=False)

    periodic_tasks_sync((Schedule(name="tick", task="a.task", when=Every(seconds=10)),))

    tick = PeriodicTask.objects.get(name="tick")
    assert tick.interval == IntervalSchedule.objects.get(every=10, period="seconds")
    assert tick.enabled is False


def test_sync_removes_declared_tasks_that_were_dropped_but_not_staff_made_ones():
    periodic_tasks_sync((Schedule(name="old", task="a.task", when=Cron(minute="5")),))
    staff_interval = IntervalSchedule.objects.create(every=60, period="seconds")
    PeriodicTask.objects.create(name="made in admin", task="b.task", interval=staff_interval)

    periodic_tasks_sync(())

    assert list(PeriodicTask.objects.values_list("name", flat=True)) == ["made in admin"]
