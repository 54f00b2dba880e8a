"""Billing's domain errors; each `code` is part of the API contract."""

from cloudportal.exceptions import DomainError


class InsufficientFunds(DomainError):
    """The wallet's available balance does not cover a debit that may not overdraw it."""

    code = "insufficient_funds"
    status = 402
    title = "Insufficient balance"

    def __init__(self, detail: str, *, shortfall: int, available: int | None = None) -> None:
        self.shortfall = shortfall  # micro-units missing
        self.available = available  # the wallet's available balance it found (holds say it)
        super().__init__(detail)


class LedgerTransactionInvalid(DomainError):
    """A posting that breaks a ledger rule (unbalanced, one leg, zero or float amount…)."""

    code = "ledger_transaction_invalid"
    status = 400
    title = "Invalid ledger transaction"


class LedgerKeyReused(DomainError):
    """An idempotency key that already names a different transaction: a caller's bug."""

    code = "ledger_key_reused"
    status = 409
    title = "Idempotency key already used for another transaction"


class HoldNotActive(DomainError):
    code = "hold_not_active"
    status = 409
    title = "The hold is already released"


class AdjustmentInvalid(DomainError):
    code = "adjustment_invalid"
    status = 400
    title = "Invalid balance adjustment"


class InvoicePeriodOpen(DomainError):
    """The month is not over: it is a live draft, which is never issued or numbered."""

    code = "invoice_period_open"
    status = 409
    title = "The month is not over yet"


class InvoiceUsagePending(DomainError):
    """The month is over but its usage is not all posted yet (metering is behind): the
    invoice is issued by the next run after it is."""

    code = "invoice_usage_pending"
    status = 409
    title = "The month's usage is still being posted"


class CreditNoteInvalid(DomainError):
    code = "credit_note_invalid"
    status = 400
    title = "Invalid credit note"


class BillingDetailsInvalid(DomainError):
    code = "billing_details_invalid"
    status = 400
    title = "Invalid billing details"


class PaymentProviderError(DomainError):
    """The payment provider refused a call or could not be reached."""

    code = "payment_provider_error"
    status = 502
    title = "The payment provider did not accept the request"

    def __init__(
        self, detail: str, *, retryable: bool, provider_code: str = "", provider_param: str = ""
    ) -> None:
        self.retryable = retryable
        self.provider_code = provider_code
        self.provider_param = provider_param  # the request parameter the provider refused
        super().__init__(detail)


class TopUpInvalid(DomainError):
    code = "topup_invalid"
    status = 400
    title = "Invalid top-up"


class RefundInvalid(DomainError):
    """A refund of more than is left of the top-up, or than the wallet has available."""

    code = "refund_invalid"
    status = 400
    title = "Invalid refund"


class TopUpRequestKeyReused(DomainError):
    """An Idempotency-Key that already created a top-up of another amount."""

    code = "idempotency_key_reused"
    status = 422
    title = "Idempotency key already used for another request"


class WebhookEventNotFailed(DomainError):
    """Only a failed inbox event is processed again by hand; the others are done or queued."""

    code = "webhook_event_not_failed"
    status = 409
    title = "Only a failed webhook event can be processed again"
