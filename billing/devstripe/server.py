"""devstripe's HTTP server: Stripe's /v1 API, the hosted checkout page, control, webhooks.

A stdlib ThreadingHTTPServer like heat.devcloud, so the unchanged stripe SDK talks to it
through `StripeClient(base_addresses={"api": url})`. Requests are form-encoded with
Stripe's bracket syntax (`metadata[topup]=…`, `line_items[0][quantity]=1`), answers are
Stripe's JSON objects and errors. A sender thread posts signed events to the webhook URL
and retries failed deliveries with backoff.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from billing.devstripe import api
from billing.devstripe.store import Delivery, Faults, Store, StripeError, missing

logger = logging.getLogger(__name__)

RETRY_DELAYS = (0.5, 1, 2, 4, 8, 16, 32)


def form_decode(body: str) -> dict[str, Any]:
    """Stripe's form encoding into nested values: `a[b][0][c]=1` → {"a": {"b": [{"c": "1"}]}}."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, _, rest = key.partition("[")
        path = [head, *(rest[:-1].split("][") if rest else [])]
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        if path[-1] == "":  # expand[]=x
            node.setdefault("", {})[str(len(node.get("", {})))] = value
        else:
            node[path[-1]] = value
    return _lists(root)


def _lists(value: Any) -> Any:
    """Dicts keyed 0, 1, 2… (and `[]` appends) become lists."""
    if not isinstance(value, dict):
        return value
    if set(value) == {""}:
        value = value[""]
    if value and all(key.isdigit() for key in value):
        return [_lists(value[key]) for key in sorted(value, key=int)]
    return {key: _lists(item) for key, item in value.items()}


class Handler(BaseHTTPRequestHandler):
    server: DevstripeServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, keep-alive clients wait
        # for the delayed ACK (40 ms) on every call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("devstripe %s", format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- plumbing -------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        path = url.path.rstrip("/") or "/"
        try:
            if path.startswith("/v1/"):
                params = form_decode(url.query if method == "GET" else raw)
                self._api(method, path, params)
            elif path.startswith("/checkout/"):
                self._checkout(method, path, dict(parse_qsl(raw)))
            elif path.startswith("/_devstripe/"):
                body = json.loads(raw) if raw else {}
                self._json(200, self._control(method, path.removeprefix("/_devstripe/"), body))
            else:
                raise StripeError(404, f"Unrecognized request URL ({method}: {url.path}).")
        except StripeError as error:
            self._json(error.status, {"error": error.body})

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, indent=2).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{int(time.time() * 1000)}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _html(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(303)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    @property
    def base_url(self) -> str:
        return f"http://{self.headers.get('Host') or '127.0.0.1'}"

    # --- /v1 ------------------------------------------------------------------------------

    def _api(self, method: str, path: str, params: dict[str, Any]) -> None:
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Basic "):  # curl -u sk_test_…: as Stripe's docs show
            with contextlib.suppress(ValueError):
                decoded = base64.b64decode(authorization[6:]).decode()
                authorization = f"Bearer {decoded.split(':', 1)[0]}"
        if not authorization.startswith("Bearer sk_test_"):
            raise StripeError(
                401,
                "Invalid API Key provided: devstripe takes test keys (sk_test_…).",
                code="api_key_invalid" if authorization else None,
            )
        key = self.headers.get("Idempotency-Key")
        store = self.server.store
        fault = store.take_http_fault(method, path)
        if fault is not None:
            self._fault(fault)
            return
        with store.lock:
            if method == "POST" and key:
                remembered = store.idempotent.get((key, path))
                if remembered is not None:
                    self._json(*remembered, headers={"Idempotent-Replayed": "true"})
                    return
            try:
                status, body = 200, self._api_route(method, path, params)
            except StripeError as error:
                status, body = error.status, {"error": error.body}
            if method == "POST" and key and status < 500:
                store.idempotent[key, path] = (status, body)
        self._json(status, body)

    def _fault(self, rule: dict[str, Any]) -> None:
        """An armed API fault, answered as Stripe answers that status."""
        status = int(rule.get("status", 500))
        kind = "api_error" if status >= 500 else "invalid_request_error"
        if status == 429:
            kind = "rate_limit_error"
        error = StripeError(
            status,
            str(rule.get("message") or "devstripe: an injected fault."),
            type=str(rule.get("type") or kind),
            code=rule.get("code") or ("rate_limit" if status == 429 else None),
            param=rule.get("param"),
        )
        headers = {}
        if "should_retry" in rule:
            headers["Stripe-Should-Retry"] = "true" if rule["should_retry"] else "false"
        self._json(status, {"error": error.body}, headers=headers)

    def _api_route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        store = self.server.store
        parts = path.split("/")[2:]  # after "", "v1"
        expand = params.get("expand") or []
        if parts == ["customers"] and method == "POST":
            return api.customer_create(store, params)
        if parts == ["checkout", "sessions"] and method == "POST":
            return api.public(api.checkout_session_create(store, params, self.base_url))
        if parts[:2] == ["checkout", "sessions"] and len(parts) >= 3:
            session = api.checkout_session_lapse(store, store.get(parts[2], "checkout.session"))
            if len(parts) == 4 and parts[3] == "expire" and method == "POST":
                return api.public(api.checkout_session_expire(store, session))
            if len(parts) == 3 and method == "GET":
                shown = api.public(session)
                if "payment_intent" in expand and session["payment_intent"]:
                    shown["payment_intent"] = api.payment_intent_get(
                        store, session["payment_intent"], []
                    )
                return shown
        if parts[:1] == ["payment_intents"] and len(parts) == 2 and method == "GET":
            return api.payment_intent_get(store, parts[1], expand)
        if parts[:1] == ["charges"] and len(parts) == 2 and method == "GET":
            return store.get(parts[1], "charge")
        if parts == ["refunds"] and method == "POST":
            return api.refund_create(store, params)
        if parts[:1] == ["refunds"] and len(parts) == 2 and method == "GET":
            return store.get(parts[1], "refund")
        if parts[:1] == ["disputes"] and len(parts) == 2 and method == "GET":
            return store.get(parts[1], "dispute")
        if parts == ["events"] and method == "GET":
            return api.event_list(store, params)
        if parts[:1] == ["events"] and len(parts) == 2 and method == "GET":
            for event in store.events:
                if event["id"] == parts[1]:
                    return event
            raise missing("event", parts[1])
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    # --- the hosted checkout page ---------------------------------------------------------

    def _checkout(self, method: str, path: str, form: dict[str, str]) -> None:
        store = self.server.store
        session_id = path.split("/")[2]
        with store.lock:
            session = store.objects.get(session_id)
            if session is None or session["object"] != "checkout.session":
                self._html(404, _page("Not found", "<p>This checkout link is not valid.</p>"))
                return
            api.checkout_session_lapse(store, session)
            if method == "GET" or session["status"] != "open":
                self._html(200, _checkout_page(session))
                return
            if form.get("action") == "cancel":
                self._redirect(session["cancel_url"])
                return
            authenticated = None
            if "authenticate" in form:
                authenticated = form["authenticate"] == "complete"
            try:
                result = api.checkout_session_pay(
                    store, session, card=form.get("card", ""), authenticated=authenticated
                )
            except StripeError as error:
                self._html(400, _checkout_page(session, error=error.body["message"]))
                return
        if result["outcome"] == "succeeded":
            self._redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))
        elif result["outcome"] == "requires_action":
            self._html(200, _authenticate_page(session, form.get("card", "")))
        else:
            self._html(402, _checkout_page(session, error=result["message"]))

    # --- control (tests and developers) --------------------------------------------------

    def _control(self, method: str, path: str, body: dict[str, Any]) -> Any:
        store = self.server.store
        with store.lock:
            if path == "reset" and method == "POST":
                store.reset()
                return {"reset": True}
            if path == "faults":
                if method == "POST":
                    known = Faults().as_dict()
                    unknown = set(body) - set(known)
                    if unknown:
                        raise StripeError(400, f"Unknown faults: {sorted(unknown)}")
                    store.faults = Faults(**{**store.faults.as_dict(), **body})
                return store.faults.as_dict()
            if path == "flush" and method == "POST":
                return {"released": store.flush_held()}
            if path == "deliveries" and method == "GET":
                return [_delivery_json(store, delivery) for delivery in store.deliveries]
            if path == "outbox" and method == "POST":
                # Hand the undelivered events to the caller, who delivers them itself
                # (tests post them through Django's test client).
                taken = list(store.outbox)
                store.outbox.clear()
                for delivery in taken:
                    delivery.attempts += 1
                    delivery.delivered = True
                return [_delivery_json(store, delivery) for delivery in taken]
            if path == "events" and method == "GET":
                return store.events
            parts = path.split("/")
            if parts[0] == "checkout" and len(parts) == 3 and method == "POST":
                session = store.get(parts[1], "checkout.session")
                if parts[2] == "pay":
                    return api.checkout_session_pay(
                        store,
                        session,
                        card=body.get("card", "4242424242424242"),
                        authenticated=body.get("authenticated"),
                        amount=body.get("amount"),
                        currency=body.get("currency"),
                    )
                if parts[2] == "expire":
                    return api.public(api.checkout_session_expire(store, session))
            if parts == ["refunds"] and method == "POST":
                return api.refund_create(store, body)  # a refund made in the dashboard
            if parts[0] == "refunds" and len(parts) == 3 and parts[2] == "fail":
                return api.refund_fail(store, store.get(parts[1], "refund"))
            if parts == ["disputes"] and method == "POST":
                return api.dispute_create(store, body)
            if parts[0] == "disputes" and len(parts) == 3 and parts[2] == "close":
                status = str(body.get("status", ""))
                return api.dispute_close(store, store.get(parts[1], "dispute"), status)
        raise StripeError(404, f"Unknown control {method} /_devstripe/{path}")


def _delivery_json(store: Store, delivery: Delivery) -> dict[str, Any]:
    return {
        "event_id": delivery.event_id,
        "payload": delivery.payload.decode(),
        "signature": store.signature(delivery.payload),
        "attempts": delivery.attempts,
        "delivered": delivery.delivered,
        "last_status": delivery.last_status,
    }


# --- pages ---------------------------------------------------------------------------------

STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f6f8fa;margin:0}"
    "main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;"
    "box-shadow:0 1px 4px #0002}label{display:block;margin:.8rem 0 .2rem}"
    "input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}"
    "button{margin-top:1rem;padding:.6rem 1rem;font-size:1rem}"
    ".error{color:#b00020}.muted{color:#666;font-size:.9rem}"
)


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} · devstripe'
        f"</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def _amount(session: dict[str, Any]) -> str:
    return f"{session['amount_total'] / 100:,.2f} {session['currency'].upper()}"


def _checkout_page(session: dict[str, Any], error: str | None = None) -> str:
    if session["status"] == "complete":
        return _page("Paid", f"<h1>Paid</h1><p>{_amount(session)} was paid.</p>")
    if session["status"] == "expired":
        return _page("Expired", "<h1>Expired</h1><p>This checkout session has expired.</p>")
    problem = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return _page(
        "Checkout",
        f"<h1>Pay {_amount(session)}</h1>"
        '<p class="muted">devstripe: a development stand-in for Stripe Checkout. Test cards: '
        "4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined, 4000 0000 0000 9995 lacks "
        "funds, 4000 0025 0000 3155 asks for authentication.</p>"
        f"{problem}"
        '<form method="post">'
        '<label for="card">Card number</label>'
        '<input id="card" name="card" inputmode="numeric" autocomplete="cc-number" required '
        'placeholder="4242 4242 4242 4242">'
        '<label for="expiry">Expiry</label><input id="expiry" name="expiry" placeholder="12 / 34">'
        '<label for="cvc">CVC</label><input id="cvc" name="cvc" placeholder="123">'
        '<button type="submit" name="action" value="pay">Pay</button> '
        '<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>'
        "</form>",
    )


def _authenticate_page(session: dict[str, Any], card: str) -> str:
    return _page(
        "Authenticate",
        f"<h1>Authenticate {_amount(session)}</h1><p>Your bank asks you to confirm "
        'this payment (test 3D Secure).</p><form method="post">'
        f'<input type="hidden" name="card" value="{html.escape(card)}">'
        '<button type="submit" name="authenticate" value="complete">Complete</button> '
        '<button type="submit" name="authenticate" value="fail">Fail</button></form>',
    )


# --- the server and its webhook sender -----------------------------------------------------


class DevstripeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: Store) -> None:
        super().__init__(address, Handler)
        self.store = store
        self.sender = threading.Thread(target=self._send_forever, daemon=True)
        if store.webhook_url:
            self.sender.start()

    def _send_forever(self) -> None:
        session = requests.Session()
        while True:
            with self.store.wake:
                self.store.wake.wait(timeout=0.5)
            with self.store.lock:
                due = list(self.store.outbox)
                self.store.outbox.clear()
                faults = self.store.faults
            for delivery in due:
                if faults.delay:  # delayed ones overtake each other, as on the internet
                    threading.Thread(
                        target=self._deliver, args=(session, delivery, faults), daemon=True
                    ).start()
                else:
                    self._deliver(session, delivery, faults)

    def _deliver(self, session: requests.Session, delivery: Delivery, faults: Faults) -> None:
        if faults.delay:
            time.sleep(faults.delay)
        assert self.store.webhook_url is not None
        for delay in (0.0, *RETRY_DELAYS):
            time.sleep(delay)
            delivery.attempts += 1
            status = 0
            if delivery.attempts > faults.fail_first:
                try:
                    response = session.post(
                        self.store.webhook_url,
                        data=delivery.payload,
                        headers={
                            "Content-Type": "application/json; charset=utf-8",
                            "Stripe-Signature": self.store.signature(delivery.payload),
                            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                        },
                        timeout=10,
                    )
                    status = response.status_code
                except requests.RequestException as error:
                    logger.warning("devstripe.delivery_error %s %s", delivery.event_id, error)
            delivery.last_status = status
            if 200 <= status < 300:
                delivery.delivered = True
                logger.info("devstripe.delivered %s (%s)", delivery.event_id, status)
                return
        logger.warning("devstripe.delivery_gave_up %s", delivery.event_id)
