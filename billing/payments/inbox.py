"""The webhook inbox and the pull reconciliation."""

import json
import logging
import time
from datetime import timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.activity import Actor
from billing import stripe_gateway
from billing.exceptions import (
    PaymentProviderError,
    WebhookEventNotFailed,
)
from billing.models import (
    PaymentCursor,
    TopUp,
    WebhookEvent,
)
from billing.payments.disputes import dispute_sync
from billing.payments.refunds import refund_sync
from billing.payments.topups import Status, topup_fulfil, topup_refresh, topup_session_sync
from billing.stripe_gateway import PROVIDER

logger = logging.getLogger(__name__)

# How far back the pull job walks Stripe's events the first time (Stripe keeps 30 days).
PULL_FIRST_WINDOW = timedelta(days=3)


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


def _process_later(event_pk: int) -> None:
    """Queue an inbox event's processing after commit (retried with backoff)."""
    from billing.tasks import webhook_event_process_task  # tasks import this module

    transaction.on_commit(lambda: webhook_event_process_task.delay(event_pk))


def webhook_event_store(*, event: dict[str, Any], source: str) -> WebhookEvent:
    with transaction.atomic():
        inbox, created = WebhookEvent.objects.get_or_create(
            provider=PROVIDER,
            event_id=event["id"],
            defaults={"type": event["type"], "payload": event, "source": source},
        )
        if created and source == "webhook":  # the pull job processes its own at once
            _process_later(inbox.pk)
    logger.info(
        "webhook.received",
        extra={"event": event["id"], "type": event["type"], "duplicate": not created},
    )
    return inbox


NO_TOPUP_NOTE = "Needs review: no top-up or customer of ours matches this object."

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
    """Act on one inbox event: re-read its object from Stripe, apply it. Idempotent.
    Raises what is worth retrying; a refusal Stripe will repeat is recorded FAILED."""
    inbox = WebhookEvent.objects.get(pk=event_pk)
    if inbox.status in {WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED}:
        return inbox
    event = stripe_gateway.event_from_payload(inbox.payload)
    handler = HANDLERS.get(event.type)
    WebhookEvent.objects.filter(pk=inbox.pk).update(attempts=inbox.attempts + 1)
    applied: object = None
    try:
        if handler == "session":
            applied = topup_session_sync(session_id=event.object_id)
        elif handler == "payment":
            applied = topup_fulfil(payment_intent_id=event.object_id)
        elif handler == "refund":
            applied = refund_sync(refund_id=event.object_id)
        elif handler == "dispute":
            applied = dispute_sync(dispute_id=event.object_id)
    except PaymentProviderError as error:
        if error.retryable:
            _record_failure(inbox, f"{type(error).__name__}: {error}")
            raise
        # Stripe refused for good (a bad request, an object it will never have): retrying
        # changes nothing and only delays the alert. Staff find it FAILED with this note.
        code = f" ({error.provider_code})" if error.provider_code else ""
        _record_failure(inbox, f"Not retried: Stripe refused it for good{code}: {error}")
        logger.error(
            "webhook.event_failed",
            extra={
                "event": event.id,
                "type": event.type,
                "object": event.object_id,
                "provider_code": error.provider_code,
                "retryable": False,
            },
        )
        inbox.refresh_from_db()
        return inbox
    except Exception as error:
        _record_failure(inbox, f"{type(error).__name__}: {error}")
        raise
    status = WebhookEvent.Status.PROCESSED if handler else WebhookEvent.Status.IGNORED
    # Money for no top-up and no customer we know: staff find it by this note.
    note = NO_TOPUP_NOTE if handler and applied is None else ""
    WebhookEvent.objects.filter(pk=inbox.pk).update(
        status=status, processed_at=timezone.now(), error=note
    )
    inbox.refresh_from_db()
    return inbox


def webhook_event_process_again(*, event_pk: int, actor: Actor) -> WebhookEvent:
    """Staff ask for a FAILED event once its cause is fixed: it goes back to RECEIVED (its
    last error kept until it goes through) and is queued as a webhook is. Whatever it
    credits was keyed in the ledger, so an event already applied some other way (the
    return page, the pull job) changes no money. Anything else raises
    WebhookEventNotFailed: processed and ignored events are done, received ones queued."""
    with transaction.atomic():
        inbox = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if inbox.status != WebhookEvent.Status.FAILED:
            raise WebhookEventNotFailed(
                f"It is {inbox.get_status_display().lower()}: only a failed event is "
                "processed again."
            )
        inbox.status = WebhookEvent.Status.RECEIVED
        inbox.save(update_fields=["status"])
        _process_later(inbox.pk)
    logger.info(
        "webhook.event_requeued",
        extra={
            "event": inbox.event_id,
            "type": inbox.type,
            "staff": actor.label,
            "staff_user_id": actor.user_id,
        },
    )
    return inbox


def _record_failure(inbox: WebhookEvent, error: str) -> None:
    WebhookEvent.objects.filter(pk=inbox.pk).update(
        status=WebhookEvent.Status.FAILED, error=error[:2000]
    )


# --- Pull reconciliation ------------------------------------------------------------------


def payments_pull() -> dict[str, int]:
    """The beat job: re-read top-ups waiting longer than TOPUP_PULL_AFTER, then walk
    Stripe's events since the last cursor into the inbox, so a webhook that never came
    still credits. Returns counts for the log."""
    now = timezone.now()
    pull_after = now - timedelta(seconds=settings.TOPUP_PULL_AFTER)
    waiting = TopUp.objects.filter(
        status__in=[Status.PENDING, Status.PROCESSING, Status.FAILED],
        created_at__lt=pull_after,
        updated_at__lt=pull_after,  # once per TOPUP_PULL_AFTER each, not every run
        created_at__gt=now - timedelta(days=2),  # sessions expire after 24 h
    ).exclude(checkout_session_id="")
    refreshed = 0
    for topup in waiting.order_by("updated_at")[:500]:
        try:
            topup_refresh(topup=topup)
            refreshed += 1
        except PaymentProviderError:
            logger.warning("topup.pull_failed", extra={"topup": topup.public_id})
        TopUp.objects.filter(pk=topup.pk, status__in=TopUp.OPEN).update(updated_at=now)
    cursor, _ = PaymentCursor.objects.get_or_create(provider=PROVIDER)
    new = 0
    since = int((now - PULL_FIRST_WINDOW).timestamp())
    events = stripe_gateway.events_after(event_id=cursor.last_event_id, created_since=since)
    try:
        for event in events:
            inbox = webhook_event_store(event=event.payload, source="pull")
            if inbox.status in {WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED}:
                try:
                    webhook_event_process(event_pk=inbox.pk)
                except Exception:
                    # Recorded FAILED on its row; retried like a webhook, with backoff, so
                    # one event that will not go through does not hold up those after it.
                    logger.exception("payments.pull_event_failed", extra={"event": event.id})
                    _process_later(inbox.pk)
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
