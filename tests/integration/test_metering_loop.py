"""Usage billed by the real beat and worker: what the ledger charged for a machine equals
its seconds ACTIVE times its compute price, and its seconds with disks times its storage
price, to the micro-unit, for the windows metered — through a stop and a start."""

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from billing import selectors as billing_selectors
from billing.models import UsageCharge
from catalog.services import catalog_seed_file_load
from deployments.metering import WATERMARK, WINDOW, window_floor
from deployments.models import Deployment, MeteringWatermark, Status
from tests.accounts.factories import SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import FUNDS, fund, ledger_assert_verified
from tests.integration.processes import running_portal
from tests.integration.test_full_loop import logged_in_session, statuses_until, subscribed_socket

pytestmark = pytest.mark.django_db(transaction=True)

US = timedelta(microseconds=1)


@pytest.fixture
def portal(tmp_path):
    catalog_seed_file_load()
    # Meter every 2 s, a window as soon as it closes. Windows are 60 s (not a setting), so
    # the test waits for minutes to end: the one it became ACTIVE in, then after the stop
    # the rest of that minute and a whole stopped one, then the minute it is ACTIVE again
    # (3 to 4 minutes in all).
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


def pushed_until(socket, charged: Callable[[], bool], timeout: float = 180) -> None:
    """Read the socket (metering pushes the balance after each run that charged) until
    the ledger holds the charge `charged` looks for; checked first, as a push may have
    come while the test waited for a status."""
    deadline = time.monotonic() + timeout
    while not charged():
        if time.monotonic() >= deadline:
            raise AssertionError("no metering push with the charge awaited")
        socket.recv(timeout=max(0.1, deadline - time.monotonic()))


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

        def charged(component: str, since: datetime) -> Callable[[], bool]:
            return charges.filter(component=component, window_start__gte=since).exists

        statuses_until(socket, deployment_id, "ACTIVE")
        pushed = usage_pushed(socket)  # a window with ACTIVE seconds in it was metered
        assert charges.filter(component="compute").exists()

        stopped = session.post(f"{api}/{deployment_id}/stop", timeout=10)
        assert stopped.status_code == 202, stopped.text
        statuses_until(socket, deployment_id, "STOPPED")
        deployment.refresh_from_db()
        # A whole window passes stopped, and is metered: its disks are billed, not the GPU.
        pushed_until(
            socket, charged("storage", window_floor(deployment.status_changed_at) + WINDOW)
        )

        started = session.post(f"{api}/{deployment_id}/start", timeout=10)
        assert started.status_code == 202, started.text
        statuses_until(socket, deployment_id, "ACTIVE")
        deployment.refresh_from_db()
        # The window it became ACTIVE again in was metered.
        pushed_until(socket, charged("compute", window_floor(deployment.activated_at)))

        deleted = session.delete(f"{api}/{deployment_id}", timeout=10)
        assert deleted.status_code == 202, deleted.text
        statuses_until(socket, deployment_id, "DELETED")

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
    assert metered_until > active_again

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
    # Some window the machine spent wholly STOPPED charged its disks and no compute.
    compute_windows = {c.window_start for c in metered if c.component == "compute"}
    stopped_windows = [
        c
        for c in metered
        if c.component == "storage"
        and stopped_at <= c.window_start
        and c.window_start + WINDOW <= start_requested
    ]
    assert stopped_windows
    assert all(c.amount > 0 and c.window_start not in compute_windows for c in stopped_windows)

    wallet = billing_selectors.wallet_balance(customer=user.customer)
    assert wallet.posted == FUNDS - sum(
        UsageCharge.objects.filter(customer=user.customer).values_list("amount", flat=True)
    )
    assert wallet.held == 0  # the delete released the running hour
    assert int(pushed["posted"].replace(".", "")) < FUNDS
    ledger_assert_verified()
