"""Deployments' reactions to other apps' signals (connected in DeploymentsConfig.ready):
translate, queue one task or push, never raise."""

import logging
from typing import Any

from deployments import events

logger = logging.getLogger(__name__)


def wallet_changed_publish(
    sender: Any, *, customer_id: int, currency: str, source: str = "", **kwargs: Any
) -> None:
    """A top-up, hold or adjustment: push the new balance and runway to the customer's
    sockets now. Metering's usage postings are pushed by metering, once per run."""
    if source == "usage":
        return
    events.publish_balances(customer_ids=[customer_id])


def wallet_changed_check_low_balance(sender: Any, *, customer_id: int, **kwargs: Any) -> None:
    """Any wallet change may cross a low-balance step (a top-up restarts what low balance
    stopped, a posting may run it dry): check that customer on a worker."""
    from deployments.tasks import low_balance_check_task

    try:
        low_balance_check_task.delay(customer_id)
    except Exception:  # the broker is down: beat's sweep checks every customer anyway
        logger.exception("low_balance.check_not_queued", extra={"customer": customer_id})
