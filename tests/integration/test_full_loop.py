"""The whole loop with real processes: HTTP API + WebSocket → web → worker/beat → devcloud."""

import json
import time
from contextlib import contextmanager

import pytest
import requests
from websockets.sync.client import connect

from catalog.services import catalog_seed_file_load
from tests.accounts.factories import PASSWORD, SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import fund
from tests.integration.processes import running_portal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def portal(tmp_path):
    catalog_seed_file_load()
    with running_portal(tmp_path) as portal:
        yield portal
        print(portal.all_logs())  # shown by pytest when the test failed


def logged_in_session(portal, email: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{portal.url}/accounts/login/", timeout=10)
    response = session.post(
        f"{portal.url}/accounts/login/",
        data={"login": email, "password": PASSWORD},
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{portal.url}/"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    return session


@contextmanager
def subscribed_socket(portal, session):
    cookies = "; ".join(f"{name}={value}" for name, value in session.cookies.items())
    with connect(
        portal.url.replace("http", "ws") + "/ws/v1/",
        additional_headers={"Cookie": cookies, "Origin": portal.url},
        open_timeout=10,
    ) as socket:
        socket.send(json.dumps({"type": "subscribe", "topic": "deployments"}))
        assert json.loads(socket.recv(timeout=10))["type"] == "subscribed"
        yield socket


def statuses_until(socket, deployment_id: str, final: str, timeout: float = 90) -> list[dict]:
    """The deployment.updated payloads received until `final` (or the timeout)."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(socket.recv(timeout=deadline - time.monotonic()))
        if message["type"] == "deployment.updated" and message["deployment"]["id"] == deployment_id:
            seen.append(message["deployment"])
            if message["deployment"]["status"] == final:
                return seen
    raise AssertionError(f"never saw {final}: {[d['status'] for d in seen]}")


def compressed(statuses: list[str]) -> list[str]:
    return [
        status
        for index, status in enumerate(statuses)
        if index == 0 or statuses[index - 1] != status
    ]


def test_launch_watch_and_delete_through_real_processes(portal):
    user = VerifiedUserFactory()
    fund(user.customer)
    ssh_key = SshKeyFactory(customer=user.customer)
    session = logged_in_session(portal, user.email)
    with subscribed_socket(portal, session) as socket:
        created = session.post(
            f"{portal.url}/api/v1/deployments",
            json={
                "name": "trainer",
                "region": "eu-central-1",
                "instance_type": "h100-1x",
                "image": "ubuntu-24.04-cuda-12.8",
                "ssh_keys": [ssh_key.public_id],
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
        deployment_id = created.json()["id"]

        to_active = statuses_until(socket, deployment_id, "ACTIVE")
        assert compressed([d["status"] for d in to_active])[-2:] == ["PROVISIONING", "ACTIVE"]
        active = to_active[-1]
        assert active["outputs"]["public_ip"]
        assert active["ssh_command"] == f"ssh ubuntu@{active['outputs']['public_ip']}"
        detail = session.get(f"{portal.url}/api/v1/deployments/{deployment_id}", timeout=10)
        assert detail.json() == active

        deleted = session.delete(f"{portal.url}/api/v1/deployments/{deployment_id}", timeout=10)
        assert deleted.status_code == 202
        to_deleted = statuses_until(socket, deployment_id, "DELETED")
        assert compressed([d["status"] for d in to_deleted]) == ["DELETING", "DELETED"]
        assert portal.devcloud("GET", "state")["live_stacks"] == 0


def test_no_capacity_ends_in_failed_with_its_reason(portal):
    user = VerifiedUserFactory()
    fund(user.customer)
    ssh_key = SshKeyFactory(customer=user.customer)
    session = logged_in_session(portal, user.email)
    portal.devcloud(
        "POST", "faults", {"fail_resource": {"name": "server", "reason": "no_valid_host"}}
    )
    with subscribed_socket(portal, session) as socket:
        created = session.post(
            f"{portal.url}/api/v1/deployments",
            json={
                "name": "unlucky",
                "region": "eu-central-1",
                "instance_type": "h100-8x",
                "image": "ubuntu-24.04-cuda-12.8",
                "ssh_keys": [ssh_key.public_id],
            },
            timeout=10,
        )
        deployment_id = created.json()["id"]

        failed = statuses_until(socket, deployment_id, "FAILED")[-1]

    assert failed["status_reason"].startswith("No GPU capacity in Frankfurt right now.")
    assert failed["outputs"] is None
