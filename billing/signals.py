"""Signals billing sends, so higher apps can react to money without billing importing them.

`wallet_changed` is sent after the commit of anything that changes a wallet's posted or
held amount (a posting, a hold placed, changed or released), once per wallet, with
`customer_id` and `currency`. Usage that metering posts in bulk
(`usage_charges_post_many`) adds `source="usage"`: it arrives for many wallets at once,
every minute, so receivers may treat it more lightly (metering pushes balances itself).
Deployments listen (runway pushes, low balance, restarting what low balance stopped);
receivers must be quick and must not raise.
"""

from django.dispatch import Signal

wallet_changed = Signal()
