from celery import shared_task

from cloudportal.api.idempotency import idempotency_keys_purge


@shared_task(name="cloudportal.idempotency_keys_purge")
def idempotency_keys_purge_task() -> int:
    return idempotency_keys_purge()
