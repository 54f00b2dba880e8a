"""WebSocket v1: authentication, subscriptions, relayed updates, errors, session end.

Each scenario runs in one event loop (the communicator lives in it); database work is
passed to the test's own thread with sync_to_async, so it shares the test transaction,
which the consumer's connection cleanup leaves open (tests/conftest.py).
"""

import json
import threading
from datetime import timedelta
from decimal import Decimal

import channels.consumer
import pytest
import time_machine
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import LoginSession
from billing.runway import balance_documents
from cloudportal.asgi import application
from deployments import metering, services, tasks
from deployments.models import Deployment, MeteringWatermark, Status
from heat.adapter_types import StackEvent
from tests.accounts.factories import PASSWORD, VerifiedUserFactory
from tests.billing.conftest import top_up

pytestmark = pytest.mark.django_db

ORIGIN = (b"origin", b"http://testserver")
CLOSED_4401 = {"type": "websocket.close", "code": 4401}


def socket_for(client: Client | None, origin=ORIGIN) -> WebsocketCommunicator:
    headers = [origin] if origin else []
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, "/ws/v1/", headers=headers)


def run(scenario):
    async_to_sync(scenario)()


def in_test_thread(function):
    return sync_to_async(function, thread_sensitive=True)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a sync function and then its on-commit callbacks (the publishes), in the test thread."""

    def committed(function, *args, **kwargs):
        def call():
            with django_capture_on_commit_callbacks(execute=True):
                return function(*args, **kwargs)

        return in_test_thread(call)()

    return committed


@pytest.fixture
def browser(customer) -> Client:
    client = Client()
    client.post("/accounts/login/", {"login": customer.user.email, "password": PASSWORD})
    return client


@pytest.fixture
def deployment(client, spec, catalog) -> Deployment:
    response = client.post("/api/v1/deployments", spec)
    return Deployment.objects.get(public_id=response.json()["id"])


def test_anonymous_socket_is_closed_with_4401():
    async def scenario():
        socket = socket_for(None)
        connected, _ = await socket.connect()
        assert connected
        assert await socket.receive_output(2) == CLOSED_4401

    run(scenario)


def test_foreign_origin_is_refused(browser):
    async def scenario():
        socket = socket_for(browser, origin=(b"origin", b"https://evil.example"))
        connected, _ = await socket.connect()
        assert connected is False

    run(scenario)


def test_updates_arrive_as_the_rest_detail_json(browser, client, deployment, committed):
    async def scenario():
        socket = socket_for(browser)
        await socket.connect()
        await socket.send_json_to({"type": "subscribe", "topic": "deployments"})
        assert await socket.receive_json_from(2) == {"type": "subscribed", "topic": "deployments"}

        await committed(
            services.deployment_transition,
            deployment_id=deployment.pk,
            to_status=Status.PROVISIONING,
            reason="Creating the machine.",
            changes={"progress_total": 8, "progress_complete": 3},
        )

        message = await socket.receive_json_from(2)
        detail = await in_test_thread(client.get)(f"/api/v1/deployments/{deployment.public_id}")
        assert message["type"] == "deployment.updated"
        assert message["deployment"] == detail.json()
        assert message["deployment"]["progress"] == {"complete": 3, "total": 8}
        await socket.disconnect()

    run(scenario)


def test_an_update_relayed_while_the_test_thread_is_busy_leaves_its_transaction_open(
    browser, client, deployment, django_capture_on_commit_callbacks, monkeypatch
):
    """On a busy machine the consumer relays the update before the test awaits the socket,
    while this thread is still in the publishing code: the consumer's connection cleanup then
    ran here and closed the test transaction's connection, and the REST read was a 503."""
    relaying = threading.Event()
    cleanup = channels.consumer.aclose_old_connections

    async def cleanup_noticed():
        relaying.set()
        await cleanup()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", cleanup_noticed)

    def transition_until_the_consumer_relays():
        relaying.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.deployment_transition(
                deployment_id=deployment.pk, to_status=Status.PROVISIONING
            )
        assert relaying.wait(2)

    async def scenario():
        socket = socket_for(browser)
        await socket.connect()
        await socket.send_json_to({"type": "subscribe", "topic": "deployments"})
        await socket.receive_json_from(2)

        await in_test_thread(transition_until_the_consumer_relays)()

        message = await socket.receive_json_from(2)
        detail = await in_test_thread(client.get)(f"/api/v1/deployments/{deployment.public_id}")
        assert detail.status_code == 200, detail.json()
        assert message["deployment"] == detail.json()
        await socket.disconnect()

    run(scenario)


def test_one_deployment_topic_and_its_events(browser, deployment, committed):
    event = StackEvent(
        id="ev-1",
        time=None,
        resource_name="server",
        resource_status="CREATE_IN_PROGRESS",
        reason="state changed",
        physical_resource_id="",
        is_stack_event=False,
    )

    async def scenario():
        socket = socket_for(browser)
        await socket.connect()
        subscribe = {"type": "subscribe", "topic": "deployment", "id": deployment.public_id}
        await socket.send_json_to(subscribe)
        assert await socket.receive_json_from(2) == {**subscribe, "type": "subscribed"}

        await committed(
            services.deployments_apply,
            [services.DeploymentChange(deployment_id=deployment.pk, heat_events=[event])],
        )

        message = await socket.receive_json_from(2)
        assert message["type"] == "deployment.event"
        assert message["deployment_id"] == deployment.public_id
        assert message["event"]["id"] == "ev-1"
        assert message["event"]["resource_status"] == "CREATE_IN_PROGRESS"
        await socket.disconnect()

    run(scenario)


def test_a_workers_batch_arrives_in_order_and_once(browser, client, spec, catalog, committed):
    """A reconciler cycle writes many deployments at once: a socket watching the list and
    one of them sees each deployment's events, then its new state, each message once."""
    first, second = (
        Deployment.objects.get(
            public_id=client.post("/api/v1/deployments", {**spec, "name": name}).json()["id"]
        )
        for name in ("box-a", "box-b")
    )

    def event(number: int) -> StackEvent:
        return StackEvent(
            id=f"ev-{number}",
            time=None,
            resource_name="server",
            resource_status="CREATE_COMPLETE",
            reason="state changed",
            physical_resource_id="",
            is_stack_event=False,
        )

    batch = [
        services.DeploymentChange(deployment_id=first.pk, heat_events=[event(1), event(2)]),
        services.DeploymentChange(
            deployment_id=first.pk, to_status=Status.PROVISIONING, reason="Creating."
        ),
        services.DeploymentChange(deployment_id=second.pk, heat_events=[event(3)]),
        services.DeploymentChange(
            deployment_id=second.pk,
            to_status=Status.ACTIVE,
            reason="Running.",  # refused
        ),
    ]

    async def scenario():
        socket = socket_for(browser)
        await socket.connect()
        await socket.send_json_to({"type": "subscribe", "topic": "deployments"})
        await socket.send_json_to(
            {"type": "subscribe", "topic": "deployment", "id": first.public_id}
        )
        await socket.receive_json_from(2)
        await socket.receive_json_from(2)

        applied = await committed(services.deployments_apply, batch)

        received = [await socket.receive_json_from(2) for _ in range(4)]
        assert await socket.receive_nothing(0.3)
        await socket.disconnect()
        return applied, received

    applied, received = async_to_sync(scenario)()
    assert list(applied.refused) == [second.pk]
    seen = [
        (m["type"], m.get("deployment_id") or m["deployment"]["id"], m.get("event", {}).get("id"))
        for m in received
    ]
    by_deployment = {
        deployment.public_id: [entry for entry in seen if entry[1] == deployment.public_id]
        for deployment in (first, second)
    }
    assert by_deployment[first.public_id] == [
        ("deployment.event", first.public_id, "ev-1"),
        ("deployment.event", first.public_id, "ev-2"),
        ("deployment.updated", first.public_id, None),
    ]
    # The refused move changed nothing to announce; its events still arrive.
    assert by_deployment[second.public_id] == [("deployment.event", second.public_id, "ev-3")]
    updated = [m["deployment"] for m in received if m["type"] == "deployment.updated"]
    assert [(d["id"], d["status"]) for d in updated] == [(first.public_id, Status.PROVISIONING)]


def test_subscribed_twice_over_receives_each_update_once(browser, deployment, committed):
    async def scenario():
        socket = socket_for(browser)
        await socket.connect()
        await socket.send_json_to({"type": "subscribe", "topic": "deployments"})
        await socket.send_json_to(
            {"type": "subscribe", "topic": "deployment", "id": deployment.public_id}
        )
        await socket.receive_json_from(2)
        await socket.receive_json_from(2)

        await committed(services.deployment_update, deployment_id=deployment.pk, progress_total=5)

        assert (await socket.receive_json_from(2))["type"] == "deployment.updated"
        assert await socket.receive_nothing(0.3)
        await socket.disconnect()

    run(scenario)


def test_unsubscribe_stops_updates(browser, deployment, committed):
    async def scenario():
        socket = socket_for(browser)
        await socket.connect()
        await socket.send_json_to({"type": "subscribe", "topic": "deployments"})
        await socket.receive_json_from(2)
        await socket.send_json_to({"type": "unsubscribe", "topic": "deployments"})
        assert await socket.receive_json_from(2) == {"type": "unsubscribed", "topic": "deployments"}

        await committed(services.deployment_update, deployment_id=deployment.pk, progress_total=5)

        assert await socket.receive_nothing(0.3)
        await socket.disconnect()

    run(scenario)


def test_another_customers_deployment_cannot_be_subscribed(deployment, committed):
    stranger = Client()
    stranger.post("/accounts/login/", {"login": VerifiedUserFactory().email, "password": PASSWORD})

    async def scenario():
        socket = socket_for(stranger)
        await socket.connect()
        await socket.send_json_to(
            {"type": "subscribe", "topic": "deployment", "id": deployment.public_id}
        )
        error = await socket.receive_json_from(2)
        await socket.send_json_to({"type": "subscribe", "topic": "deployments"})
        await socket.receive_json_from(2)

        await committed(services.deployment_update, deployment_id=deployment.pk, progress_total=5)

        assert error["type"] == "error"
        assert error["code"] == "not_found"
        assert await socket.receive_nothing(0.3)
        await socket.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "malformed_message"),
        ("[1, 2]", "malformed_message"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "subscribe", "topic": "weather"}), "unknown_topic"),
        (json.dumps({"type": "subscribe", "topic": "deployment"}), "missing_id"),
        # PostgreSQL refuses NUL in text: asking for it used to kill the socket (1006).
        (json.dumps({"type": "subscribe", "topic": "deployment", "id": "dep_\x00"}), "not_found"),
        (json.dumps({"type": "subscribe", "topic": "deployment", "id": "x" * 10_000}), "not_found"),
    ],
)
def test_bad_messages_get_an_error_and_the_socket_stays_open(browser, raw, code):
    async def scenario():
        socket = socket_for(browser)
        await socket.connect()
        await socket.send_to(text_data=raw)
        error = await socket.receive_json_from(2)
        await socket.send_json_to({"type": "ping"})

        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]
        assert await socket.receive_json_from(2) == {"type": "pong"}
        await socket.disconnect()

    run(scenario)


def test_revoking_the_session_closes_its_sockets(browser, customer, committed):
    async def scenario():
        socket = socket_for(browser)
        await socket.connect()
        await socket.send_json_to({"type": "ping"})
        await socket.receive_json_from(2)
        login_session = await in_test_thread(LoginSession.objects.get)(user=customer.user)

        await committed(accounts_services.login_session_revoke, login_session=login_session)

        assert await socket.receive_output(2) == CLOSED_4401

    run(scenario)


def test_logout_closes_the_sessions_sockets(browser, committed):
    async def scenario():
        socket = socket_for(browser)
        await socket.connect()
        await socket.send_json_to({"type": "ping"})
        await socket.receive_json_from(2)

        await committed(browser.post, "/accounts/logout/")

        assert await socket.receive_output(2) == CLOSED_4401

    run(scenario)


def test_the_protocol_is_documented_and_linked_from_the_api_docs(client):
    page = client.get("/api/websocket/")
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/json"}).json()

    assert page.status_code == 200
    html = page.content.decode()
    for fragment in ("/ws/v1/", "deployment.updated", "4401", "malformed_message", "not_found"):
        assert fragment in html
    assert "/api/websocket/" in schema["info"]["description"]


def test_a_top_up_and_a_metering_run_push_the_balance_and_runway(
    browser, client, customer, deployment, committed, django_capture_on_commit_callbacks
):
    services.deployment_transition(deployment_id=deployment.pk, to_status=Status.PROVISIONING)
    services.deployment_transition(deployment_id=deployment.pk, to_status=Status.ACTIVE)

    def meter_a_few_minutes_later():
        later = timezone.now() + timedelta(minutes=5)
        MeteringWatermark.objects.create(
            name=metering.WATERMARK, metered_until=metering.window_floor(timezone.now())
        )
        with (
            time_machine.travel(later, tick=False),
            django_capture_on_commit_callbacks() as scheduled,
        ):
            assert metering.usage_meter().postings > 0
        for callback in scheduled:  # wallet_changed (source "usage"), the push task queued
            callback()
        tasks.balances_publish_task([customer.pk])  # the queued task, run as a worker would
        return balance_documents(customer_ids=[customer.pk])[customer.pk]

    async def scenario():
        socket = socket_for(browser)
        await socket.connect()
        await socket.send_json_to({"type": "subscribe", "topic": "balance"})
        assert await socket.receive_json_from(2) == {"type": "subscribed", "topic": "balance"}

        await committed(top_up, customer, 5_000_000, key="test:push")
        await in_test_thread(tasks.wallet_reactions_drain_task)()  # as the worker would
        message = await socket.receive_json_from(2)
        body = (await in_test_thread(client.get)("/api/v1/billing/balance")).json()
        assert message == {"type": "balance.updated", "balance": body}
        assert body["runway_hours"] is not None

        # Metering's usage postings are pushed once per run, not once per posting.
        metered = await in_test_thread(meter_a_few_minutes_later)()
        message = await socket.receive_json_from(2)
        assert message == {"type": "balance.updated", "balance": metered}
        assert Decimal(metered["posted"]) < Decimal(body["posted"])
        assert await socket.receive_nothing(0.2)
        await socket.disconnect()

    run(scenario)
