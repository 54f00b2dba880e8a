import logging
from datetime import date
from smtplib import SMTPException

from celery import shared_task
from django.db import OperationalError

from billing import documents, invoices, payments, selectors

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


@shared_task(name="billing.invoices_issue_due")
def invoices_issue_due_task() -> int:
    """Hourly: queue the invoices due (last month's on the 1st once metering has posted all
    of it, any a downtime or a metering backlog left out)."""
    return invoices.invoices_queue_due()


@shared_task(
    name="billing.invoice_issue",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def invoice_issue_task(customer_id: int, period_start: str, currency: str) -> str | None:
    invoice = invoices.invoice_issue_due(
        customer_id=customer_id,
        period_start=date.fromisoformat(period_start),
        currency=currency,
    )
    return invoice.number if invoice is not None else None


@shared_task(
    name="billing.document_email",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def document_email_task(kind: str, object_id: int) -> None:
    documents.document_email_send(kind=kind, object_id=object_id)


@shared_task(
    name="billing.webhook_event_process",
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=12,
)
def webhook_event_process_task(event_pk: int) -> None:
    """Act on one stored webhook event (billing.payments); retried while what stops it may
    pass (the service records a permanent refusal from Stripe and raises nothing)."""
    payments.webhook_event_process(event_pk=event_pk)


@shared_task(name="billing.payments_pull")
def payments_pull_task() -> dict[str, int]:
    """Beat: re-read waiting top-ups and walk Stripe's events a webhook may have missed."""
    return payments.payments_pull()
