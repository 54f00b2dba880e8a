"""POST /webhooks/stripe/: verified on the raw body, stored once, answered at once."""

import json
import time

import pytest
import stripe

from billing.devstripe.store import sign
from billing.models import WebhookEvent
from cloudportal.celery import app as celery_app
from tests.billing.stripe_sim import SECRET

URL = "/webhooks/stripe/"


def event_body(event_id="evt_1", event_type="payment_intent.succeeded") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": {"id": "pi_1", "object": "payment_intent"}},
        }
    ).encode()


def post(client, body: bytes, signature: str | None):
    headers = {"stripe-signature": signature} if signature is not None else {}
    return client.post(URL, data=body, content_type="application/json", headers=headers)


@pytest.fixture
def eager_celery():
    """The worker runs tasks in this process, as it would from the broker."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def secrets_set(db, settings):
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda body: sign(body, "whsec_forged", int(time.time())), id="forged"),
        pytest.param(lambda body: sign(body, SECRET, int(time.time()) - 305), id="stale"),
        pytest.param(lambda body: sign(body, SECRET, int(time.time()) + 305), id="future"),
        pytest.param(lambda body: sign(body + b" ", SECRET, int(time.time())), id="tampered"),
        pytest.param(lambda body: "t=abc,v1=00", id="garbled"),
        pytest.param(lambda body: None, id="missing"),
    ],
)
def test_a_bad_signature_is_refused_and_stores_nothing(client, secrets_set, signature, caplog):
    body = event_body()
    response = post(client, body, signature(body))

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert "webhook.rejected" in caplog.text


def test_a_signed_body_that_is_not_an_event_is_refused(client, secrets_set):
    for body in (b"not json", b'{"id": "evt_1"}', b"[]"):
        response = post(client, body, sign(body, SECRET, int(time.time())))
        assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_the_sdks_own_signature_is_accepted(client, secrets_set):
    body = event_body()
    signature = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)

    assert post(client, body, signature).status_code == 200


def test_the_previous_secret_is_accepted_while_rotating(client, db, settings):
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_new", SECRET]
    body = event_body()

    response = post(client, body, sign(body, SECRET, int(time.time())))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().event_id == "evt_1"


def test_an_event_is_stored_once_and_processed_once_by_the_task(
    client, secrets_set, django_capture_on_commit_callbacks, eager_celery
):
    body = event_body(event_type="customer.created")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            assert post(client, body, sign(body, SECRET, int(time.time()))).status_code == 200

    inbox = WebhookEvent.objects.get()
    assert (inbox.provider, inbox.event_id, inbox.type) == ("stripe", "evt_1", "customer.created")
    assert (inbox.status, inbox.attempts) == (WebhookEvent.Status.IGNORED, 1)


def test_an_event_type_we_do_not_act_on_is_marked_ignored(client, secrets_set):
    from billing import payments

    body = event_body(event_type="customer.created")
    post(client, body, sign(body, SECRET, int(time.time())))

    inbox = payments.webhook_event_process(event_pk=WebhookEvent.objects.get().pk)

    assert inbox.status == WebhookEvent.Status.IGNORED
