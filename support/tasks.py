"""Thin Celery wrappers: ids in, one service call."""

from smtplib import SMTPException

from celery import shared_task

from support import services


@shared_task(
    name="support.notification_send",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def notification_send_task(kind: str, object_id: int) -> None:
    services.notification_send(kind=kind, object_id=object_id)


@shared_task(name="support.tickets_auto_close")
def tickets_auto_close_task() -> dict[str, int]:
    return services.tickets_auto_close()
