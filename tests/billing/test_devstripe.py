"""devstripe itself: the wire the stripe SDK expects, signed webhooks with retries, faults."""

import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import stripe

from billing.devstripe.server import DevstripeServer
from billing.devstripe.store import Store
from tests.devcloud import ROOT

SECRET = "whsec_sender"


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[bytes, str]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((body, self.headers["Stripe-Signature"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def sending_devstripe():
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    Receiver.received = []
    store = Store(
        webhook_url=f"http://127.0.0.1:{receiver.server_address[1]}/hook", webhook_secret=SECRET
    )
    server = DevstripeServer(("127.0.0.1", 0), store)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    yield url, store
    server.shutdown()
    receiver.shutdown()


def test_events_are_signed_and_a_failed_delivery_is_retried(sending_devstripe):
    url, store = sending_devstripe
    requests.post(f"{url}/_devstripe/faults", json={"fail_first": 1}, timeout=5)
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": url})
    client.v1.customers.create(params={"email": "a@example.com"})
    store.emit("customer.created", {"id": "cus_1", "object": "customer"})

    deadline = time.monotonic() + 5
    while not Receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)

    [(body, signature)] = Receiver.received
    event = stripe.Webhook.construct_event(body.decode(), signature, SECRET)
    assert (event.id, event.type) == (store.events[0]["id"], "customer.created")
    assert store.deliveries[0].attempts == 2


def test_the_sdk_gets_stripes_errors(sending_devstripe):
    url, _ = sending_devstripe
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": url})

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_missing")
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_live_x", base_addresses={"api": url}).v1.events.list()

    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


def test_a_checkout_for_a_customer_it_does_not_know_names_the_customer_param(sending_devstripe):
    url, _ = sending_devstripe
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": url})

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "customer": "cus_gone",
                "line_items": [
                    {"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 500}}
                ],
                "success_url": "http://portal/ok",
                "cancel_url": "http://portal/no",
            }
        )

    error = missing.value
    assert (error.http_status, error.code, error.param) == (404, "resource_missing", "customer")
    assert error.user_message == "No such customer: 'cus_gone'"


def test_an_http_fault_answers_the_next_matching_requests_with_stripes_error(sending_devstripe):
    url, store = sending_devstripe
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": url}, max_network_retries=0)
    faults = {"method": "GET", "path": "/v1/events", "status": 503, "count": 2}
    requests.post(f"{url}/_devstripe/faults", json={"http": [faults]}, timeout=5)

    for _ in range(2):
        with pytest.raises(stripe.APIError) as failed:
            client.v1.events.list()
        assert failed.value.http_status == 503
    client.v1.customers.create()  # another request: not matched
    assert client.v1.events.list().object == "list"  # the fault is used up
    assert store.faults.http == []


def test_devstripe_refuses_to_start_without_debug():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_DEBUG"}

    result = subprocess.run(
        [sys.executable, "-m", "billing.devstripe", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode != 0
    assert "starts only with DJANGO_DEBUG=true" in result.stderr


def test_a_session_past_its_expiry_expires_when_read(sending_devstripe):
    url, store = sending_devstripe
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": url})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 500}}],
            "success_url": "http://portal/ok",
            "cancel_url": "http://portal/no",
            "expires_at": int(time.time()) - 1,
        }
    )

    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert [event["type"] for event in store.events] == ["checkout.session.expired"]
