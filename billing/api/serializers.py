"""Billing API shapes. Money is a decimal string with 6 places, as catalog prices are."""

from rest_framework import serializers

from billing.models import Invoice, InvoiceLine, TopUp, TransactionKind
from billing.money import micros_to_decimal
from billing.runway import balance_document
from billing.selectors import WalletBalance
from cloudportal.api.serializers import QueryFilter, StrictInput


class MoneyField(serializers.DecimalField):
    """Ledger micro-units out as a decimal string, e.g. 12_500_000 → "12.500000"."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_digits=20, decimal_places=6, **kwargs)  # type: ignore[arg-type]

    def to_representation(self, value: int) -> str:  # type: ignore[override]
        return super().to_representation(micros_to_decimal(int(value)))


class BalanceOutput(serializers.Serializer):
    currency = serializers.CharField()
    posted = MoneyField(help_text="Top-ups minus charges so far; negative when usage ran over.")
    held = MoneyField(help_text="Reserved for running machines' next hour.")
    available = MoneyField(help_text="posted - held: what you can spend.")
    hourly_cost = MoneyField(
        help_text="What your running machines (compute and storage) and stopped ones "
        "(storage) cost per hour."
    )
    runway_hours = serializers.DecimalField(
        max_digits=20,
        decimal_places=2,
        allow_null=True,
        help_text="How long the available balance lasts at that cost (available ÷ "
        "hourly_cost, rounded down); null when nothing costs money.",
    )

    def to_representation(self, instance: WalletBalance) -> dict[str, object]:
        return dict(balance_document(balance=instance, hourly_cost=self.context["hourly_cost"]))


class WalletTransactionFilter(QueryFilter):
    kind = serializers.ChoiceField(choices=TransactionKind.choices, required=False)
    since = serializers.DateTimeField(required=False, help_text="Posted at or after (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Posted before (ISO 8601).")

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since >= until:  # type: ignore[operator]
            raise serializers.ValidationError({"until": ["Must be later than 'since'."]})
        return attrs


class WalletTransactionOutput(serializers.Serializer):
    id = serializers.CharField(source="transaction.public_id", help_text="txn_… id.")
    kind = serializers.ChoiceField(choices=TransactionKind.choices, source="transaction.kind")
    memo = serializers.CharField(source="transaction.memo")
    currency = serializers.CharField()
    amount = MoneyField(help_text="Positive: money in; negative: money out.")
    balance_after = MoneyField(help_text="The posted balance after this transaction.")
    sequence = serializers.IntegerField(
        source="account_seq", help_text="1, 2, 3… on your wallet, without gaps."
    )
    created_at = serializers.DateTimeField()


class InvoicePartyOutput(serializers.Serializer):
    name = serializers.CharField()
    address = serializers.CharField()
    country = serializers.CharField()
    tax_id = serializers.CharField()
    email = serializers.CharField()


class InvoiceLineOutput(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=InvoiceLine.Kind.choices,
        help_text="usage: a charge; other: an adjustment, refund, credit or dispute (the "
        "change to your balance); payment: a top-up received.",
    )
    description = serializers.CharField()
    deployment_id = serializers.CharField(source="subject", help_text="dep_… for usage lines.")
    component = serializers.CharField(help_text="compute or storage, for usage lines.")
    quantity = serializers.DecimalField(
        max_digits=16, decimal_places=4, allow_null=True, help_text="Hours or GB-hours."
    )
    unit = serializers.CharField()
    rate = serializers.DecimalField(max_digits=14, decimal_places=6, allow_null=True)
    amount = MoneyField()
    transaction_id = serializers.CharField(source="reference", help_text="txn_… when one posting.")
    posted_at = serializers.DateTimeField(allow_null=True)


class InvoiceOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="inv_… id.")
    number = serializers.CharField(help_text="INV-<year>-<6 digits>, without gaps per year.")
    period = serializers.SerializerMethodField(help_text="The UTC month, YYYY-MM.")
    currency = serializers.CharField()
    total = MoneyField(help_text="The month's usage: equals its usage postings to the micro-unit.")
    opening_balance = MoneyField()
    payments_total = MoneyField()
    other_total = MoneyField()
    closing_balance = MoneyField()
    issued_at = serializers.DateTimeField()

    def get_period(self, invoice: Invoice) -> str:
        return f"{invoice.period_start:%Y-%m}"


class InvoiceDetailOutput(InvoiceOutput):
    seller = InvoicePartyOutput()
    buyer = InvoicePartyOutput()
    lines = InvoiceLineOutput(many=True)


class ReceiptOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="rcp_… id.")
    transaction_id = serializers.CharField(source="transaction.public_id")
    amount = MoneyField()
    currency = serializers.CharField()
    payment_method = serializers.CharField()
    paid_at = serializers.DateTimeField()
    seller = InvoicePartyOutput()
    buyer = InvoicePartyOutput()


class TopUpCreateInput(StrictInput):
    amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        help_text='US dollars, e.g. "50.00"; between the limits (default $5 to $5,000).',
    )


class TopUpOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="top_… id.")
    status = serializers.ChoiceField(choices=TopUp.Status.choices)
    amount = serializers.SerializerMethodField(help_text="Asked for, in dollars.")
    amount_paid = serializers.SerializerMethodField(help_text="Received, in dollars.")
    amount_refunded = serializers.SerializerMethodField(help_text="Refunded, in dollars.")
    currency = serializers.CharField()
    checkout_url = serializers.CharField(
        allow_blank=True, help_text="Where to pay (Stripe Checkout) while the status is pending."
    )
    card_brand = serializers.CharField(allow_blank=True)
    card_last4 = serializers.CharField(allow_blank=True)
    failure_message = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)

    def get_amount(self, topup: TopUp) -> str:
        return f"{topup.amount / 100:.2f}"

    def get_amount_paid(self, topup: TopUp) -> str:
        return f"{topup.amount_paid / 100:.2f}"

    def get_amount_refunded(self, topup: TopUp) -> str:
        return f"{topup.amount_refunded / 100:.2f}"
