from celery import shared_task

from accounts import services


@shared_task(name="accounts.sessions_clear_expired")
def sessions_clear_expired_task() -> int:
    return services.sessions_clear_expired()
