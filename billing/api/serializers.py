"""Billing API shapes. Money is a decimal string with 6 places, as catalog prices are."""

from rest_framework import serializers

from billing.models import TransactionKind
from billing.money import micros_to_decimal
from billing.runway import balance_document
from billing.selectors import WalletBalance


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


class WalletTransactionFilter(serializers.Serializer):
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
