"""Top-ups: creating one with its Checkout Session, and the one fulfilment path."""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import services as accounts_services
from accounts.activity import Actor
from accounts.models import ActivityVerb, Customer
from billing import invoices, services, stripe_gateway
from billing.exceptions import (
    PaymentProviderError,
    TopUpInvalid,
    TopUpRequestKeyReused,
)
from billing.models import (
    DEFAULT_CURRENCY,
    Hold,
    StripeCustomer,
    SystemAccount,
    TopUp,
    TransactionKind,
)
from billing.services import Line
from billing.stripe_gateway import PROVIDER, CheckoutSession

logger = logging.getLogger(__name__)

MICROS_PER_CENT = 10_000

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
    the customer pays. With a `request_key` already used, that top-up is returned, its
    Checkout Session made now if an earlier try could not make it (FAILED → PENDING)."""
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
        session = _checkout_session_create(topup, return_url_base)
    except PaymentProviderError as error:
        with transaction.atomic():
            locked = TopUp.objects.select_for_update().get(pk=topup.pk)
            # A concurrent retry that did make the page keeps its top-up pending.
            if not locked.checkout_url and _move(locked, Status.FAILED):
                locked.failure_message = error.detail[:500]
                _save(locked, "failure_message")
        raise
    with transaction.atomic():
        locked = TopUp.objects.select_for_update().get(pk=topup.pk)
        if not locked.checkout_url:
            locked.checkout_session_id, locked.checkout_url = session.id, session.url
            if _move(locked, Status.PENDING):
                locked.failure_message = ""  # an earlier try's, when the page could not be made
            _save(locked, "checkout_session_id", "checkout_url", "failure_message")
    logger.info("topup.created", extra={"topup": locked.public_id, "amount": amount})
    return locked


def _checkout_session_create(topup: TopUp, return_url_base: str) -> CheckoutSession:
    """The top-up's Checkout Session, for the customer's Stripe customer; one Stripe no
    longer knows (keys of another account, a restarted devstripe) is replaced, once."""
    customer = topup.customer
    stripe_customer_id = _stripe_customer(customer)
    try:
        return _checkout_session_for(topup, stripe_customer_id, return_url_base)
    except PaymentProviderError as error:
        if (error.provider_code, error.provider_param) != ("resource_missing", "customer"):
            raise
    replacement = _stripe_customer_replace(customer, stale_id=stripe_customer_id)
    logger.warning(
        "stripe_customer.replaced",
        extra={
            "customer": customer.public_id,
            "stale": stripe_customer_id,
            "replacement": replacement,
            "topup": topup.public_id,
        },
    )
    return _checkout_session_for(topup, replacement, return_url_base)


def _checkout_session_for(
    topup: TopUp, stripe_customer_id: str, return_url_base: str
) -> CheckoutSession:
    return stripe_gateway.checkout_session_create(
        topup_public_id=topup.public_id,
        customer_public_id=topup.customer.public_id,
        stripe_customer_id=stripe_customer_id,
        amount=topup.amount,
        currency=topup.currency,
        product_name="GPU Cloud balance top-up",
        success_url=f"{return_url_base}/billing/top-up/{topup.public_id}/return"
        "?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=f"{return_url_base}/billing/top-up/{topup.public_id}/return?canceled=1",
    )


def _stripe_customer_replace(customer: Customer, *, stale_id: str) -> str:
    """A new Stripe customer in place of `stale_id`; the stored id it ends with."""
    # The key names the stale id: concurrent top-ups replacing it get the same object.
    stripe_id = stripe_gateway.customer_create(
        email=customer.user.email, customer_public_id=customer.public_id, replacing=stale_id
    )
    StripeCustomer.objects.filter(customer=customer, stripe_id=stale_id).update(stripe_id=stripe_id)
    return StripeCustomer.objects.get(customer=customer).stripe_id


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
    """Re-read the PaymentIntent and apply it: credit once (with the top-up's receipt)
    when it succeeded, else move the top-up's status. Safe to call any number of times,
    from anywhere."""
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
    topup.save(update_fields=["needs_review", "review_reason"])
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
        if topup.payment_intent_id and topup.payment_intent_id != payment.id:
            # A second successful payment for one top-up (paid twice): its own top-up, asked
            # before "credited already", which is about the first payment.
            topup = TopUp.objects.create(customer=topup.customer, amount=payment.amount_received)
            _flag(topup, "a second payment for one top-up")
            topup.save(update_fields=["needs_review", "review_reason"])
            topup = TopUp.objects.select_for_update().get(pk=topup.pk)
        elif topup.credit_id is not None or (
            topup.payment_intent_id == payment.id and topup.status == Status.NEEDS_REVIEW
        ):
            return topup  # credited (or refused for review) before: nothing more to do
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
    invoices.receipt_issue(txn=txn)
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


def _settled_status(topup: TopUp) -> str:
    """A paid top-up's status once nothing is in dispute: by what was refunded of it."""
    if not topup.amount_refunded:
        return Status.SUCCEEDED
    return Status.REFUNDED if topup.refundable == 0 else Status.PARTIALLY_REFUNDED


def _hold_release(key: str) -> None:
    hold = Hold.objects.filter(idempotency_key=key, status=Hold.Status.ACTIVE).first()
    if hold is not None:
        services.hold_release(hold=hold)
