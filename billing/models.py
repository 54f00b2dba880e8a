"""The ledger: accounts, transactions and their entries, and holds on wallets.

Double-entry and append-only. Every amount is a signed integer of micro-units (1 USD =
1,000,000) in the account's currency, and the sign convention is one for every account:
an entry > 0 credits the account, < 0 debits it, and a balance is the sum of its
entries. So a wallet holding $10 reads +10,000,000, and the card clearing account that
received that money reads -10,000,000; the entries of a transaction, and all accounts of
one currency, sum to zero.

Entries and transactions are never updated or deleted (PostgreSQL triggers installed by
migration 0001 refuse it); corrections are new transactions. An account row caches its
posted balance, held amount and entry sequence, changed only by `billing.services`
under a row lock in the same transaction as the entries.
"""

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Customer
from cloudportal.ids import PublicIdField

CURRENCIES = ("USD",)
DEFAULT_CURRENCY = "USD"
MICROS_PER_UNIT = 1_000_000
# A system account (clearing, revenue…) is kept as this many rows ("shards"), a posting
# picking one by its key: every top-up touches card clearing, so one row would make all
# postings wait for each other. Its balance is the sum of its shards. Wallets have one.
SYSTEM_ACCOUNT_SHARDS = 8


class AccountKind(models.TextChoices):
    WALLET = "wallet", "Customer wallet"
    CLEARING = "clearing", "Clearing (money at a payment rail)"
    REVENUE = "revenue", "Revenue"
    REFUNDS = "refunds", "Refunds"
    DISPUTES = "disputes", "Disputes"
    PROMOTIONS = "promotions", "Promotions"
    ADJUSTMENTS = "adjustments", "Adjustments"


class SystemAccount(models.TextChoices):
    """The chart of accounts besides the wallets; the value is the account's code."""

    CLEARING_STRIPE_CARD = "clearing:stripe_card", "Card payments (Stripe)"
    CLEARING_STRIPE_BANK = "clearing:stripe_bank", "Bank transfers (Stripe)"
    CLEARING_CRYPTO = "clearing:crypto", "Crypto payments"
    CLEARING_BANK_TRANSFER = "clearing:bank_transfer", "Bank transfers (own account)"
    REVENUE_COMPUTE = "revenue:compute", "Revenue: compute"
    REVENUE_STORAGE = "revenue:storage", "Revenue: storage"
    REFUNDS = "refunds:payable", "Refunds to customers"
    DISPUTES = "disputes:lost", "Disputes (chargebacks)"
    PROMOTIONS = "promotions:credits", "Promotional credits"
    ADJUSTMENTS = "adjustments:staff", "Staff adjustments"

    @property
    def account_kind(self) -> str:
        return self.value.split(":", 1)[0]


class TransactionKind(models.TextChoices):
    TOPUP = "topup", "Top-up"
    USAGE = "usage", "Usage"
    REFUND = "refund", "Refund"
    DISPUTE = "dispute", "Dispute"
    DISPUTE_REVERSAL = "dispute_reversal", "Dispute won"
    PROMOTION = "promotion", "Promotional credit"
    ADJUSTMENT = "adjustment", "Adjustment"


# THE OVERDRAW RULE. `billing.services.ledger_post` reads it here, and only there: a
# transaction that takes money out of a wallet must leave its available balance (posted
# - held) at or above zero — that covers payments out the customer starts (refunds to
# card), promotions taken back and staff debits. Except these kinds, which record money
# already gone and are always posted, even below zero (the low-balance rules act on a
# negative wallet): usage that was consumed, and a dispute the bank has already taken.
# (The check itself runs inside the posting: the database function `billing_ledger_post`,
# migration 0003, on PostgreSQL; `services._cover_check` on SQLite.)
KINDS_THAT_MAY_OVERDRAW = frozenset({TransactionKind.USAGE, TransactionKind.DISPUTE})


def wallet_code(customer_public_id: str) -> str:
    return f"wallet:{customer_public_id}"


class LedgerAccount(models.Model):
    code = models.CharField(max_length=80)
    shard = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    customer = models.ForeignKey(
        "accounts.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
    )
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    posted_balance = models.BigIntegerField(default=0)
    held_amount = models.BigIntegerField(default=0)
    entry_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["code", "currency", "shard"], name="billing_account_code"
            ),
            models.UniqueConstraint(
                fields=["customer", "currency"],
                condition=Q(kind="wallet"),
                name="billing_account_one_wallet",
            ),
            models.CheckConstraint(
                condition=Q(kind="wallet", customer__isnull=False)
                | (~Q(kind="wallet") & Q(customer__isnull=True)),
                name="billing_account_wallet_has_customer",
            ),
            models.CheckConstraint(
                condition=Q(held_amount__gte=0), name="billing_account_held_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(entry_seq__gte=0), name="billing_account_seq_not_negative"
            ),
        ]

    def __str__(self) -> str:
        shard = f"#{self.shard}" if self.shard else ""
        return f"{self.code}{shard} ({self.currency})"

    @property
    def available(self) -> int:
        return self.posted_balance - self.held_amount


class LedgerTransaction(models.Model):
    """One business event (a top-up, an hour of usage…) as two or more balanced entries."""

    public_id = PublicIdField(prefix="txn")
    idempotency_key = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=20, choices=TransactionKind.choices)
    memo = models.CharField(max_length=500, blank=True)
    currency = models.CharField(max_length=3)
    # sha256 of kind, currency and legs: a replayed key with other contents is a bug.
    payload_hash = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["created_at"]),
            # The few postings that are not usage, by month: the invoice run finds
            # top-ups, refunds and adjustments without reading the usage.
            models.Index(
                fields=["created_at"], condition=~Q(kind="usage"), name="billing_txn_not_usage"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.kind} ({self.idempotency_key})"


class LedgerEntry(models.Model):
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    # Indexed by the (account, account_seq) constraint.
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    amount = models.BigIntegerField(help_text="Micro-units; > 0 credits the account, < 0 debits.")
    currency = models.CharField(max_length=3)
    account_seq = models.BigIntegerField(help_text="1, 2, 3… per account, without gaps.")
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["account", "account_seq"], name="billing_entry_seq"),
            models.CheckConstraint(condition=~Q(amount=0), name="billing_entry_amount_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}#{self.account_seq} {self.amount:+d}"


class Hold(models.Model):
    """Money reserved on a wallet (e.g. a running deployment's next hour): not spendable."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        RELEASED = "released"

    public_id = PublicIdField(prefix="hld")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="holds")
    idempotency_key = models.CharField(max_length=255, unique=True)
    amount = models.BigIntegerField()
    # An opaque reference the caller understands, e.g. a deployment's public id.
    subject = models.CharField(max_length=100, blank=True)
    memo = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="billing_hold_not_negative"),
        ]
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["account", "status"])]

    def __str__(self) -> str:
        return f"{self.public_id} {self.amount} ({self.status})"


class UsageCharge(models.Model):
    """What one subject (a deployment) used of one component in one 60-second UTC window.

    Written by `billing.services.usage_charge_post` together with its ledger posting;
    unique per (subject, component, window), so metering twice charges nothing twice.
    Invoices are built from these rows (`subject` and `label` name the deployment as it
    was; billing never imports deployments).
    """

    class Component(models.TextChoices):
        COMPUTE = "compute", "Compute"
        STORAGE = "storage", "Storage"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="usage_charges")
    subject = models.CharField(max_length=40, help_text="The deployment's public id.")
    label = models.CharField(max_length=200, blank=True, help_text="Its name when charged.")
    component = models.CharField(max_length=10, choices=Component.choices)
    window_start = models.DateTimeField(help_text="UTC, on a minute boundary.")
    seconds = models.PositiveSmallIntegerField(help_text="Billed seconds in the window (≤ 60).")
    quantity = models.DecimalField(
        max_digits=12, decimal_places=3, default=1, help_text="Machines, or GB of storage."
    )
    rate = models.DecimalField(
        max_digits=14, decimal_places=6, help_text="Price per unit-hour, as captured at create."
    )
    amount = models.BigIntegerField(help_text="Micro-units charged (cumulative rounding).")
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    transaction = models.ForeignKey(
        LedgerTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="usage_charges",
        help_text="The posting; empty when the window rounds to nothing.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["subject", "component", "window_start"], name="usage_charge_once"
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["customer", "window_start"]),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.component} {self.window_start:%Y-%m-%d %H:%M} {self.amount}"


class UsageWatermark(models.Model):
    """How far usage is posted on the wallets: every window that starts before
    `posted_until` is charged. Its poster (metering, in deployments) advances it in the
    transaction that posts the windows; an invoice for a month waits until it has passed the
    month's end. One row; none while usage has never been posted."""

    name = models.CharField(max_length=32, primary_key=True, default="usage")
    posted_until = models.DateTimeField(help_text="UTC, on a minute boundary.")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"usage posted until {self.posted_until:%Y-%m-%d %H:%M}"


class CustomerBalance(Customer):
    """A customer as the staff console's billing section shows it: balances, adjust action."""

    class Meta:
        proxy = True
        verbose_name = "customer balance"
        permissions = (("adjust_balance", "Can credit or debit a customer's balance"),)


# --- Invoices, credit notes, receipts -----------------------------------------------------


class BillingDetails(models.Model):
    """Who the customer's invoices and receipts are made out to (a settings form)."""

    customer = models.OneToOneField(
        Customer, on_delete=models.PROTECT, related_name="billing_details"
    )
    name = models.CharField(max_length=200, blank=True)
    address = models.TextField(max_length=1000, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2.")
    tax_id = models.CharField(max_length=50, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.name}"


class DocumentSeries(models.TextChoices):
    INVOICE = "INV", "Invoice"
    CREDIT_NOTE = "CN", "Credit note"


class DocumentCounter(models.Model):
    """The last number given in one series and year; locked FOR UPDATE by the transaction
    that issues the next document, so numbers have no gaps and no duplicates."""

    series = models.CharField(max_length=4, choices=DocumentSeries.choices)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["series", "year"], name="billing_counter_once"),
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_number}"


class Invoice(models.Model):
    """A customer's month, issued once and never changed: its lines, totals and both
    parties' details are a snapshot. The current month is a draft computed on the fly
    (`billing.invoices.invoice_draft`), never stored."""

    public_id = PublicIdField(prefix="inv")
    number = models.CharField(max_length=20, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    period_start = models.DateField(help_text="The first day of the UTC month invoiced.")
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    opening_balance = models.BigIntegerField(help_text="Micro-units.")
    usage_total = models.BigIntegerField(help_text="The month's usage postings, micro-units.")
    other_total = models.BigIntegerField(help_text="Adjustments, refunds, credits, disputes.")
    payments_total = models.BigIntegerField(help_text="Top-ups received in the month.")
    closing_balance = models.BigIntegerField(help_text="Micro-units.")
    seller = models.JSONField(default=dict)
    buyer = models.JSONField(default=dict)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["customer", "period_start", "currency"], name="billing_invoice_once"
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["customer", "issued_at"])]

    def __str__(self) -> str:
        return self.number

    @property
    def total(self) -> int:
        """What the month's usage cost: the invoice total."""
        return self.usage_total


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        USAGE = "usage", "Usage"
        OTHER = "other", "Other change to the balance"
        PAYMENT = "payment", "Payment received"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.CharField(max_length=500)
    subject = models.CharField(max_length=40, blank=True)
    component = models.CharField(max_length=10, blank=True)
    quantity = models.DecimalField(
        max_digits=16, decimal_places=4, null=True, blank=True, help_text="Hours or GB-hours."
    )
    unit = models.CharField(max_length=10, blank=True)
    rate = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    amount = models.BigIntegerField(
        help_text="Micro-units: a charge for usage; the change to the balance otherwise."
    )
    reference = models.CharField(max_length=40, blank=True, help_text="The txn_… posting.")
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["invoice", "position"], name="billing_line_position"),
        ]
        ordering = ("invoice", "position")

    def __str__(self) -> str:
        return f"{self.invoice_id}#{self.position} {self.description}"


class CreditNote(models.Model):
    """A correction to an issued invoice: credits the wallet (key
    `creditnote:<invoice>:<submission>` from the staff form, else `creditnote:<id>`)."""

    public_id = PublicIdField(prefix="crn")
    number = models.CharField(max_length=20, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    amount = models.BigIntegerField(help_text="Micro-units credited.")
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    reason = models.CharField(max_length=500)
    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="credit_note"
    )
    seller = models.JSONField(default=dict)
    buyer = models.JSONField(default=dict)
    issued_by = models.CharField(max_length=254, blank=True)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_credit_positive"),
        ]

    def __str__(self) -> str:
        return self.number


class Receipt(models.Model):
    """The receipt of one top-up (a TOPUP posting on the wallet), with both parties'
    details as they stood when it was issued, with the top-up's credit."""

    public_id = PublicIdField(prefix="rcp")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="receipts")
    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="receipt"
    )
    amount = models.BigIntegerField(help_text="Micro-units received.")
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    paid_at = models.DateTimeField()
    payment_method = models.CharField(max_length=100, blank=True)
    seller = models.JSONField(default=dict)
    buyer = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["customer", "paid_at"])]

    def __str__(self) -> str:
        return f"{self.public_id} {self.amount}"


# --- Card top-ups (billing.payments) ------------------------------------------------------


class TopUp(models.Model):
    """A customer's card payment into their wallet, through a payment provider's checkout.

    Created before the provider's checkout session; credited exactly once (ledger key
    `stripe:pi:<payment intent>`) by `billing.payments.topup_fulfil`, whichever signal
    comes first. Amounts are the currency's minor units (cents) as the provider counts.
    """

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        PENDING = "pending", "Waiting for payment"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Paid"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        CANCELED = "canceled", "Canceled"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"
        DISPUTED = "disputed", "Disputed"
        NEEDS_REVIEW = "needs_review", "Needs review"

    # Where a status may go (the payment decides; a stale signal changes nothing).
    # A paid top-up is never "unpaid" again; "failed" may still be paid on a later try, and
    # one that failed because its Checkout Session could not be made goes back to pending
    # when a retry under its Idempotency-Key makes it (only `topup_create` moves to pending).
    OPEN = frozenset({Status.CREATED, Status.PENDING, Status.PROCESSING, Status.FAILED})
    PAID = frozenset(
        {
            Status.SUCCEEDED,
            Status.PARTIALLY_REFUNDED,
            Status.REFUNDED,
            Status.DISPUTED,
            Status.NEEDS_REVIEW,
        }
    )
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.CREATED: frozenset({Status.PENDING, Status.FAILED, *PAID}),
        Status.PENDING: frozenset(
            {Status.PROCESSING, Status.FAILED, Status.EXPIRED, Status.CANCELED, *PAID}
        ),
        Status.PROCESSING: frozenset({Status.FAILED, Status.CANCELED, Status.EXPIRED, *PAID}),
        Status.FAILED: frozenset(
            {Status.PENDING, Status.PROCESSING, Status.EXPIRED, Status.CANCELED, *PAID}
        ),
        Status.SUCCEEDED: frozenset(
            {Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.DISPUTED, Status.NEEDS_REVIEW}
        ),
        Status.PARTIALLY_REFUNDED: frozenset(
            {Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.SUCCEEDED, Status.DISPUTED}
        ),
        Status.REFUNDED: frozenset({Status.PARTIALLY_REFUNDED, Status.SUCCEEDED}),
        Status.DISPUTED: frozenset(
            {Status.SUCCEEDED, Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.NEEDS_REVIEW}
        ),
        Status.NEEDS_REVIEW: frozenset(
            {Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.DISPUTED}
        ),
        Status.EXPIRED: frozenset({*PAID}),
        Status.CANCELED: frozenset({*PAID}),
    }

    public_id = PublicIdField(prefix="top")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="topups")
    provider = models.CharField(max_length=20, default="stripe")
    amount = models.PositiveIntegerField(help_text="Asked for, in cents.")
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    request_key = models.CharField(
        max_length=255, blank=True, help_text="The API's Idempotency-Key that created it."
    )
    checkout_session_id = models.CharField(max_length=255, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    payment_intent_id = models.CharField(max_length=255, blank=True)
    amount_paid = models.PositiveIntegerField(default=0, help_text="Cents received.")
    currency_paid = models.CharField(max_length=3, blank=True)
    amount_refunded = models.PositiveIntegerField(default=0, help_text="Cents refunded.")
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    credit = models.ForeignKey(
        LedgerTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The wallet credit, once paid.",
    )
    needs_review = models.BooleanField(default=False)
    review_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = (("refund_topup", "Can refund a card top-up"),)
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["customer", "request_key"],
                condition=~Q(request_key=""),
                name="topup_request_key",
            ),
            models.UniqueConstraint(
                fields=["payment_intent_id"],
                condition=~Q(payment_intent_id=""),
                name="topup_one_payment_intent",
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["customer", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["checkout_session_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.amount / 100:.2f} {self.currency} ({self.status})"

    @property
    def refundable(self) -> int:
        """Cents that may still be refunded."""
        return max(self.amount_paid - self.amount_refunded, 0)


class StripeCustomer(models.Model):
    """A portal customer's customer object at Stripe, created on their first top-up."""

    customer = models.OneToOneField(
        Customer, on_delete=models.PROTECT, related_name="stripe_customer"
    )
    stripe_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.stripe_id


class TopUpRefund(models.Model):
    """Money returned to the card, from the staff console or Stripe's dashboard."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"
        NEEDS_REVIEW = "needs_review", "Needs review"

    public_id = PublicIdField(prefix="rfd")
    topup = models.ForeignKey(TopUp, on_delete=models.PROTECT, related_name="refunds")
    amount = models.PositiveIntegerField(help_text="Cents.")
    stripe_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REQUESTED)
    reason = models.CharField(max_length=500, blank=True)
    requested_by = models.CharField(max_length=200, blank=True, help_text="Staff, or Stripe.")
    # The staff form's request: the same form sent twice makes one refund.
    submission = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    debit = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reversal = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["stripe_id"], condition=~Q(stripe_id=""), name="topup_refund_stripe_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.amount / 100:.2f} ({self.status})"


class TopUpDispute(models.Model):
    """A chargeback on a top-up: the disputed amount is held until it is won or lost."""

    topup = models.ForeignKey(TopUp, on_delete=models.PROTECT, related_name="disputes")
    stripe_id = models.CharField(max_length=255, unique=True)
    amount = models.PositiveIntegerField(help_text="Cents.")
    status = models.CharField(max_length=40)
    reason = models.CharField(max_length=100, blank=True)
    hold = models.ForeignKey(Hold, on_delete=models.PROTECT, null=True, blank=True)
    loss = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.stripe_id} ({self.status})"


class WebhookEvent(models.Model):
    """The inbox: each provider event stored once, answered at once, processed by a task."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (a type we do not act on)"
        FAILED = "failed", "Failed"

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    source = models.CharField(max_length=10, default="webhook", help_text="webhook or pull")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_once"),
        ]
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["status", "received_at"])]
        permissions = (("reprocess_webhookevent", "Can process a failed webhook event again"),)

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} {self.type} ({self.status})"


class PaymentCursor(models.Model):
    """Where the pull job stopped in a provider's event list."""

    provider = models.CharField(max_length=20, unique=True)
    last_event_id = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.provider} after {self.last_event_id or '(start)'}"
