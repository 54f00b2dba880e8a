"""Deployments' reactions to other apps' signals (connected in DeploymentsConfig.ready):
translate, queue one task or push, never raise."""

import logging
from typing import Any

from deployments import wallet_reactions

logger = logging.getLogger(__name__)


def wallet_changed_react(
    sender: Any, *, customer_id: int, currency: str, source: str = "", **kwargs: Any
) -> None:
    """A posting or a hold: the customer's balance sockets want the new balance and runway
    (metering's usage postings are pushed by metering, once per run) and low balance may
    have a step to take (a top-up restarts what it stopped, a posting may run it dry).
    Both run coalesced on a worker (`wallet_reactions`); here, a mark kept for a moment."""
    try:
        wallet_reactions.wallet_reaction_mark(customer_id=customer_id, push=source != "usage")
    except Exception:  # Redis or the broker is down: beat's sweep checks every customer
        logger.exception("wallet_reactions.not_marked", extra={"customer": customer_id})
