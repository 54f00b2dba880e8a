"""devstripe's state: Stripe's objects as Stripe shapes them, the events and their deliveries.

Everything is in memory behind one lock; a restart starts empty (top-ups still pending
then expire in the portal). Amounts are integer cents, as on Stripe's wire.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "2026-10-28.endive"

# Stripe's documented test cards and what they do.
CARDS: dict[str, dict[str, Any]] = {
    "4242424242424242": {"brand": "visa", "outcome": "succeeds"},
    "5555555555554444": {"brand": "mastercard", "outcome": "succeeds"},
    "4000000000000002": {"brand": "visa", "outcome": "card_declined", "decline": "generic_decline"},
    "4000000000009995": {
        "brand": "visa",
        "outcome": "card_declined",
        "decline": "insufficient_funds",
    },
    "4000002500003155": {"brand": "visa", "outcome": "authentication_required"},
}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
}


def new_id(prefix: str) -> str:
    # Checkout Session ids carry the mode (cs_test_…), the others do not.
    infix = "test_" if prefix == "cs" else ""
    return f"{prefix}_{infix}{secrets.token_hex(12)}"


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header: t=<unix>,v1=<hex HMAC-SHA256 of "t.payload">."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class StripeError(Exception):
    """Answered as Stripe's error object: {"error": {"type", "code", "message", "param"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message, **(extra or {})}
        if code:
            self.body["code"] = code
        if param:
            self.body["param"] = param


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


@dataclass
class Faults:
    """Switchable faults (POST /_devstripe/faults): of webhook deliveries, and `http`,
    errors answered to API requests."""

    duplicate: int = 1  # deliver each event this many times
    reorder: bool = False  # hold events, then deliver the batch newest first on flush
    delay: float = 0.0  # seconds before each delivery
    drop: bool = False  # never deliver (the event is still in GET /v1/events)
    fail_first: int = 0  # answer a delivery's first n attempts as failed (retries)
    # [{"method", "path", "status", "count", "type", "code", "param", "message",
    #   "should_retry"}]: the next `count` API requests whose method matches and whose path
    # contains `path` get this error; should_retry sets Stripe-Should-Retry (the SDK
    # retries a 5xx by itself unless it is false).
    http: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Delivery:
    event_id: str
    payload: bytes
    attempts: int = 0
    delivered: bool = False
    last_status: int | None = None


@dataclass
class Store:
    webhook_url: str | None
    webhook_secret: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[Delivery] = field(default_factory=list)  # waiting for delivery
    held: list[Delivery] = field(default_factory=list)  # held back by the reorder fault
    deliveries: list[Delivery] = field(default_factory=list)  # everything ever sent
    idempotent: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    wake: threading.Condition = field(default_factory=threading.Condition)

    def reset(self) -> None:
        with self.lock:
            self.objects.clear()
            self.events.clear()
            self.outbox.clear()
            self.held.clear()
            self.deliveries.clear()
            self.idempotent.clear()
            self.faults = Faults()

    def take_http_fault(self, method: str, path: str) -> dict[str, Any] | None:
        """The first armed API fault matching this request, consumed once."""
        with self.lock:
            for rule in self.faults.http:
                if rule.get("method", "*") not in ("*", method) or rule.get("path", "") not in path:
                    continue
                rule["count"] = int(rule.get("count", 1)) - 1
                if rule["count"] <= 0:
                    self.faults.http.remove(rule)
                return rule
            return None

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[obj["id"]] = obj
        return obj

    def get(self, object_id: str, kind: str) -> dict[str, Any]:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise missing(kind, object_id)
        return obj

    def emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Record an event (a snapshot of `obj`) and queue its delivery, faults applied."""
        event: dict[str, Any] = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.events.append(event)
        if self.faults.drop:
            return event
        payload = json.dumps(event, indent=2).encode()
        for _ in range(max(self.faults.duplicate, 1)):
            delivery = Delivery(event_id=event["id"], payload=payload)
            self.deliveries.append(delivery)
            (self.held if self.faults.reorder else self.outbox).append(delivery)
        with self.wake:
            self.wake.notify_all()
        return event

    def flush_held(self) -> int:
        """Release the reorder fault's batch, newest first."""
        with self.lock:
            batch = list(reversed(self.held))
            self.held.clear()
            self.outbox.extend(batch)
        with self.wake:
            self.wake.notify_all()
        return len(batch)

    def signature(self, payload: bytes) -> str:
        return sign(payload, self.webhook_secret, int(time.time()))
