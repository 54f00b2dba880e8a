"""Usage billed by the real beat and worker: what the ledger charged for a machine equals
its seconds ACTIVE times its compute price, and its seconds with disks times its storage
price (the stopped span included), to the micro-unit — through a stop and a start."""

import json
import time
from datetime import datetime, timedelta

import pytest

from billing import selectors as billing_selectors
from billing.models import UsageCharge
from catalog.services import catalog_seed_file_load
from deployments.metering import WATERMARK
from deployments.models import Deployment, MeteringWatermark, Status
from tests.accounts.factories import SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import FUNDS, fund, ledger_assert_verified
from tests.integration.processes import running_portal
from tests.integration.test_full_loop import logged_in_session, subscribed_socket

pytestmark = pytest.mark.django_db(transaction=True)

US = timedelta(microseconds=1)


@pytest.fixture
def portal(tmp_path):
    catalog_seed_file_load()
    # Meter every 2 s, a window as soon as it closes: after the delete the test waits for
    # the minute it was in to end (windows are 60 s, not a setting).
    settings = {"METERING_INTERVAL_SECONDS": "2", "METERING_SETTLE_SECONDS": "1"}
    with running_portal(tmp_path, extra_env=settings) as portal:
        yield portal
        print(portal.all_logs())  # shown by pytest when the test failed


def metered_past(moment: datetime, timeout: float = 150) -> datetime:
    """Wait until metering's watermark is past `moment`; returns the watermark."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watermark = MeteringWatermark.objects.filter(name=WATERMARK).first()
        if watermark is not None and watermark.metered_until > moment:
            return watermark.metered_until
        time.sleep(0.5)
    raise AssertionError(f"metering did not pass {moment}")


def charged_push(pushes: list[dict]) -> bool:
    return any(int(push["posted"].replace(".", "")) < FUNDS for push in pushes)


def statuses_and_pushes_until(socket, deployment_id: str, final: str, pushes: list[dict]):
    """Like `statuses_until`, keeping the balance.updated messages read on the way."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        message = json.loads(socket.recv(timeout=deadline - time.monotonic()))
        if message["type"] == "balance.updated":
            pushes.append(message["balance"])
        elif (
            message["type"] == "deployment.updated"
            and message["deployment"]["id"] == deployment_id
            and message["deployment"]["status"] == final
        ):
            return
    raise AssertionError(f"never saw {final}")


def pushes_until_charged(socket, pushes: list[dict], timeout: float = 10) -> None:
    """Read balance.updated messages until one shows money used (metering's push)."""
    deadline = time.monotonic() + timeout
    while not charged_push(pushes) and time.monotonic() < deadline:
        try:
            message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break
        if message["type"] == "balance.updated":
            pushes.append(message["balance"])


def amount(price, microseconds: int) -> int:
    """price per hour times time in micro-units, rounded half up: metering's cumulative rule
    (the windows' charges sum to the rounded total)."""
    rate_micros = int(price * 1_000_000)
    return (2 * rate_micros * microseconds + 3_600_000_000) // 7_200_000_000


def billed_us(intervals: list[tuple[datetime, datetime]], until: datetime) -> int:
    return sum(
        (min(end, until) - start) // US for start, end in intervals if start < min(end, until)
    )


def test_the_ledger_charges_active_and_stopped_time_through_stop_and_start(portal):
    user = VerifiedUserFactory()
    fund(user.customer)
    ssh_key = SshKeyFactory(customer=user.customer)
    session = logged_in_session(portal, user.email)
    api = f"{portal.url}/api/v1/deployments"
    with subscribed_socket(portal, session) as socket:
        socket.send(json.dumps({"type": "subscribe", "topic": "balance"}))
        created = session.post(
            api,
            json={
                "name": "metered",
                "region": "eu-central-1",
                "instance_type": "h100-1x",
                "image": "ubuntu-24.04-cuda-12.8",
                "ssh_keys": [ssh_key.public_id],
                "storage_profile": "nvme-ssd",
                "volume_size_gb": 250,
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
        deployment_id = created.json()["id"]
        deployment = Deployment.objects.get(public_id=deployment_id)
        assert deployment.storage_hourly_price > 0
        charges = UsageCharge.objects.filter(subject=deployment_id)

        pushes: list[dict] = []  # the balance as pushed, in order
        statuses_and_pushes_until(socket, deployment_id, "ACTIVE", pushes)
        stopped = session.post(f"{api}/{deployment_id}/stop", timeout=10)
        assert stopped.status_code == 202, stopped.text
        statuses_and_pushes_until(socket, deployment_id, "STOPPED", pushes)
        started = session.post(f"{api}/{deployment_id}/start", timeout=10)
        assert started.status_code == 202, started.text
        statuses_and_pushes_until(socket, deployment_id, "ACTIVE", pushes)
        deleted = session.delete(f"{api}/{deployment_id}", timeout=10)
        assert deleted.status_code == 202, deleted.text
        statuses_and_pushes_until(socket, deployment_id, "DELETED", pushes)

        deployment.refresh_from_db()
        metered_past(deployment.status_changes.get(to_status=Status.DELETING).created_at)
        pushes_until_charged(socket, pushes)  # metering pushed the balance it charged

    deployment.refresh_from_db()
    changes = list(deployment.status_changes.order_by("created_at", "id"))
    statuses = [change.to_status for change in changes]
    assert statuses.count(Status.ACTIVE) == 2
    assert statuses[-7:] == [
        Status.ACTIVE,
        Status.STOPPING,
        Status.STOPPED,
        Status.STARTING,
        Status.ACTIVE,
        Status.DELETING,
        Status.DELETED,
    ]
    at = [change.created_at for change in changes]
    (first_active, stop_requested, stopped_at, start_requested, active_again, delete_requested) = (
        at[-7:-1]
    )
    # Charges first under the watermark read first: a batch commits both together.
    metered_until = MeteringWatermark.objects.get(name=WATERMARK).metered_until
    metered = list(charges.filter(window_start__lt=metered_until))
    assert metered_until > delete_requested

    # Compute: while ACTIVE, up to the stop request, and again up to the delete request.
    compute = billed_us(
        [(first_active, stop_requested), (active_again, delete_requested)], metered_until
    )
    assert sum(c.amount for c in metered if c.component == "compute") == amount(
        deployment.compute_hourly_price, compute
    )
    assert sum(c.seconds for c in metered if c.component == "compute") == (
        (2 * compute + 1_000_000) // 2_000_000
    )
    # Storage: from the first ACTIVE to the delete request, stopped or not.
    storage = billed_us([(first_active, delete_requested)], metered_until)
    assert sum(c.amount for c in metered if c.component == "storage") == amount(
        deployment.storage_hourly_price, storage
    )
    # The stopped span is in storage's total and not in compute's: its disks were billed,
    # not its GPU.
    assert stopped_at < start_requested
    assert storage > compute

    wallet = billing_selectors.wallet_balance(customer=user.customer)
    assert wallet.posted == FUNDS - sum(
        UsageCharge.objects.filter(customer=user.customer).values_list("amount", flat=True)
    )
    assert wallet.held == 0  # the delete released the running hour
    assert charged_push(pushes)
    ledger_assert_verified()
