"""The support tasks as the worker and beat run them, and the settings they read."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from accounts.models import ActivityEntry
from cloudportal.celery import app
from cloudportal.schedules import PERIODIC_TASKS
from support import services
from support.attachments import attachment_types_check
from support.models import Status
from support.tasks import notification_send_task, tickets_auto_close_task

pytestmark = pytest.mark.django_db


def test_beat_runs_the_auto_close_every_hour():
    (schedule,) = [s for s in PERIODIC_TASKS if s.task == "support.tickets_auto_close"]

    assert schedule.task in app.tasks
    assert (schedule.when.minute, schedule.when.hour) == ("41", "*")


def test_the_auto_close_task_closes_what_is_due(customer, staff):
    start = timezone.now()
    ticket = services.ticket_create(customer=customer, author=customer.user, subject="s", body="b")
    with time_machine.travel(start, tick=False):
        services.message_staff_post(ticket=ticket, author=staff, body="Works now?")
    with time_machine.travel(start + timedelta(days=5), tick=False):
        assert tickets_auto_close_task.apply().get() == {"noticed": 1, "closed": 0}
    with time_machine.travel(start + timedelta(days=7), tick=False):
        assert tickets_auto_close_task.apply().get() == {"noticed": 0, "closed": 1}

    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED
    closed = ActivityEntry.objects.get(object_id=ticket.public_id, verb="ticket.closed")
    assert (closed.actor_kind, closed.data["event"]) == ("system", "ticket.auto_closed")


def test_the_email_task_sends_one_notification(customer, mailoutbox):
    ticket = services.ticket_create(
        customer=customer, author=customer.user, subject="Help", body="b"
    )
    first_message = ticket.messages.get()

    notification_send_task.apply(args=(services.Notification.NEW_TICKET, first_message.pk)).get()

    assert [m.to for m in mailoutbox] == [["support-team@example.com"]]


def test_an_unknown_attachment_type_in_settings_fails_at_start(settings):
    settings.SUPPORT_ATTACHMENT_TYPES = ["image/png", "image/svg+xml"]

    with pytest.raises(ImproperlyConfigured, match=r"cannot recognise: \['image/svg\+xml'\]"):
        attachment_types_check()
