import logging

from celery import shared_task

from billing import payments, selectors

logger = logging.getLogger(__name__)


@shared_task(name="billing.ledger_verify")
def ledger_verify_task() -> int:
    """Nightly: log the ledger's verification; returns how many problems it found."""
    report = selectors.ledger_verify()
    fields = {
        "accounts": report.accounts,
        "transactions": report.transactions,
        "entries": report.entries,
        "problems": report.problems[:50],
    }
    if report.problems:
        logger.error("ledger.verify_failed", extra=fields)
    else:
        logger.info("ledger.verified", extra=fields)
    return len(report.problems)


@shared_task(
    name="billing.webhook_event_process",
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=12,
)
def webhook_event_process_task(event_pk: int) -> None:
    """Act on one stored webhook event (billing.payments); retried until it goes through."""
    payments.webhook_event_process(event_pk=event_pk)


@shared_task(name="billing.payments_pull")
def payments_pull_task() -> dict[str, int]:
    """Beat: re-read waiting top-ups and walk Stripe's events a webhook may have missed."""
    return payments.payments_pull()
