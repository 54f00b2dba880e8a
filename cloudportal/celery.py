"""The Celery application: broker, task discovery and the code-declared beat schedule.

Workers log through Django's LOGGING and carry the request id of the HTTP request that
queued a task: both come from django-guid's Celery integration (see settings.DJANGO_GUID).
"""

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudportal.settings")

app = Celery("cloudportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def sync_periodic_tasks_on_beat_start(**kwargs: Any) -> None:
    from cloudportal.schedules import periodic_tasks_sync

    periodic_tasks_sync()
