"""WebSocket v1 with an API key: `Authorization: Bearer` on the upgrade request."""

import pytest
from channels.testing.websocket import WebsocketCommunicator

from accounts.api_keys import api_key_revoke
from cloudportal.api.scopes import Scope
from cloudportal.asgi import application
from deployments import services
from deployments.models import Deployment, Status
from tests.accounts.factories import VerifiedUserFactory, api_key_for
from tests.deployments.test_consumers import CLOSED_4401, in_test_thread, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    def committed(function, *args, **kwargs):
        def call():
            with django_capture_on_commit_callbacks(execute=True):
                return function(*args, **kwargs)

        return in_test_thread(call)()

    return committed


@pytest.fixture
def deployment(client, spec, catalog) -> Deployment:
    response = client.post("/api/v1/deployments", spec)
    return Deployment.objects.get(public_id=response.json()["id"])


def key_socket(secret: str, *, cookie: str | None = None) -> WebsocketCommunicator:
    # No Origin: non-browser clients send none, and a bearer request needs no origin check.
    headers = [(b"authorization", f"Bearer {secret}".encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/v1/", headers=headers)


def test_a_key_with_deployments_read_receives_updates(customer, deployment, committed):
    _, secret = api_key_for(customer, scopes=[Scope.DEPLOYMENTS_READ])

    async def scenario():
        socket = key_socket(secret)
        connected, _ = await socket.connect()
        assert connected
        subscribe = {"type": "subscribe", "topic": "deployment", "id": deployment.public_id}
        await socket.send_json_to(subscribe)
        assert await socket.receive_json_from(2) == {**subscribe, "type": "subscribed"}

        await committed(
            services.deployment_transition,
            deployment_id=deployment.pk,
            to_status=Status.PROVISIONING,
            reason="Creating the machine.",
        )

        message = await socket.receive_json_from(2)
        assert message["type"] == "deployment.updated"
        assert message["deployment"]["id"] == deployment.public_id
        await socket.disconnect()

    run(scenario)


def test_a_key_without_deployments_read_is_closed_with_4403(customer):
    _, secret = api_key_for(customer, scopes=[Scope.BILLING_READ])

    async def scenario():
        socket = key_socket(secret)
        await socket.connect()
        assert await socket.receive_output(2) == {"type": "websocket.close", "code": 4403}

    run(scenario)


def test_a_bad_key_is_anonymous_even_with_a_session_cookie(customer, client):
    _, secret = api_key_for(customer)
    cookie = (
        f"sessionid={client.cookies['sessionid'].value}" if "sessionid" in client.cookies else None
    )

    async def scenario():
        socket = key_socket(secret[:-2] + "zz", cookie=cookie)
        await socket.connect()
        assert await socket.receive_output(2) == CLOSED_4401

    run(scenario)


def test_another_customers_deployment_is_not_found_for_a_key(deployment):
    _, secret = api_key_for(VerifiedUserFactory().customer, scopes=[Scope.DEPLOYMENTS_READ])

    async def scenario():
        socket = key_socket(secret)
        await socket.connect()
        await socket.send_json_to(
            {"type": "subscribe", "topic": "deployment", "id": deployment.public_id}
        )
        reply = await socket.receive_json_from(2)
        assert (reply["type"], reply["code"]) == ("error", "not_found")
        await socket.disconnect()

    run(scenario)


def test_revoking_the_key_closes_its_sockets(customer, committed):
    api_key, secret = api_key_for(customer, scopes=[Scope.DEPLOYMENTS_READ])

    async def scenario():
        socket = key_socket(secret)
        await socket.connect()
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from(2) == {"type": "pong"}

        await committed(api_key_revoke, api_key=api_key)

        assert await socket.receive_output(2) == CLOSED_4401
        again = key_socket(secret)
        await again.connect()
        assert await again.receive_output(2) == CLOSED_4401

    run(scenario)
