from typing import Any

from django.core.management.base import BaseCommand

from cloudportal.schedules import PERIODIC_TASKS, periodic_tasks_sync


class Command(BaseCommand):
    help = "Sync the periodic tasks declared in cloudportal/schedules.py to the beat database."

    def handle(self, *args: Any, **options: Any) -> None:
        periodic_tasks_sync()
        self.stdout.write(f"Synced {len(PERIODIC_TASKS)} periodic task(s).")
