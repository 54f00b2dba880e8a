"""Card top-ups through Stripe: every write of a top-up, its refunds and disputes, the
webhook inbox and the pull reconciliation (keyword-only services, as billing.services).

One rule makes the money right: whatever brings news of a payment (a webhook, the
customer's return to the success page, the pull job), the object is re-read from Stripe
and handed to the same idempotent service, which credits the wallet under the ledger key
`stripe:pi:<payment intent>` with the top-up row locked. Events are only hints: their
order, duplicates and contents do not matter. Provider calls never run inside a
database transaction.

Modules: `topups` (create, fulfil), `refunds`, `disputes`, `inbox` (webhooks and the pull
job); everything callers use is re-exported here.
"""

from billing.payments.disputes import dispute_apply, dispute_sync
from billing.payments.inbox import (
    HANDLERS,
    WebhookRejected,
    payments_pull,
    webhook_event_process,
    webhook_event_process_again,
    webhook_event_store,
    webhook_receive,
    webhook_verify,
)
from billing.payments.refunds import refund_apply, refund_sync, topup_refund
from billing.payments.topups import (
    cents_to_micros,
    topup_create,
    topup_fulfil,
    topup_limits,
    topup_payment_apply,
    topup_refresh,
    topup_session_sync,
)

__all__ = [
    "HANDLERS",
    "WebhookRejected",
    "cents_to_micros",
    "dispute_apply",
    "dispute_sync",
    "payments_pull",
    "refund_apply",
    "refund_sync",
    "topup_create",
    "topup_fulfil",
    "topup_limits",
    "topup_payment_apply",
    "topup_refresh",
    "topup_refund",
    "topup_session_sync",
    "webhook_event_process",
    "webhook_event_process_again",
    "webhook_event_store",
    "webhook_receive",
    "webhook_verify",
]
