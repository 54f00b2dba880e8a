"""Card top-ups through Stripe: every write of a top-up, its refunds and disputes, the
webhook inbox and the pull reconciliation (keyword-only services, as billing.services).

One rule makes the money right: whatever brings news of a payment (a webhook, the
customer's return to the success page, the pull job), the object is re-read from Stripe
and handed to the same idempotent service, which credits the wallet under the ledger key
`stripe:pi:<payment intent>` with the top-up row locked. Events are only hints: their
order, duplicates and contents do not matter. Provider calls never run inside a
database transaction.
"""

import json
import logging
import time
from datetime import timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts import services as accounts_services
from accounts.activity import Actor
from accounts.models import ActivityVerb, Customer
from billing import services, stripe_gateway
from billing.exceptions import (
    InsufficientFunds,
    PaymentProviderError,
    RefundInvalid,
    TopUpInvalid,
    TopUpRequestKeyReused,
)
from billing.models import (
    DEFAULT_CURRENCY,
    Hold,
    PaymentCursor,
    StripeCustomer,
    SystemAccount,
    TopUp,
    TopUpDispute,
    TopUpRefund,
    TransactionKind,
    WebhookEvent,
)
from billing.services import Line
from billing.stripe_gateway import PROVIDER

logger = logging.getLogger(__name__)

MICROS_PER_CENT = 10_000
# How far back the pull job walks Stripe's events the first time (Stripe keeps 30 days).
PULL_FIRST_WINDOW = timedelta(days=3)

Status = TopUp.Status


def cents_to_micros(cents: int) -> int:
    return cents * MICROS_PER_CENT


def topup_limits() -> tuple[int, int]:
    """(minimum, maximum) in cents."""
    return settings.TOPUP_MIN_USD * 100, settings.TOPUP_MAX_USD * 100


def _move(topup: TopUp, to: str) -> bool:
    """Set the status if the table allows the move; a stale signal changes nothing."""
    if topup.status == to:
        return False
    if to not in TopUp.TRANSITIONS.get(topup.status, frozenset()):
        logger.info("topup.move_ignored", extra={"topup": topup.public_id, "to": to})
        return False
    topup.status = to
    return True


def _save(topup: TopUp, *fields: str) -> None:
    topup.updated_at = timezone.now()
    topup.save(update_fields=[*fields, "status", "updated_at"])


def _flag(topup: TopUp, reason: str) -> None:
    """Mark for staff; the activity log tells the customer's page history."""
    topup.needs_review = True
    topup.review_reason = (f"{topup.review_reason}; {reason}" if topup.review_reason else reason)[
        :500
    ]
    accounts_services.activity_record(
        customer=topup.customer,
        verb=ActivityVerb.TOPUP_NEEDS_REVIEW,
        actor=Actor.system(),
        object_id=topup.public_id,
        data={"reason": reason},
    )
    logger.warning("topup.needs_review", extra={"topup": topup.public_id, "reason": reason})


# --- Creating a top-up --------------------------------------------------------------------


def topup_create(
    *, customer: Customer, amount: int, actor: Actor, return_url_base: str, request_key: str = ""
) -> TopUp:
    """A top-up of `amount` cents with its Stripe Checkout Session; `checkout_url` is where
    the customer pays. With a `request_key` already used, that top-up is returned."""
    minimum, maximum = topup_limits()
    if type(amount) is not int or not minimum <= amount <= maximum:
        message = f"Top up between ${minimum // 100:,} and ${maximum // 100:,}."
        raise TopUpInvalid(message, errors={"amount": [message]})
    topup = None
    if request_key:
        topup = TopUp.objects.filter(customer=customer, request_key=request_key).first()
    if topup is not None and topup.amount != amount:
        raise TopUpRequestKeyReused(
            f"This key created a top-up of ${topup.amount / 100:,.2f}; use a new key."
        )
    if topup is None:
        try:
            with transaction.atomic():
                topup = TopUp.objects.create(
                    customer=customer, amount=amount, request_key=request_key
                )
                accounts_services.activity_record(
                    customer=customer,
                    verb=ActivityVerb.TOPUP_CREATED,
                    actor=actor,
                    object_id=topup.public_id,
                    data={"amount": f"{amount / 100:.2f}", "currency": topup.currency},
                )
        except IntegrityError:  # the same key at the same moment: the other one won
            topup = TopUp.objects.get(customer=customer, request_key=request_key)
    if topup.checkout_url:
        return topup
    try:
        stripe_customer_id = _stripe_customer(customer)
        session = stripe_gateway.checkout_session_create(
            topup_public_id=topup.public_id,
            customer_public_id=customer.public_id,
            stripe_customer_id=stripe_customer_id,
            amount=topup.amount,
            currency=topup.currency,
            product_name="GPU Cloud balance top-up",
            success_url=f"{return_url_base}/billing/top-up/{topup.public_id}/return"
            "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=f"{return_url_base}/billing/top-up/{topup.public_id}/return?canceled=1",
        )
    except PaymentProviderError as error:
        with transaction.atomic():
            locked = TopUp.objects.select_for_update().get(pk=topup.pk)
            if _move(locked, Status.FAILED):
                locked.failure_message = error.detail[:500]
                _save(locked, "failure_message")
        raise
    with transaction.atomic():
        locked = TopUp.objects.select_for_update().get(pk=topup.pk)
        locked.checkout_session_id, locked.checkout_url = session.id, session.url
        _move(locked, Status.PENDING)
        _save(locked, "checkout_session_id", "checkout_url")
    logger.info("topup.created", extra={"topup": locked.public_id, "amount": amount})
    return locked


def _stripe_customer(customer: Customer) -> str:
    existing = StripeCustomer.objects.filter(customer=customer).first()
    if existing is not None:
        return existing.stripe_id
    # Idempotency key customer:<id>: two concurrent first top-ups get the same object.
    stripe_id = stripe_gateway.customer_create(
        email=customer.user.email, customer_public_id=customer.public_id
    )
    record, _ = StripeCustomer.objects.get_or_create(
        customer=customer, defaults={"stripe_id": stripe_id}
    )
    return record.stripe_id


# --- Fulfilment ---------------------------------------------------------------------------


def topup_fulfil(*, payment_intent_id: str) -> TopUp | None:
    """Re-read the PaymentIntent and apply it: credit once when it succeeded, else move
    the top-up's status. Safe to call any number of times, from anywhere."""
    payment = stripe_gateway.payment_get(payment_intent_id=payment_intent_id)
    return topup_payment_apply(payment=payment)


def topup_refresh(*, topup: TopUp) -> TopUp:
    """The return page and the pull job: ask Stripe about a top-up still waiting."""
    if topup.status in TopUp.OPEN and topup.checkout_session_id:
        return topup_session_sync(session_id=topup.checkout_session_id) or topup
    return topup


def topup_session_sync(*, session_id: str) -> TopUp | None:
    session = stripe_gateway.checkout_session_get(session_id=session_id)
    if session.payment_status == "paid" and session.payment_intent_id:
        return topup_fulfil(payment_intent_id=session.payment_intent_id)
    with transaction.atomic():
        topup = (
            TopUp.objects.select_for_update()
            .filter(
                Q(checkout_session_id=session.id)
                | Q(public_id=session.metadata.get("topup") or session.client_reference_id)
            )
            .first()
        )
        if topup is None:
            return None
        if session.status == "expired" and _move(topup, Status.EXPIRED):
            _save(topup)
        elif session.status == "complete" and _move(topup, Status.PROCESSING):
            _save(topup)  # paid by a method that settles later (async_payment_* follows)
    return topup


def _topup_for_payment(payment: stripe_gateway.Payment) -> TopUp | None:
    """The top-up a payment is for, locked: by the intent, else by our metadata; a
    payment for no known top-up gets one (flagged) when its customer is known."""
    topups = TopUp.objects.select_for_update()
    topup = topups.filter(payment_intent_id=payment.id).first()
    if topup is None and payment.metadata.get("topup"):
        topup = topups.filter(public_id=payment.metadata["topup"]).first()
    if topup is not None or payment.status != "succeeded":
        return topup
    known = StripeCustomer.objects.filter(stripe_id=payment.customer_id).first()
    if known is None:
        return None
    topup = TopUp.objects.create(
        customer=known.customer, amount=payment.amount_received, currency=DEFAULT_CURRENCY
    )
    _flag(topup, "a payment for no known top-up")
    return TopUp.objects.select_for_update().get(pk=topup.pk)


def topup_payment_apply(*, payment: stripe_gateway.Payment) -> TopUp | None:
    with transaction.atomic():
        topup = _topup_for_payment(payment)
        if topup is None:
            logger.error(
                "topup.unknown_payment",
                extra={"payment_intent": payment.id, "customer": payment.customer_id},
            )
            return None
        if payment.status != "succeeded":
            _payment_progress(topup, payment)
            return topup
        if topup.credit_id is not None or (
            topup.payment_intent_id == payment.id and topup.status == Status.NEEDS_REVIEW
        ):
            return topup  # credited (or refused for review) before: nothing more to do
        if topup.payment_intent_id and topup.payment_intent_id != payment.id:
            # A second successful payment for one top-up (paid twice): its own top-up.
            topup = TopUp.objects.create(customer=topup.customer, amount=payment.amount_received)
            _flag(topup, "a second payment for one top-up")
            topup = TopUp.objects.select_for_update().get(pk=topup.pk)
        _credit(topup, payment)
    return topup


def _payment_progress(topup: TopUp, payment: stripe_gateway.Payment) -> None:
    fields = []
    if not topup.payment_intent_id:
        topup.payment_intent_id = payment.id
        fields.append("payment_intent_id")
    moved = False
    if payment.status == "processing":
        moved = _move(topup, Status.PROCESSING)
    elif payment.status == "canceled":
        moved = _move(topup, Status.CANCELED)
    elif payment.status == "requires_payment_method" and payment.failure_message:
        moved = _move(topup, Status.FAILED)
        topup.failure_message = payment.failure_message[:500]
        fields.append("failure_message")
    if moved or fields:
        _save(topup, *fields)


def _credit(topup: TopUp, payment: stripe_gateway.Payment) -> None:
    topup.payment_intent_id = payment.id
    topup.amount_paid = payment.amount_received
    topup.currency_paid = payment.currency
    topup.card_brand, topup.card_last4 = payment.card_brand[:20], payment.card_last4[:4]
    topup.paid_at = timezone.now()
    fields = ["payment_intent_id", "amount_paid", "currency_paid", "card_brand", "card_last4"]
    fields += ["paid_at", "needs_review", "review_reason"]
    if payment.currency != topup.currency:
        # Our wallets are USD: crediting another currency needs a person to decide.
        _move(topup, Status.NEEDS_REVIEW)
        _flag(topup, f"paid {payment.amount_received} {payment.currency}, not {topup.currency}")
        _save(topup, *fields)
        return
    micros = cents_to_micros(payment.amount_received)
    card = f" ({payment.card_brand} ••{payment.card_last4})" if payment.card_last4 else ""
    txn = services.ledger_post(
        key=f"stripe:pi:{payment.id}",
        kind=TransactionKind.TOPUP,
        memo=f"Card top-up{card}",
        lines=[
            Line.wallet(topup.customer, micros),
            Line.system(SystemAccount.CLEARING_STRIPE_CARD, -micros),
        ],
        currency=topup.currency,
        metadata={
            "topup": topup.public_id,
            "provider": PROVIDER,
            "payment_intent": payment.id,
            "card_brand": payment.card_brand,
            "card_last4": payment.card_last4,
        },
    )
    topup.credit = txn
    fields.append("credit")
    if payment.amount_received != topup.amount:
        _move(topup, Status.NEEDS_REVIEW)
        _flag(topup, f"paid {payment.amount_received} cents for a top-up of {topup.amount}")
    else:
        _move(topup, Status.SUCCEEDED)
    _save(topup, *fields)
    accounts_services.activity_record(
        customer=topup.customer,
        verb=ActivityVerb.TOPUP_SUCCEEDED,
        actor=Actor.system(),
        object_id=topup.public_id,
        data={"amount": f"{payment.amount_received / 100:.2f}", "currency": topup.currency},
    )
    logger.info("topup.credited", extra={"topup": topup.public_id, "transaction": txn.public_id})


# --- Refunds ------------------------------------------------------------------------------


DASHBOARD = "Stripe dashboard"


def _refund_hold_key(refund: TopUpRefund) -> str:
    return f"refund:{refund.public_id}"


def topup_refund(*, topup: TopUp, amount: int, reason: str, actor: Actor) -> TopUpRefund:
    """Staff refund of `amount` cents to the card: never more than is left of the top-up,
    nor than the wallet's available balance (reserved by a hold until Stripe answers)."""
    with transaction.atomic():
        locked = TopUp.objects.select_for_update().get(pk=topup.pk)
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
            topup=locked, amount=amount, reason=reason.strip()[:500], requested_by=actor.label
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


def _hold_release(key: str) -> None:
    hold = Hold.objects.filter(idempotency_key=key, status=Hold.Status.ACTIVE).first()
    if hold is not None:
        services.hold_release(hold=hold)


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


def _settled_status(topup: TopUp) -> str:
    """A paid top-up's status once nothing is in dispute: by what was refunded of it."""
    if not topup.amount_refunded:
        return Status.SUCCEEDED
    return Status.REFUNDED if topup.refundable == 0 else Status.PARTIALLY_REFUNDED


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


# --- Disputes -----------------------------------------------------------------------------

DISPUTE_OPEN = {"needs_response", "under_review"}
DISPUTE_WON = {"won", "warning_closed", "prevented"}


def dispute_sync(*, dispute_id: str) -> TopUpDispute | None:
    return dispute_apply(dispute=stripe_gateway.dispute_get(dispute_id=dispute_id))


def dispute_apply(*, dispute: stripe_gateway.Dispute) -> TopUpDispute | None:
    """The dispute policy (README): open → hold the disputed amount and flag for staff; won
    → release it; lost → release and post the loss (which may take the wallet below zero).
    An inquiry (warning_*) moves no money: it is only flagged."""
    with transaction.atomic():
        topup = (
            TopUp.objects.select_for_update().filter(payment_intent_id=dispute.payment_intent_id)
        ).first()
        if topup is None:
            logger.error("dispute.unknown_payment", extra={"dispute": dispute.id})
            return None
        row, created = TopUpDispute.objects.select_for_update().get_or_create(
            stripe_id=dispute.id,
            defaults={
                "topup": topup,
                "amount": dispute.amount,
                "status": dispute.status,
                "reason": dispute.reason[:100],
            },
        )
        if created:
            _move(topup, Status.DISPUTED)
            _flag(topup, f"card dispute {dispute.id} ({dispute.reason or 'no reason'})")
            _save(topup, "needs_review", "review_reason")
            accounts_services.activity_record(
                customer=topup.customer,
                verb=ActivityVerb.TOPUP_DISPUTED,
                actor=Actor.system(),
                object_id=topup.public_id,
                data={"amount": f"{dispute.amount / 100:.2f}", "dispute": dispute.id},
            )
        micros = cents_to_micros(dispute.amount)
        key = f"stripe:dp:{dispute.id}"
        if dispute.status in DISPUTE_OPEN and row.hold_id is None and row.loss_id is None:
            row.hold = services.hold_place(
                customer=topup.customer,
                key=key,
                amount=micros,
                subject=topup.public_id,
                memo=f"Card dispute on {topup.public_id}",
                allow_short=True,
            )
        elif dispute.status in DISPUTE_WON:
            _hold_release(key)
            if _move(topup, _settled_status(topup)):
                _save(topup)
        elif dispute.status == "lost" and row.loss_id is None:
            _hold_release(key)
            row.loss = services.ledger_post(
                key=f"{key}:lost",
                kind=TransactionKind.DISPUTE,
                memo=f"Card dispute lost ({topup.public_id})",
                lines=[
                    Line.wallet(topup.customer, -micros),
                    Line.system(SystemAccount.DISPUTES, micros),
                ],
                currency=topup.currency,
                metadata={"topup": topup.public_id, "provider": PROVIDER, "dispute": dispute.id},
            )
        row.status = dispute.status
        row.updated_at = timezone.now()
        row.save(update_fields=["status", "hold", "loss", "updated_at"])
    return row


# --- The webhook inbox --------------------------------------------------------------------


class WebhookRejected(Exception):
    """A request that is not a genuine, fresh Stripe event: answered 400, nothing stored."""


def webhook_verify(*, payload: bytes, signature_header: str | None) -> dict[str, Any]:
    """The event if the signature is right with one of the secrets and fresh both ways."""
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE
    if not signature_header:
        raise WebhookRejected("no Stripe-Signature header")
    for secret in settings.STRIPE_WEBHOOK_SECRETS:
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8", "replace"), signature_header, secret, tolerance
            )
            break
        except stripe.SignatureVerificationError as error:
            failure = str(error)
    else:
        raise WebhookRejected(failure if settings.STRIPE_WEBHOOK_SECRETS else "no secret")
    # The SDK refuses old signatures only; one from the future is as suspect.
    stamps = [part[2:] for part in signature_header.split(",") if part.startswith("t=")]
    if not stamps or not stamps[0].isdigit() or int(stamps[0]) > time.time() + tolerance:
        raise WebhookRejected("timestamp in the future")
    try:
        event = json.loads(payload)
    except ValueError:
        raise WebhookRejected("body is not JSON") from None
    if not isinstance(event, dict) or not all(
        isinstance(event.get(name), str) and event[name] for name in ("id", "type")
    ):
        raise WebhookRejected("not an event")
    return event


def webhook_receive(*, payload: bytes, signature_header: str | None) -> WebhookEvent:
    """Verify and store an event once (the inbox); its processing is queued after commit."""
    event = webhook_verify(payload=payload, signature_header=signature_header)
    return webhook_event_store(event=event, source="webhook")


def webhook_event_store(*, event: dict[str, Any], source: str) -> WebhookEvent:
    from billing.tasks import webhook_event_process_task  # tasks import this module

    with transaction.atomic():
        inbox, created = WebhookEvent.objects.get_or_create(
            provider=PROVIDER,
            event_id=event["id"],
            defaults={"type": event["type"], "payload": event, "source": source},
        )
        if created and source == "webhook":  # the pull job processes its own at once
            transaction.on_commit(lambda: webhook_event_process_task.delay(inbox.pk))
    logger.info(
        "webhook.received",
        extra={"event": event["id"], "type": event["type"], "duplicate": not created},
    )
    return inbox


HANDLERS = {
    "checkout.session.completed": "session",
    "checkout.session.async_payment_succeeded": "session",
    "checkout.session.async_payment_failed": "session",
    "checkout.session.expired": "session",
    "payment_intent.succeeded": "payment",
    "payment_intent.processing": "payment",
    "payment_intent.payment_failed": "payment",
    "payment_intent.canceled": "payment",
    "refund.created": "refund",
    "refund.updated": "refund",
    "refund.failed": "refund",
    "charge.dispute.created": "dispute",
    "charge.dispute.updated": "dispute",
    "charge.dispute.closed": "dispute",
    "charge.dispute.funds_withdrawn": "dispute",
    "charge.dispute.funds_reinstated": "dispute",
}


def webhook_event_process(*, event_pk: int) -> WebhookEvent:
    """Act on one inbox event: re-read its object from Stripe, apply it. Idempotent."""
    inbox = WebhookEvent.objects.get(pk=event_pk)
    if inbox.status in {WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED}:
        return inbox
    event = stripe_gateway.event_from_payload(inbox.payload)
    handler = HANDLERS.get(event.type)
    WebhookEvent.objects.filter(pk=inbox.pk).update(attempts=inbox.attempts + 1)
    try:
        if handler == "session":
            topup_session_sync(session_id=event.object_id)
        elif handler == "payment":
            topup_fulfil(payment_intent_id=event.object_id)
        elif handler == "refund":
            refund_sync(refund_id=event.object_id)
        elif handler == "dispute":
            dispute_sync(dispute_id=event.object_id)
    except Exception as error:
        WebhookEvent.objects.filter(pk=inbox.pk).update(
            status=WebhookEvent.Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
        )
        raise
    status = WebhookEvent.Status.PROCESSED if handler else WebhookEvent.Status.IGNORED
    WebhookEvent.objects.filter(pk=inbox.pk).update(
        status=status, processed_at=timezone.now(), error=""
    )
    inbox.refresh_from_db()
    return inbox


# --- Pull reconciliation ------------------------------------------------------------------


def payments_pull() -> dict[str, int]:
    """The beat job: re-read top-ups waiting longer than TOPUP_PULL_AFTER, then walk
    Stripe's events since the last cursor into the inbox, so a webhook that never came
    still credits. Returns counts for the log."""
    now = timezone.now()
    waiting = TopUp.objects.filter(
        status__in=[Status.PENDING, Status.PROCESSING, Status.FAILED],
        created_at__lt=now - timedelta(seconds=settings.TOPUP_PULL_AFTER),
        created_at__gt=now - timedelta(days=2),  # sessions expire after 24 h
    ).exclude(checkout_session_id="")
    refreshed = 0
    for topup in waiting.order_by("created_at")[:500]:
        try:
            topup_refresh(topup=topup)
            refreshed += 1
        except PaymentProviderError:
            logger.warning("topup.pull_failed", extra={"topup": topup.public_id})
    cursor, _ = PaymentCursor.objects.get_or_create(provider=PROVIDER)
    new = 0
    since = int((now - PULL_FIRST_WINDOW).timestamp())
    events = stripe_gateway.events_after(event_id=cursor.last_event_id, created_since=since)
    try:
        for event in events:
            inbox = webhook_event_store(event=event.payload, source="pull")
            if inbox.status in {WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED}:
                webhook_event_process(event_pk=inbox.pk)
                new += 1
            cursor.last_event_id, cursor.updated_at = event.id, timezone.now()
            cursor.save(update_fields=["last_event_id", "updated_at"])
    except PaymentProviderError as error:
        if error.provider_code != "resource_missing":
            raise
        # Stripe keeps events 30 days: a cursor older than that starts over (inbox dedupes).
        logger.warning("payments.cursor_forgotten", extra={"cursor": cursor.last_event_id})
        cursor.last_event_id = ""
        cursor.save(update_fields=["last_event_id"])
    logger.info("payments.pulled", extra={"refreshed": refreshed, "events": new})
    return {"refreshed": refreshed, "events": new}
