"""Usage billed by the real beat and worker: what the ledger charged for a machine equals
its seconds ACTIVE times its price, to the micro-unit, for the windows metered."""

import json
import time
from datetime import timedelta

import pytest

from billing import selectors as billing_selectors
from billing.models import UsageCharge
from catalog.services import catalog_seed_file_load
from deployments.metering import WATERMARK
from deployments.models import Deployment, MeteringWatermark, Status
from tests.accounts.factories import SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import FUNDS, fund, ledger_assert_verified
from tests.integration.processes import running_portal
from tests.integration.test_full_loop import logged_in_session, statuses_until, subscribed_socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def portal(tmp_path):
    catalog_seed_file_load()
    # Meter every 2 s, a window as soon as it closes: the test waits for one minute to end.
    settings = {"METERING_INTERVAL_SECONDS": "2", "METERING_SETTLE_SECONDS": "1"}
    with running_portal(tmp_path, extra_env=settings) as portal:
        yield portal
        print(portal.all_logs())  # shown by pytest when the test failed


def usage_pushed(socket, timeout: float = 120) -> dict:
    """The first balance.updated showing money used (metering's push)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if (
            message["type"] == "balance.updated"
            and int(message["balance"]["posted"].replace(".", "")) < FUNDS
        ):
            return message["balance"]
    raise AssertionError("no metering push")


def test_the_ledger_charges_the_seconds_active_times_the_price(portal):
    user = VerifiedUserFactory()
    fund(user.customer)
    ssh_key = SshKeyFactory(customer=user.customer)
    session = logged_in_session(portal, user.email)
    with subscribed_socket(portal, session) as socket:
        socket.send(json.dumps({"type": "subscribe", "topic": "balance"}))
        created = session.post(
            f"{portal.url}/api/v1/deployments",
            json={
                "name": "metered",
                "region": "eu-central-1",
                "instance_type": "h100-1x",
                "image": "ubuntu-24.04-cuda-12.8",
                "ssh_keys": [ssh_key.public_id],
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
        deployment_id = created.json()["id"]
        statuses_until(socket, deployment_id, "ACTIVE")
        pushed = usage_pushed(socket)  # a window with ACTIVE seconds in it was metered
        deleted = session.delete(f"{portal.url}/api/v1/deployments/{deployment_id}", timeout=10)
        assert deleted.status_code == 202
        statuses_until(socket, deployment_id, "DELETED")

    deployment = Deployment.objects.get(public_id=deployment_id)
    changes = {change.to_status: change.created_at for change in deployment.status_changes.all()}
    # Charges first under the watermark read first: a batch commits both together.
    metered_until = MeteringWatermark.objects.get(name=WATERMARK).metered_until
    charges = UsageCharge.objects.filter(subject=deployment_id, window_start__lt=metered_until)
    active_from = changes[Status.ACTIVE]
    active_until = min(changes[Status.DELETING], metered_until)
    assert active_until > active_from
    microseconds = (active_until - active_from) // timedelta(microseconds=1)
    # Compute and storage both ran from ACTIVE to the delete request.
    for component, price in (
        ("compute", deployment.compute_hourly_price),
        ("storage", deployment.storage_hourly_price),
    ):
        rate_micros = int(price * 1_000_000)
        expected = (2 * rate_micros * microseconds + 3_600_000_000) // 7_200_000_000
        assert sum(c.amount for c in charges.filter(component=component)) == expected
    seconds = (2 * microseconds + 1_000_000) // 2_000_000
    assert sum(c.seconds for c in charges.filter(component="compute")) == seconds
    wallet = billing_selectors.wallet_balance(customer=user.customer)
    assert wallet.posted == FUNDS - sum(
        UsageCharge.objects.filter(customer=user.customer).values_list("amount", flat=True)
    )
    assert wallet.held == 0  # the delete released the running hour
    assert int(pushed["posted"].replace(".", "")) < FUNDS
    ledger_assert_verified()
