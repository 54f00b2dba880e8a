"""Deployments' reactions to other apps' signals (connected in DeploymentsConfig.ready)."""

from typing import Any

from deployments import events


def wallet_changed_publish(
    sender: Any, *, customer_id: int, currency: str, source: str = "", **kwargs: Any
) -> None:
    """A top-up, hold or adjustment: push the new balance and runway to the customer's
    sockets now. Metering's usage postings are pushed by metering, once per run."""
    if source == "usage":
        return
    events.publish_balances(customer_ids=[customer_id])
