"""Refunds of paid top-ups: from the staff console or Stripe's dashboard."""

import logging
import uuid

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts import services as accounts_services
from accounts.activity import Actor
from accounts.models import ActivityVerb
from billing import services, stripe_gateway
from billing.exceptions import (
    InsufficientFunds,
    PaymentProviderError,
    RefundInvalid,
)
from billing.models import (
    SystemAccount,
    TopUp,
    TopUpRefund,
    TransactionKind,
)
from billing.payments.topups import (
    _flag,
    _hold_release,
    _move,
    _save,
    _settled_status,
    cents_to_micros,
)
from billing.services import Line
from billing.stripe_gateway import PROVIDER

logger = logging.getLogger(__name__)


# --- Refunds ------------------------------------------------------------------------------


DASHBOARD = "Stripe dashboard"


def _refund_hold_key(refund: TopUpRefund) -> str:
    return f"refund:{refund.public_id}"


def topup_refund(
    *,
    topup: TopUp,
    amount: int,
    reason: str,
    actor: Actor,
    submission: uuid.UUID | None = None,
) -> TopUpRefund:
    """Staff refund of `amount` cents to the card: never more than is left of the top-up,
    nor than the wallet's available balance (reserved by a hold until Stripe answers).

    `submission` names the request (the staff form draws one): asked again with it, the
    refund it made is returned and nothing more is refunded."""
    with transaction.atomic():
        locked = TopUp.objects.select_for_update().get(pk=topup.pk)
        if submission is not None:
            done = locked.refunds.filter(submission=submission).first()
            if done is not None:
                return done
        in_flight = (
            locked.refunds.filter(status=TopUpRefund.Status.REQUESTED).aggregate(
                total=Sum("amount")
            )["total"]
            or 0
        )
        left = locked.refundable - in_flight
        if locked.credit_id is None or not locked.payment_intent_id:
            raise RefundInvalid("Only a paid top-up can be refunded.")
        if type(amount) is not int or not 0 < amount <= left:
            message = f"Refund between $0.01 and ${left / 100:,.2f}, what is left of it."
            raise RefundInvalid(message, errors={"amount": [message]})
        refund = TopUpRefund.objects.create(
            topup=locked,
            amount=amount,
            reason=reason.strip()[:500],
            requested_by=actor.label,
            submission=submission,
        )
        try:
            services.hold_place(
                customer=locked.customer,
                key=_refund_hold_key(refund),
                amount=cents_to_micros(amount),
                subject=locked.public_id,
                memo="Refund to card",
            )
        except InsufficientFunds as error:
            message = (
                f"The wallet has ${(cents_to_micros(amount) - error.shortfall) / 1e6:,.2f} "
                "available: a refund cannot take it below zero."
            )
            raise RefundInvalid(message, errors={"amount": [message]}) from None
    try:
        stripe_refund = stripe_gateway.refund_create(
            payment_intent_id=locked.payment_intent_id,
            amount=amount,
            refund_public_id=refund.public_id,
            reason=refund.reason,
        )
    except PaymentProviderError:
        with transaction.atomic():
            TopUpRefund.objects.filter(pk=refund.pk).update(
                status=TopUpRefund.Status.FAILED, updated_at=timezone.now()
            )
            _hold_release(_refund_hold_key(refund))
        raise
    return refund_apply(refund=stripe_refund) or refund


def refund_sync(*, refund_id: str) -> TopUpRefund | None:
    return refund_apply(refund=stripe_gateway.refund_get(refund_id=refund_id))


def refund_apply(*, refund: stripe_gateway.Refund) -> TopUpRefund | None:
    """Debit the wallet once for a refund that went out (`stripe:re:<id>`); reverse it once
    if it failed (`stripe:re:<id>:failed`). Refunds made in Stripe's dashboard arrive here
    too, with no row yet."""
    with transaction.atomic():
        topup = TopUp.objects.select_for_update().filter(payment_intent_id=refund.payment_intent_id)
        locked_topup = topup.first()
        if locked_topup is None:
            logger.error("refund.unknown_payment", extra={"refund": refund.id})
            return None
        row = TopUpRefund.objects.select_for_update().filter(stripe_id=refund.id).first()
        if row is None and refund.metadata.get("refund"):
            row = (
                TopUpRefund.objects.select_for_update()
                .filter(public_id=refund.metadata["refund"], topup=locked_topup)
                .first()
            )
        if row is None:
            row = TopUpRefund.objects.create(
                topup=locked_topup,
                amount=refund.amount,
                requested_by=DASHBOARD,
                reason="Refunded in Stripe's dashboard",
            )
        if not row.stripe_id:
            row.stripe_id = refund.id
        went_out = refund.status in {"pending", "requires_action", "succeeded"}
        if went_out and row.debit_id is None and row.status != TopUpRefund.Status.NEEDS_REVIEW:
            _refund_debit(locked_topup, row, refund)
        elif refund.status == "succeeded" and row.status == TopUpRefund.Status.PENDING:
            row.status = TopUpRefund.Status.SUCCEEDED  # debited while pending; now it is done
        elif refund.status in {"failed", "canceled"}:
            _refund_reverse(locked_topup, row, refund)
        row.updated_at = timezone.now()
        row.save(update_fields=["stripe_id", "status", "debit", "reversal", "updated_at"])
    return row


def _refund_debit(topup: TopUp, row: TopUpRefund, refund: stripe_gateway.Refund) -> None:
    _hold_release(_refund_hold_key(row))
    micros = cents_to_micros(refund.amount)
    try:
        with transaction.atomic():  # a savepoint: a refused posting leaves the rest usable
            row.debit = services.ledger_post(
                key=f"stripe:re:{refund.id}",
                kind=TransactionKind.REFUND,
                memo=f"Refund to card ({topup.public_id})",
                lines=[
                    Line.wallet(topup.customer, -micros),
                    Line.system(SystemAccount.CLEARING_STRIPE_CARD, micros),
                ],
                currency=topup.currency,
                metadata={"topup": topup.public_id, "provider": PROVIDER, "refund": refund.id},
            )
    except InsufficientFunds:
        # Refunded in Stripe beyond what the wallet still holds: staff decide.
        row.status = TopUpRefund.Status.NEEDS_REVIEW
        _flag(topup, f"refund {refund.id} of {refund.amount} cents exceeds the available balance")
        _save(topup, "needs_review", "review_reason")
        return
    row.status = (
        TopUpRefund.Status.SUCCEEDED if refund.status == "succeeded" else TopUpRefund.Status.PENDING
    )
    topup.amount_refunded += refund.amount
    _move(topup, _settled_status(topup))
    _save(topup, "amount_refunded")
    accounts_services.activity_record(
        customer=topup.customer,
        verb=ActivityVerb.TOPUP_REFUNDED,
        actor=_refund_actor(row),
        object_id=topup.public_id,
        data={"amount": f"{refund.amount / 100:.2f}", "refund": row.public_id},
    )


def _refund_actor(row: TopUpRefund) -> Actor:
    if row.requested_by == DASHBOARD:
        return Actor(kind="system", label=DASHBOARD)
    return Actor(kind="staff", label=row.requested_by or "staff")


def _refund_reverse(topup: TopUp, row: TopUpRefund, refund: stripe_gateway.Refund) -> None:
    _hold_release(_refund_hold_key(row))
    row.status = TopUpRefund.Status.FAILED
    if row.debit_id is None or row.reversal_id is not None:
        return
    micros = cents_to_micros(refund.amount)
    row.reversal = services.ledger_post(
        key=f"stripe:re:{refund.id}:failed",
        kind=TransactionKind.REFUND,
        memo=f"Refund to card failed: credited back ({topup.public_id})",
        lines=[
            Line.wallet(topup.customer, micros),
            Line.system(SystemAccount.CLEARING_STRIPE_CARD, -micros),
        ],
        currency=topup.currency,
        metadata={"topup": topup.public_id, "provider": PROVIDER, "refund": refund.id},
    )
    topup.amount_refunded -= refund.amount
    _move(topup, _settled_status(topup))
    _save(topup, "amount_refunded")
