"""billing's Celery tasks, run in this process as a worker would run them from the broker."""

import json
import logging
import time

import pytest

from accounts.activity import Actor
from billing import payments
from billing.devstripe.store import sign
from billing.models import TopUp, WebhookEvent
from cloudportal.celery import app as celery_app
from tests.billing.stripe_sim import SECRET


@pytest.fixture
def eager_celery():
    """Tasks queued after commit run at once, retries included (without their countdown)."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def receive(client, django_capture_on_commit_callbacks, event_type, object_id) -> WebhookEvent:
    """Stripe posts an event; the inbox queues `billing.webhook_event_process` after commit."""
    body = json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": {"id": object_id}},
        }
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/webhooks/stripe/",
            data=body,
            content_type="application/json",
            headers={"stripe-signature": sign(body, SECRET, int(time.time()))},
        )
    assert response.status_code == 200
    return WebhookEvent.objects.get(event_id="evt_1")


def test_an_event_stripe_answers_with_a_passing_error_is_retried_until_it_goes_through(
    client, customer, stripe_sim, eager_celery, django_capture_on_commit_callbacks
):
    topup = payments.topup_create(
        customer=customer, amount=5000, actor=Actor.system(), return_url_base="http://testserver"
    )
    stripe_sim.pay(topup)
    intent_id = stripe_sim.store.objects[topup.checkout_session_id]["payment_intent"]
    fault = {"method": "GET", "path": "/v1/payment_intents", "status": 503}
    stripe_sim.faults(http=[{**fault, "count": 2, "should_retry": False}])

    event = receive(
        client, django_capture_on_commit_callbacks, "payment_intent.succeeded", intent_id
    )

    assert (event.status, event.attempts, event.error) == (WebhookEvent.Status.PROCESSED, 3, "")
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED


@pytest.mark.parametrize("status", [401, 403])
def test_an_event_read_with_a_key_stripe_refuses_is_retried_until_the_key_is_fixed(
    status, client, customer, stripe_sim, eager_celery, django_capture_on_commit_callbacks
):
    topup = payments.topup_create(
        customer=customer, amount=5000, actor=Actor.system(), return_url_base="http://testserver"
    )
    stripe_sim.pay(topup)
    intent_id = stripe_sim.store.objects[topup.checkout_session_id]["payment_intent"]
    fault = {"method": "GET", "path": "/v1/payment_intents", "status": status}
    stripe_sim.faults(http=[{**fault, "count": 2}])  # then staff put the right key back

    event = receive(
        client, django_capture_on_commit_callbacks, "payment_intent.succeeded", intent_id
    )

    assert (event.status, event.attempts) == (WebhookEvent.Status.PROCESSED, 3)
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED


def test_an_event_stripe_refuses_for_good_is_recorded_failed_and_not_retried(
    client, db, stripe_sim, eager_celery, django_capture_on_commit_callbacks, caplog
):
    with caplog.at_level(logging.ERROR, logger="billing.payments.inbox"):
        event = receive(
            client, django_capture_on_commit_callbacks, "payment_intent.succeeded", "pi_never"
        )

    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)
    assert event.error == (
        "Not retried: Stripe refused it for good (resource_missing): "
        "No such payment_intent: 'pi_never'"
    )
    [logged] = [record for record in caplog.records if record.msg == "webhook.event_failed"]
    assert (logged.event, logged.type, logged.provider_code, logged.retryable) == (
        "evt_1",
        "payment_intent.succeeded",
        "resource_missing",
        False,
    )


def test_a_refused_request_for_an_event_is_not_retried(
    client, customer, stripe_sim, eager_celery, django_capture_on_commit_callbacks
):
    topup = payments.topup_create(
        customer=customer, amount=5000, actor=Actor.system(), return_url_base="http://testserver"
    )
    stripe_sim.faults(
        http=[{"method": "GET", "path": "/v1/checkout/sessions", "status": 400, "count": 20}]
    )

    event = receive(
        client,
        django_capture_on_commit_callbacks,
        "checkout.session.completed",
        topup.checkout_session_id,
    )

    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)
    assert event.error.startswith("Not retried: Stripe refused it for good")
    assert stripe_sim.store.faults.http[0]["count"] == 19  # Stripe was asked once
