"""devstripe for tests: one in-process server per session (a thread), reset per test.

Webhooks are not posted by the server here: tests take the signed deliveries from its
outbox (faults applied) and post them through Django's test client, then run the inbox
as the Celery task would. `stripe_sim` points the portal's settings at it.
"""

import threading
from dataclasses import dataclass

import pytest
import requests
from django.test import Client

from billing import payments
from billing.devstripe.server import DevstripeServer
from billing.devstripe.store import Store
from billing.models import WebhookEvent

SECRET = "whsec_test_current"


@dataclass
class StripeSim:
    url: str
    store: Store

    def control(self, method: str, path: str, json=None):
        response = requests.request(method, f"{self.url}/_devstripe/{path}", json=json, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def faults(self, **faults) -> None:
        self.control("POST", "faults", faults)

    def pay(self, topup, card="4242 4242 4242 4242", **extra) -> dict:
        return self.control(
            "POST", f"checkout/{topup.checkout_session_id}/pay", {"card": card, **extra}
        )

    def deliver(self, client: Client | None = None) -> list[int]:
        """Post every queued event to the portal's endpoint; their HTTP statuses."""
        client = client or Client()
        statuses = []
        for delivery in self.control("POST", "outbox"):
            response = client.post(
                "/webhooks/stripe/",
                data=delivery["payload"],
                content_type="application/json",
                headers={"stripe-signature": delivery["signature"]},
            )
            statuses.append(response.status_code)
        return statuses

    def deliver_and_process(self) -> list[int]:
        statuses = self.deliver()
        inbox_process()
        return statuses


def inbox_process() -> None:
    """What the Celery worker does with the inbox, in arrival order."""
    for event_pk in (
        WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED)
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        payments.webhook_event_process(event_pk=event_pk)


@pytest.fixture(scope="session")
def devstripe_server():
    store = Store(webhook_url=None, webhook_secret=SECRET)
    server = DevstripeServer(("127.0.0.1", 0), store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def stripe_sim(devstripe_server, settings) -> StripeSim:
    devstripe_server.store.reset()
    url = f"http://127.0.0.1:{devstripe_server.server_address[1]}"
    settings.STRIPE_API_BASE = url
    settings.STRIPE_SECRET_KEY = "sk_test_portal"
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    return StripeSim(url=url, store=devstripe_server.store)
