"""A worker that dies holding work delays it by seconds: its lease lapses unless renewed,
and a delete is due (and a reconciler cycle sent) the moment it is asked for."""

import time
from datetime import timedelta

import pytest
import time_machine
from celery.signals import before_task_publish
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deployments import leases, reconciler, services, tasks
from deployments.models import Deployment, Status
from tests.deployments.conftest import refreshed
from tests.deployments.test_lifecycle import provision, stacks_in

pytestmark = pytest.mark.django_db


def dead_worker_holds(deployment) -> None:
    """What a worker killed right after claiming leaves behind: a lease nobody renews."""
    Deployment.objects.filter(pk=deployment.pk).update(
        lease_owner="dead-worker", lease_expires_at=timezone.now() + leases.LEASE_DURATION
    )


@pytest.mark.parametrize("phase", ["create", "delete"])
def test_a_dead_tasks_work_is_done_by_the_first_cycle_after_seconds(
    phase, launch, cloud, client, reconcile
):
    deployment = launch()
    if phase == "delete":
        deployment = provision(deployment)
        client.delete(f"/api/v1/deployments/{deployment.public_id}")
    dead_worker_holds(deployment)
    reconcile()
    assert refreshed(deployment).lease_owner == "dead-worker"  # a live lease is respected

    # One reconciler cycle (3 s) after the row is due and the lease lapsed: seconds, where
    # it used to be minutes (a 2-minute lease; a delete due at its next settled check).
    held = refreshed(deployment)
    later = max(held.next_check_at, held.lease_expires_at) + reconciler.YOUNG_CHECK
    assert later - timezone.now() < timedelta(seconds=20)
    with time_machine.travel(later):
        reconcile()

    deployment = refreshed(deployment)
    if phase == "create":
        assert deployment.status == Status.PROVISIONING
        assert [stack.name for stack in stacks_in(cloud)] == [deployment.stack_name]
    else:
        assert deployment.status in {Status.DELETING, Status.DELETED}
        assert [stack.status for stack in stacks_in(cloud)] in ([], ["DELETE_IN_PROGRESS"])
        assert deployment.heat_status in {"DELETE_IN_PROGRESS", "DELETE_COMPLETE"}


def test_a_delete_is_due_at_once_and_sends_a_reconciler_cycle(
    launch, client, django_capture_on_commit_callbacks
):
    deployment = provision(launch())
    published = []

    def record(sender=None, **kwargs):
        published.append(sender)

    before_task_publish.connect(record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client.delete(f"/api/v1/deployments/{deployment.public_id}")
    finally:
        before_task_publish.disconnect(record)

    assert refreshed(deployment).next_check_at <= timezone.now()
    # (The released hold also queues a low-balance check of the wallet it changed.)
    assert [
        task for task in published if task.startswith("deployments.d") or task.endswith("reconcile")
    ] == ["deployments.delete_stack", "deployments.region_reconcile"]


@pytest.fixture
def cycles_queued():
    """The reconciler cycles queued (as the broker receives them): the region id of each
    cycle of one region, "every region" for a cycle over every region (beat's)."""
    queued: list[int | str] = []

    def record(sender=None, body=None, **kwargs):
        if sender == "deployments.reconcile":
            queued.append("every region")
        elif sender == "deployments.region_reconcile":
            args, _kwargs, _embed = body
            queued.extend(args)

    before_task_publish.connect(record)
    yield queued
    before_task_publish.disconnect(record)


def test_many_deletes_queue_one_cycle_for_each_of_their_regions(
    launch, cycles_queued, django_capture_on_commit_callbacks
):
    europe = [launch(name=f"eu-{n}") for n in range(3)]
    america = [launch(name=f"us-{n}", region="us-east-1") for n in range(2)]

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for deployment in [*europe, *america]:
            services.deployment_request_delete(deployment=deployment)

    assert sorted(cycles_queued) == sorted([europe[0].region_id, america[0].region_id])
    assert europe[0].region_id != america[0].region_id


def test_deletes_in_separate_requests_share_the_queued_cycle_which_finishes_them(
    launch, client, cycles_queued, django_capture_on_commit_callbacks
):
    deployments = [launch(name=f"eu-{n}") for n in range(3)]
    region_id = deployments[0].region_id

    for deployment in deployments[:2]:
        with django_capture_on_commit_callbacks(execute=True):
            assert client.delete(f"/api/v1/deployments/{deployment.public_id}").status_code == 202
    assert cycles_queued == [region_id]

    tasks.region_reconcile_task(region_id)  # as the worker would (its delete tasks are lost)

    assert [refreshed(d).status for d in deployments] == ["DELETED", "DELETED", "PENDING"]
    # The cycle has run: the next delete queues the next one.
    with django_capture_on_commit_callbacks(execute=True):
        client.delete(f"/api/v1/deployments/{deployments[2].public_id}")
    assert cycles_queued == [region_id, region_id]


def test_a_staff_resync_queues_a_cycle_for_its_region(
    launch, cycles_queued, django_capture_on_commit_callbacks
):
    deployment = provision(launch())

    with django_capture_on_commit_callbacks(execute=True):
        services.deployment_resync(deployment_id=deployment.pk)

    assert cycles_queued == [deployment.region_id]


@pytest.mark.django_db(transaction=True)
def test_a_live_workers_lease_is_renewed_and_ends_with_its_release(launch, monkeypatch):
    monkeypatch.setattr(leases, "LEASE_RENEW_EVERY", 0.05)
    deployment = launch()
    [claimed] = services.deployments_claim(condition=Q(pk=deployment.pk), owner="live-worker")
    first = refreshed(deployment).lease_expires_at

    deadline = time.monotonic() + 1
    while refreshed(deployment).lease_expires_at == first and time.monotonic() < deadline:
        time.sleep(0.05)
    renewed = refreshed(deployment).lease_expires_at
    services.deployments_release(deployment_ids=[claimed], owner="live-worker")
    time.sleep(0.2)

    assert renewed > first
    deployment = refreshed(deployment)
    assert (deployment.lease_owner, deployment.lease_expires_at) == ("", None)
    assert "live-worker" not in leases._keepers
