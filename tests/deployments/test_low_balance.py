"""The low-balance policy: warn, stop, grace, delete; a top-up restarts what it stopped.

The worker's part of a stop (the stack update) is covered by test_stop_start.py; here the
reconciler's moves are recorded directly, and time is moved with time-machine.
"""

from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import ActivityEntry
from billing.money import micros_from_decimal
from cloudportal.celery import app as celery_app
from deployments import reconciler, services
from deployments.low_balance import low_balance_check, low_balance_sweep
from deployments.models import Deployment, LowBalanceEpisode
from tests.billing.conftest import drain, ledger_assert_verified, top_up, use
from tests.deployments.conftest import refreshed

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Runs what a block schedules after commit, its Celery tasks in-process (as a worker
    would): the low-balance check a wallet change queues, the emails."""

    @contextmanager
    def run():
        celery_app.conf.task_always_eager = True
        celery_app.conf.task_eager_propagates = True
        try:
            with django_capture_on_commit_callbacks(execute=True):
                yield
        finally:
            celery_app.conf.task_always_eager = False
            celery_app.conf.task_eager_propagates = False

    return run


@pytest.fixture
def active(launch, devcloud, reconcile):
    def active(name="trainer-1") -> Deployment:
        deployment = launch(name=name)
        reconciler.deployment_provision(deployment_id=deployment.pk)
        settle(devcloud, reconcile)
        deployment = refreshed(deployment)
        assert deployment.status == "ACTIVE"
        return deployment

    return active


@pytest.fixture
def worker_stops(devcloud, reconcile):
    """The stop's stack update completes and the reconciler sees it."""

    def worker_stops(deployment) -> Deployment:
        reconcile()  # sends the update if the stop's task has not
        settle(devcloud, reconcile)
        deployment = refreshed(deployment)
        assert deployment.status == "STOPPED"
        return deployment

    return worker_stops


def settle(devcloud, reconcile) -> None:
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        reconcile()


def hour_of(deployment) -> int:
    return micros_from_decimal(deployment.hourly_price)


def balance_steps(customer) -> list[str]:
    return [
        entry["step"]
        for entry in ActivityEntry.objects.filter(customer=customer, verb="balance.low")
        .order_by("id")
        .values_list("data", flat=True)
    ]


def check(customer, committed, at):
    with time_machine.travel(at, tick=False), committed():
        return low_balance_check(customer_id=customer.pk)


def test_a_dry_wallet_stops_then_warns_then_deletes_after_the_grace_period(
    active, worker_stops, committed, mailoutbox, client
):
    deployment = active()
    customer = deployment.customer
    drain(customer)
    top_up(customer, 5_000_000)
    use(customer, 5_000_000, key="test:usage:all")
    t0 = timezone.now()

    assert check(customer, committed, t0) == ["stopped"]
    deployment = refreshed(deployment)
    assert (deployment.status, deployment.stopped_by_low_balance) == ("STOPPING", True)
    assert [m.subject for m in mailoutbox] == [
        "[GPU Cloud] Your machines were stopped: the balance ran out"
    ]
    assert ActivityEntry.objects.filter(
        verb="deployment.stopped_low_balance", object_id=deployment.public_id
    ).exists()
    banner = client.get("/deployments/").content.decode()
    assert 'data-low-balance="dry"' in banner
    assert "otherwise they are deleted on" in banner
    # A second check (or a restarted worker) does nothing more.
    assert check(customer, committed, t0 + timedelta(minutes=1)) == []
    assert len(mailoutbox) == 1
    worker_stops(deployment)

    assert check(customer, committed, t0 + timedelta(hours=47)) == []
    assert check(customer, committed, t0 + timedelta(hours=48)) == ["deletion_warning"]
    assert mailoutbox[-1].subject == "[GPU Cloud] Your machines will be deleted in 24 hours"
    assert refreshed(deployment).status == "STOPPED"
    assert check(customer, committed, t0 + timedelta(hours=71, minutes=59)) == []

    assert check(customer, committed, t0 + timedelta(hours=72)) == ["deleted"]
    assert refreshed(deployment).status == "DELETING"
    assert mailoutbox[-1].subject == "[GPU Cloud] Your machines were deleted"
    assert check(customer, committed, t0 + timedelta(hours=73)) == []
    assert len(mailoutbox) == 3
    assert balance_steps(customer) == ["stopped", "deletion_warning", "deleted"]
    ledger_assert_verified()


def test_a_top_up_restarts_what_low_balance_stopped_not_what_the_customer_stopped(
    active, worker_stops, committed, mailoutbox
):
    mine = active(name="kept-stopped")
    services.deployment_request_stop(deployment=mine)
    mine = worker_stops(mine)
    deployment = active()
    customer = deployment.customer
    drain(customer)
    top_up(customer, 1_000_000)
    use(customer, 1_000_000, key="test:usage:all")
    t0 = timezone.now()
    assert check(customer, committed, t0) == ["stopped"]
    deployment = worker_stops(deployment)

    # Not enough for an hour of everything once restarted: nothing starts.
    top_up(customer, hour_of(deployment) // 2, key="test:topup:half")
    assert check(customer, committed, t0 + timedelta(hours=1)) == []
    assert refreshed(deployment).status == "STOPPED"

    # The top-up itself triggers the check (billing's wallet_changed, after commit).
    with time_machine.travel(t0 + timedelta(hours=2), tick=False), committed():
        top_up(customer, 2 * hour_of(deployment), key="test:topup:enough")

    deployment = refreshed(deployment)
    assert (deployment.status, deployment.stopped_by_low_balance) == ("STARTING", False)
    assert refreshed(mine).status == "STOPPED"
    subjects = [m.subject for m in mailoutbox]
    assert "[GPU Cloud] Your machines are starting again" in subjects
    # The restart ends the dry spell; two hours of runway then warn again, as a new episode.
    assert balance_steps(customer)[:2] == ["stopped", "restarted"]
    assert LowBalanceEpisode.objects.get(customer=customer).dry_at is None
    ledger_assert_verified()


def test_runway_warnings_go_once_per_episode(active, committed, mailoutbox, client):
    deployment = active()
    customer = deployment.customer
    hour = hour_of(deployment)
    drain(customer)
    top_up(customer, 10 * hour)
    t0 = timezone.now()

    assert 'data-low-balance="' not in client.get("/deployments/").content.decode()
    assert check(customer, committed, t0) == ["runway_below_24h"]
    assert 'data-low-balance="day"' in client.get("/deployments/").content.decode()
    assert check(customer, committed, t0 + timedelta(minutes=1)) == []
    use(customer, 9 * hour + hour // 2, key="test:usage:1")
    assert check(customer, committed, t0 + timedelta(minutes=2)) == ["runway_below_1h"]
    assert check(customer, committed, t0 + timedelta(minutes=3)) == []
    assert [m.subject for m in mailoutbox] == [
        "[GPU Cloud] Your balance lasts less than a day",
        "[GPU Cloud] Your balance lasts less than an hour",
    ]

    # Back above a day of runway: the episode ends, and the next drop warns again.
    top_up(customer, 30 * hour, key="test:topup:more")
    assert check(customer, committed, t0 + timedelta(minutes=4)) == []
    use(customer, 20 * hour, key="test:usage:2")
    assert check(customer, committed, t0 + timedelta(minutes=5)) == ["runway_below_24h"]
    assert len(mailoutbox) == 3
    assert refreshed(deployment).status == "ACTIVE"
    ledger_assert_verified()


def test_the_sweep_checks_every_customer_with_machines(active, committed):
    deployment = active()
    customer = deployment.customer
    drain(customer)

    with committed():
        assert low_balance_sweep() == 1

    assert refreshed(deployment).status == "STOPPING"  # no money at all
    assert balance_steps(customer) == ["stopped"]


def test_a_machine_the_customer_stops_after_low_balance_did_stays_stopped_after_a_top_up(
    active, worker_stops, committed, client
):
    deployment = active()
    customer = deployment.customer
    drain(customer)
    top_up(customer, 1_000_000)
    use(customer, 1_000_000, key="test:usage:all")
    t0 = timezone.now()
    assert check(customer, committed, t0) == ["stopped"]
    deployment = worker_stops(deployment)

    client.force_login(customer.user)
    response = client.post(f"/api/v1/deployments/{deployment.public_id}/stop")
    assert response.status_code == 202  # stopped already; the customer wants it kept so

    with time_machine.travel(t0 + timedelta(hours=2), tick=False), committed():
        top_up(customer, 2 * hour_of(deployment), key="test:topup:enough")

    deployment = refreshed(deployment)
    assert (deployment.status, deployment.stopped_by_low_balance) == ("STOPPED", False)
    ledger_assert_verified()
