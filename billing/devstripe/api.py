"""The subset of Stripe's /v1 API the portal calls, plus what the hosted page and the
control endpoints do (pay, dispute, refund from the "dashboard").

Each function takes the store (its lock held by the caller) and decoded parameters and
returns a Stripe object; errors raise `StripeError` with Stripe's codes.
"""

from __future__ import annotations

import time
from typing import Any

from billing.devstripe.store import CARDS, DECLINE_MESSAGES, Store, StripeError, missing, new_id

SESSION_LIFETIME = 24 * 3600


def _int(params: dict[str, Any], name: str) -> int:
    value = params.get(name)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {value}", param=name) from None


def customer_create(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    return store.put(
        {
            "id": new_id("cus"),
            "object": "customer",
            "created": int(time.time()),
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata") or {},
            "livemode": False,
        }
    )


def checkout_session_create(store: Store, params: dict[str, Any], base_url: str) -> dict[str, Any]:
    if params.get("mode") != "payment":
        raise StripeError(400, "devstripe supports mode=payment only.", param="mode")
    items = params.get("line_items") or []
    if not items:
        raise StripeError(400, "Missing required param: line_items.", param="line_items")
    amount, currency = 0, None
    for index, item in enumerate(items):
        price = item.get("price_data") or {}
        quantity = _int(item, "quantity") if "quantity" in item else 1
        amount += _int(price, "unit_amount") * quantity
        currency = price.get("currency")
        if not currency:
            raise StripeError(
                400, "Missing currency.", param=f"line_items[{index}][price_data][currency]"
            )
    for name in ("success_url", "cancel_url"):
        if not params.get(name):
            raise StripeError(400, f"Missing required param: {name}.", param=name)
    customer = params.get("customer")
    if customer and (store.objects.get(customer) or {}).get("object") != "customer":
        raise missing("customer", customer, param="customer")  # Stripe names the param
    session_id = new_id("cs")
    intent_data = params.get("payment_intent_data") or {}
    expires_at = int(params.get("expires_at") or time.time() + SESSION_LIFETIME)
    return store.put(
        {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": params["cancel_url"],
            "client_reference_id": params.get("client_reference_id"),
            "created": int(time.time()),
            "currency": currency,
            "customer": customer,
            "expires_at": expires_at,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "mode": "payment",
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "url": f"{base_url}/checkout/{session_id}",
            # Not Stripe fields: what the PaymentIntent will carry.
            "_intent_metadata": intent_data.get("metadata") or params.get("metadata") or {},
        }
    )


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the API shows it (without devstripe's private fields)."""
    return {key: value for key, value in obj.items() if not key.startswith("_")}


def _intent_for(store: Store, session: dict[str, Any], amount: int) -> dict[str, Any]:
    if session["payment_intent"]:
        return store.objects[session["payment_intent"]]
    intent = store.put(
        {
            "id": new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": session["currency"],
            "customer": session["customer"],
            "created": int(time.time()),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(session["_intent_metadata"]),
            "status": "requires_payment_method",
        }
    )
    session["payment_intent"] = intent["id"]
    return intent


def checkout_session_pay(
    store: Store,
    session: dict[str, Any],
    *,
    card: str,
    authenticated: bool | None = None,
    amount: int | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """The hosted page's "Pay": a test card's documented outcome.

    Returns {"outcome": "succeeded" | "declined" | "requires_action", "message"}; `amount`
    and `currency` override what is charged (to test a payment that differs).
    """
    if session["status"] != "open":
        raise StripeError(400, f"This Checkout Session is {session['status']}.")
    number = "".join(card.split())
    behaviour = CARDS.get(number)
    if behaviour is None:
        behaviour = {"brand": "visa", "outcome": "card_declined", "decline": "incorrect_number"}
    if amount is not None or currency is not None:
        session["amount_total"] = amount or session["amount_total"]
        session["currency"] = currency or session["currency"]
    intent = _intent_for(store, session, session["amount_total"])
    intent["amount"], intent["currency"] = session["amount_total"], session["currency"]
    if behaviour["outcome"] == "authentication_required" and not authenticated:
        if authenticated is None:
            intent["status"] = "requires_action"
            store.emit("payment_intent.requires_action", intent)
            return {"outcome": "requires_action", "message": "Authenticate the payment."}
        behaviour = {**behaviour, "outcome": "card_declined", "decline": "authentication_failed"}
    if behaviour["outcome"] == "card_declined":
        code = behaviour["decline"]
        message = DECLINE_MESSAGES.get(code, "Your card was declined.")
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": code,
            "message": message,
        }
        store.emit("payment_intent.payment_failed", intent)
        return {"outcome": "declined", "message": message}
    charge = store.put(
        {
            "id": new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"],
            "amount_refunded": 0,
            "created": int(time.time()),
            "currency": intent["currency"],
            "customer": intent["customer"],
            "disputed": False,
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "paid": True,
            "payment_intent": intent["id"],
            "payment_method_details": {
                "type": "card",
                "card": {
                    "brand": behaviour["brand"],
                    "last4": number[-4:],
                    "exp_month": 12,
                    "exp_year": 2034,
                    "country": "US",
                },
            },
            "refunded": False,
            "status": "succeeded",
        }
    )
    intent.update(
        status="succeeded",
        amount_received=intent["amount"],
        latest_charge=charge["id"],
        last_payment_error=None,
    )
    session.update(status="complete", payment_status="paid")
    store.emit("charge.succeeded", charge)
    store.emit("payment_intent.succeeded", intent)
    store.emit("checkout.session.completed", public(session))
    return {"outcome": "succeeded", "message": "Paid."}


def checkout_session_expire(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    if session["status"] != "open":
        raise StripeError(
            400, f"Only open sessions can be expired; this one is {session['status']}."
        )
    session["status"] = "expired"
    store.emit("checkout.session.expired", public(session))
    return session


def checkout_session_lapse(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    """An open session past its expires_at expires when next looked at, as at Stripe."""
    if session["status"] == "open" and time.time() >= session["expires_at"]:
        checkout_session_expire(store, session)
    return session


def payment_intent_get(store: Store, intent_id: str, expand: list[str]) -> dict[str, Any]:
    intent = dict(store.get(intent_id, "payment_intent"))
    if "latest_charge" in expand and intent["latest_charge"]:
        intent["latest_charge"] = store.objects[intent["latest_charge"]]
    return intent


def _charge_of(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("charge"):
        return store.get(params["charge"], "charge")
    intent_id = params.get("payment_intent")
    if not intent_id:
        raise StripeError(400, "One of charge or payment_intent is required.")
    intent = store.get(intent_id, "payment_intent")
    if not intent["latest_charge"]:
        raise StripeError(
            400, f"This PaymentIntent ({intent_id}) does not have a successful charge to refund."
        )
    return store.objects[intent["latest_charge"]]


def refund_create(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    charge = _charge_of(store, params)
    left = charge["amount"] - charge["amount_refunded"]
    amount = _int(params, "amount") if "amount" in params else left
    if amount <= 0 or amount > left:
        raise StripeError(
            400,
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
            code="amount_too_large" if amount > 0 else "parameter_invalid_integer",
            param="amount",
        )
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    refund = store.put(
        {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": charge["currency"],
            "metadata": params.get("metadata") or {},
            "payment_intent": charge["payment_intent"],
            "reason": params.get("reason"),
            "status": "succeeded",
        }
    )
    store.emit("refund.created", refund)
    store.emit("charge.refunded", charge)
    return refund


def refund_fail(store: Store, refund: dict[str, Any]) -> dict[str, Any]:
    """A refund the card network could not return (control only; Stripe does this)."""
    charge = store.objects[refund["charge"]]
    charge["amount_refunded"] -= refund["amount"]
    charge["refunded"] = False
    refund.update(status="failed", failure_reason="expired_or_canceled_card")
    store.emit("refund.failed", refund)
    return refund


def dispute_create(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    charge = _charge_of(store, params)
    amount = _int(params, "amount") if "amount" in params else charge["amount"]
    charge["disputed"] = True
    dispute = store.put(
        {
            "id": new_id("dp"),
            "object": "dispute",
            "amount": amount,
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": charge["currency"],
            "livemode": False,
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": params.get("reason") or "fraudulent",
            "status": "needs_response",
        }
    )
    store.emit("charge.dispute.created", dispute)
    return dispute


def dispute_close(store: Store, dispute: dict[str, Any], status: str) -> dict[str, Any]:
    if status not in {"won", "lost"}:
        raise StripeError(400, "status is won or lost.", param="status")
    dispute["status"] = status
    store.emit("charge.dispute.closed", dispute)
    return dispute


def event_list(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Newest first; `ending_before` gives the page just newer than an event, as Stripe."""
    limit = max(1, min(_int(params, "limit") if "limit" in params else 10, 100))
    events = list(reversed(store.events))
    types = params.get("types") or ([params["type"]] if params.get("type") else None)
    if types:
        events = [event for event in events if event["type"] in types]
    created = params.get("created")
    if isinstance(created, dict) and "gte" in created:
        events = [event for event in events if event["created"] >= int(created["gte"])]
    ids = [event["id"] for event in events]
    if params.get("starting_after"):
        cursor = params["starting_after"]
        if cursor not in ids:
            raise missing("event", cursor, "starting_after")
        events = events[ids.index(cursor) + 1 :]
        page, has_more = events[:limit], len(events) > limit
    elif params.get("ending_before"):
        cursor = params["ending_before"]
        if cursor not in ids:
            raise missing("event", cursor, "ending_before")
        events = events[: ids.index(cursor)]
        page, has_more = events[-limit:], len(events) > limit
    else:
        page, has_more = events[:limit], len(events) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": "/v1/events"}
