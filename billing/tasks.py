import logging

from celery import shared_task

from billing import selectors

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
