"""The Stripe adapter: typed calls returning frozen dataclasses, never raw SDK objects.

Talks to Stripe (or devstripe, at STRIPE_API_BASE) with the stripe SDK's StripeClient;
every write carries a business idempotency key so a retried task repeats nothing.
Errors become `PaymentProviderError` (retryable or not).
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import stripe
from django.conf import settings

from billing.exceptions import PaymentProviderError

logger = logging.getLogger(__name__)

PROVIDER = "stripe"


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    status: str  # open, complete, expired
    payment_status: str  # paid, unpaid, no_payment_required
    payment_intent_id: str
    amount_total: int
    currency: str
    client_reference_id: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Payment:
    """A PaymentIntent with its latest charge's card."""

    id: str
    status: str  # succeeded, processing, requires_payment_method, requires_action, canceled…
    amount: int
    amount_received: int
    currency: str
    customer_id: str
    metadata: dict[str, str]
    card_brand: str
    card_last4: str
    failure_message: str


@dataclass(frozen=True)
class Refund:
    id: str
    amount: int
    currency: str
    status: str  # pending, requires_action, succeeded, failed, canceled
    payment_intent_id: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class Dispute:
    id: str
    amount: int
    currency: str
    status: str
    reason: str
    payment_intent_id: str


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: int
    object_id: str
    payload: dict[str, Any]


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str, timeout: float) -> stripe.StripeClient:
    addresses: dict[str, str] = {}
    if api_base:
        addresses = {"api": api_base, "connect": api_base, "files": api_base}
    return stripe.StripeClient(
        api_key,
        base_addresses=addresses,  # type: ignore[arg-type]
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def client() -> stripe.StripeClient:
    return _client(
        settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_API_TIMEOUT
    )


def _call(operation: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except stripe.StripeError as error:
        # A refused key (401, 403) is the portal's configuration, not the request: staff
        # fix it, and the payment Stripe took must then still be credited.
        retryable = isinstance(
            error,
            stripe.APIConnectionError
            | stripe.RateLimitError
            | stripe.AuthenticationError
            | stripe.PermissionError,
        ) or (error.http_status is not None and error.http_status >= 500)
        logger.warning(
            "stripe.call_failed",
            extra={
                "operation": operation,
                "status": error.http_status,
                "code": error.code,
                "retryable": retryable,
            },
        )
        raise PaymentProviderError(
            error.user_message or str(error) or "The payment provider refused the request.",
            retryable=retryable,
            provider_code=error.code or "",
            provider_param=getattr(error, "param", None) or "",
        ) from error


def _get(obj: Any, name: str, default: Any = "") -> Any:
    value = getattr(obj, name, None) if obj is not None else None
    return default if value is None else value


def _metadata(obj: Any) -> dict[str, str]:
    metadata = _get(obj, "metadata", None)
    return {} if metadata is None else {str(k): str(v) for k, v in metadata.to_dict().items()}


def _id(value: Any) -> str:
    """An expandable field: an id, or the expanded object."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value.id)


def customer_create(*, email: str, customer_public_id: str, replacing: str = "") -> str:
    """A Stripe customer for a portal customer; `replacing`: the id of the one Stripe no
    longer knows, which gives the request its own idempotency key (the first one's key
    would answer with the forgotten object)."""
    metadata = {"customer": customer_public_id}
    key = f"customer:{customer_public_id}"
    if replacing:
        metadata["replaces"] = replacing
        key = f"{key}:replacing:{replacing}"
    created = _call(
        "customers.create",
        client().v1.customers.create,
        params={"email": email, "metadata": metadata},
        options={"idempotency_key": key},
    )
    return str(created.id)


def checkout_session_create(
    *,
    topup_public_id: str,
    customer_public_id: str,
    stripe_customer_id: str,
    amount: int,
    currency: str,
    product_name: str,
    success_url: str,
    cancel_url: str,
) -> CheckoutSession:
    metadata = {"topup": topup_public_id, "customer": customer_public_id}
    session = _call(
        "checkout.sessions.create",
        client().v1.checkout.sessions.create,
        params={
            "mode": "payment",
            "customer": stripe_customer_id,
            "client_reference_id": topup_public_id,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": amount,
                        "product_data": {"name": product_name},
                    },
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
        },
        # One session per top-up and Stripe customer: when a forgotten customer is
        # replaced, the retry must not replay the refusal stored under the first key.
        options={"idempotency_key": f"topup:{topup_public_id}:checkout:{stripe_customer_id}"},
    )
    return _session(session)


def checkout_session_get(*, session_id: str) -> CheckoutSession:
    session = _call(
        "checkout.sessions.retrieve", client().v1.checkout.sessions.retrieve, session_id
    )
    return _session(session)


def _session(session: Any) -> CheckoutSession:
    return CheckoutSession(
        id=str(session.id),
        url=_get(session, "url"),
        status=_get(session, "status"),
        payment_status=_get(session, "payment_status"),
        payment_intent_id=_id(_get(session, "payment_intent", None)),
        amount_total=int(_get(session, "amount_total", 0)),
        currency=_get(session, "currency").upper(),
        client_reference_id=_get(session, "client_reference_id"),
        metadata=_metadata(session),
    )


def payment_get(*, payment_intent_id: str) -> Payment:
    intent = _call(
        "payment_intents.retrieve",
        client().v1.payment_intents.retrieve,
        payment_intent_id,
        params={"expand": ["latest_charge"]},
    )
    charge = _get(intent, "latest_charge", None)
    card = _get(_get(charge, "payment_method_details", None), "card", None)
    error = _get(intent, "last_payment_error", None)
    return Payment(
        id=str(intent.id),
        status=_get(intent, "status"),
        amount=int(_get(intent, "amount", 0)),
        amount_received=int(_get(intent, "amount_received", 0)),
        currency=_get(intent, "currency").upper(),
        customer_id=_id(_get(intent, "customer", None)),
        metadata=_metadata(intent),
        card_brand=_get(card, "brand"),
        card_last4=_get(card, "last4"),
        failure_message=_get(error, "message"),
    )


def refund_create(
    *, payment_intent_id: str, amount: int, refund_public_id: str, reason: str
) -> Refund:
    refund = _call(
        "refunds.create",
        client().v1.refunds.create,
        params={
            "payment_intent": payment_intent_id,
            "amount": amount,
            "metadata": {"refund": refund_public_id, "reason": reason[:500]},
        },
        options={"idempotency_key": f"refund:{refund_public_id}"},
    )
    return _refund(refund)


def refund_get(*, refund_id: str) -> Refund:
    return _refund(_call("refunds.retrieve", client().v1.refunds.retrieve, refund_id))


def _refund(refund: Any) -> Refund:
    return Refund(
        id=str(refund.id),
        amount=int(_get(refund, "amount", 0)),
        currency=_get(refund, "currency").upper(),
        status=_get(refund, "status"),
        payment_intent_id=_id(_get(refund, "payment_intent", None)),
        metadata=_metadata(refund),
    )


def dispute_get(*, dispute_id: str) -> Dispute:
    dispute = _call("disputes.retrieve", client().v1.disputes.retrieve, dispute_id)
    return Dispute(
        id=str(dispute.id),
        amount=int(_get(dispute, "amount", 0)),
        currency=_get(dispute, "currency").upper(),
        status=_get(dispute, "status"),
        reason=_get(dispute, "reason"),
        payment_intent_id=_id(_get(dispute, "payment_intent", None)),
    )


def event_from_payload(payload: dict[str, Any]) -> Event:
    data_object = (payload.get("data") or {}).get("object") or {}
    return Event(
        id=str(payload["id"]),
        type=str(payload["type"]),
        created=int(payload.get("created") or 0),
        object_id=str(data_object.get("id") or ""),
        payload=payload,
    )


def events_after(*, event_id: str, created_since: int) -> Iterator[Event]:
    """Events newer than `event_id` (or, without one, created since `created_since`),
    oldest first, walking Stripe's newest-first list page by page."""
    events = client().v1.events
    if not event_id:
        # From the start: the whole window, newest first, then yielded oldest first.
        found: list[Event] = []
        params: dict[str, Any] = {"limit": 100, "created": {"gte": created_since}}
        while True:
            page = _call("events.list", events.list, params=params)
            found.extend(event_from_payload(item.to_dict()) for item in page.data)
            if not page.has_more or not page.data:
                break
            params = {**params, "starting_after": page.data[-1].id}
        yield from reversed(found)
        return
    cursor = event_id
    while True:
        page = _call("events.list", events.list, params={"limit": 100, "ending_before": cursor})
        if not page.data:
            return
        yield from (event_from_payload(item.to_dict()) for item in reversed(page.data))
        cursor = page.data[0].id
        if not page.has_more:
            return
