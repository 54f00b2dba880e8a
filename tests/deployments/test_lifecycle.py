"""Deployments against devcloud over real HTTP, the worker and reconciler driven explicitly."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from deployments import reconciler
from deployments.models import Deployment, DeploymentEvent, StatusChange
from heat import adapter
from heat.rendering import template_resource_names, template_text
from tests.deployments.conftest import refreshed

pytestmark = pytest.mark.django_db


def stacks_in(cloud) -> list:
    return list(adapter.stacks_list(region=cloud, tags=["cloudportal"]))


def provision(deployment):
    reconciler.deployment_provision(deployment_id=deployment.pk)
    return refreshed(deployment)


def history(deployment) -> list[str]:
    return list(
        StatusChange.objects.filter(deployment=deployment)
        .order_by("created_at", "id")
        .values_list("to_status", flat=True)
    )


def test_create_goes_active_with_outputs(launch, cloud, devcloud, reconcile, client):
    deployment = launch()
    assert deployment.status == "PENDING"
    assert deployment.hourly_price > 0

    deployment = provision(deployment)
    assert deployment.status == "PROVISIONING"
    assert deployment.stack_id
    resources = len(template_resource_names(deployment.stack_template))  # with a volume: all
    # The total is Heat's to say (conditions applied): known at the first progress check.
    assert (deployment.progress_complete, deployment.progress_total) == (0, 0)

    events_reads = len(devcloud.requests("GET", "/events"))
    devcloud.advance(3)
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        reconcile()
    progressing = client.get(f"/api/v1/deployments/{deployment.public_id}").json()
    assert progressing["status"] == "PROVISIONING"
    assert progressing["progress"]["total"] == resources
    assert 0 < progressing["progress"]["complete"] < resources
    # The progress check reads the stack's events, and its resource list once for the total.
    assert len(devcloud.requests("GET", "/events")) == events_reads + 1
    assert len(devcloud.requests("GET", "/resources")) == 1

    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        reconcile()

    body = client.get(f"/api/v1/deployments/{deployment.public_id}").json()
    assert body["status"] == "ACTIVE"
    assert body["outputs"]["login_user"] == "ubuntu"
    assert body["outputs"]["volume_id"]
    assert body["ssh_command"] == f"ssh ubuntu@{body['outputs']['public_ip']}"
    assert body["progress"] is None
    assert history(deployment) == ["PENDING", "PROVISIONING", "ACTIVE"]
    events = client.get(f"/api/v1/deployments/{deployment.public_id}/events").json()["results"]
    assert events[-1]["resource_name"] == deployment.stack_name
    assert events[-1]["resource_status"] == "CREATE_COMPLETE"
    assert len({event["id"] for event in events}) == len(events)
    assert len(stacks_in(cloud)) == 1


def test_delete_while_pending_never_leaves_a_stack(launch, cloud, client):
    deployment = launch()

    response = client.delete(f"/api/v1/deployments/{deployment.public_id}")
    assert response.status_code == 202
    assert response.json()["status"] == "DELETING"
    provision(deployment)  # the queued provisioning task runs late: it must not create
    reconciler.deployment_delete_stack(deployment_id=deployment.pk)

    assert refreshed(deployment).status == "DELETED"
    assert stacks_in(cloud) == []


def test_a_delete_with_the_broker_away_stands_and_answers_as_usual(
    launch, cloud, client, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    from kombu.exceptions import OperationalError

    from deployments import tasks

    def broker_away(*args, **kwargs):
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    deployment = launch()
    for task in (tasks.deployment_delete_stack_task, tasks.region_reconcile_task):
        monkeypatch.setattr(task, "delay", broker_away)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"/api/v1/deployments/{deployment.public_id}")

    assert response.status_code == 202
    assert response.json()["status"] == "DELETING"
    assert refreshed(deployment).status == "DELETING"
    assert "Connection refused" in caplog.text  # logged for staff
    reconciler.deployment_delete_stack(deployment_id=deployment.pk)  # a later cycle's work
    assert refreshed(deployment).status == "DELETED"


def test_delete_while_provisioning_cancels_the_stack(launch, cloud, devcloud, reconcile, client):
    deployment = provision(launch())
    devcloud.advance(2)

    client.delete(f"/api/v1/deployments/{deployment.public_id}")
    reconciler.deployment_delete_stack(deployment_id=deployment.pk)
    assert refreshed(deployment).heat_status == "DELETE_IN_PROGRESS"
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        reconcile()

    assert refreshed(deployment).status == "DELETED"
    assert stacks_in(cloud) == []
    assert history(deployment) == ["PENDING", "PROVISIONING", "DELETING", "DELETED"]


def test_delete_while_active(launch, cloud, devcloud, reconcile, client):
    deployment = provision(launch())
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        reconcile()
    assert refreshed(deployment).status == "ACTIVE"

    client.delete(f"/api/v1/deployments/{deployment.public_id}")
    reconciler.deployment_delete_stack(deployment_id=deployment.pk)
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=20)):
        reconcile()

    deployment = refreshed(deployment)
    assert deployment.status == "DELETED"
    assert deployment.deleted_at is not None
    assert stacks_in(cloud) == []


def test_no_valid_host_fails_with_a_plain_sentence_and_cleans_up(
    launch, cloud, devcloud, reconcile, client
):
    devcloud.faults(fail_resource={"name": "server", "reason": "no_valid_host"})
    deployment = provision(launch())
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        reconcile()

    body = client.get(f"/api/v1/deployments/{deployment.public_id}").json()
    assert body["status"] == "FAILED"
    assert body["status_reason"] == (
        "No GPU capacity in Frankfurt right now. Try another region or "
        "instance type, or try again later."
    )
    deployment = refreshed(deployment)
    assert "No valid host was found" in deployment.status_detail
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=20)):
        reconcile()
    assert stacks_in(cloud) == []
    assert refreshed(deployment).stack_id == ""


def test_a_5xx_burst_during_create_makes_no_second_stack(launch, cloud, devcloud):
    devcloud.faults(ambiguous_create=1, http=[{"method": "POST", "status": 503, "count": 1}])
    deployment = provision(launch())

    assert deployment.status == "PROVISIONING"
    assert [stack.name for stack in stacks_in(cloud)] == [deployment.stack_name]
    assert stacks_in(cloud)[0].id == deployment.stack_id


def test_worker_dying_after_the_create_call_is_adopted_next_run(launch, cloud, devcloud):
    deployment = launch()
    # The worker claimed it, Heat accepted the create, then the worker died.
    made = adapter.stack_create(
        region=cloud,
        name=deployment.stack_name,
        template=template_text(deployment.stack_template),
        parameters=deployment.stack_parameters,
        tags=deployment.stack_tags,
        timeout_minutes=30,
    )
    Deployment.objects.filter(pk=deployment.pk).update(
        lease_owner="dead-worker", lease_expires_at=timezone.now() + timedelta(minutes=2)
    )
    assert provision(deployment).status == "PENDING"  # its lease still holds

    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        deployment = provision(deployment)

    assert deployment.status == "PROVISIONING"
    assert deployment.stack_id == made.id
    assert len(stacks_in(cloud)) == 1


def test_lost_provisioning_task_is_sent_by_the_reconciler(launch, cloud, reconcile):
    deployment = launch()  # its task went to a queue nobody reads here

    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        reconcile()

    assert refreshed(deployment).status == "PROVISIONING"
    assert len(stacks_in(cloud)) == 1


def test_provisioning_past_the_deadline_fails_and_deletes_the_stack(
    launch, cloud, devcloud, reconcile, settings
):
    deployment = provision(launch())  # devcloud's clock stands still: CREATE_IN_PROGRESS

    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.DEPLOYMENTS_PROVISIONING_TIMEOUT + 5)
    ):
        reconcile()

    deployment = refreshed(deployment)
    assert deployment.status == "FAILED"
    assert deployment.status_reason == "Creating the machine took too long. Please try again."
    assert deployment.stack_cleanup_requested_at is not None
    assert stacks_in(cloud)[0].status.startswith("DELETE")


def test_delete_failures_are_retried_then_left_to_staff(launch, cloud, devcloud, reconcile):
    deployment = provision(launch())
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        reconcile()
    devcloud.faults(delete_failures=100)
    from deployments.services import deployment_request_delete

    deployment_request_delete(deployment=refreshed(deployment))
    reconciler.deployment_delete_stack(deployment_id=deployment.pk)
    later = timezone.now()
    for _ in range(reconciler.MAX_DELETE_ATTEMPTS + 1):
        devcloud.advance(60)
        later += timedelta(minutes=10)
        with time_machine.travel(later):
            reconcile()

    deployment = refreshed(deployment)
    assert deployment.status == "ERROR"
    assert "our team has been alerted" in deployment.status_reason
    assert "DELETE_FAILED" in deployment.status_detail
    # Each attempt is one DELETE to Heat, counted once.
    deletes = devcloud.requests("DELETE", deployment.stack_name)
    assert len(deletes) == deployment.delete_attempts == reconciler.MAX_DELETE_ATTEMPTS


@pytest.mark.django_db(transaction=True)
def test_two_reconcilers_at_once_act_once(launch, cloud, devcloud):
    import threading

    from django.db import connection

    deployments = [provision(launch(name=f"box-{index}")) for index in range(4)]
    devcloud.advance(600)
    before = len(
        [
            entry
            for entry in devcloud.requests("GET", "/stacks/dep_")
            if "/events" not in entry["path"] and "/resources" not in entry["path"]
        ]
    )
    barrier = threading.Barrier(2)
    reports = []

    def run():
        barrier.wait()
        reports.extend(reconciler.regions_reconcile())
        connection.close()

    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sum(report.acted.get("activated", 0) for report in reports) == 4
    for deployment in deployments:
        assert history(deployment) == ["PENDING", "PROVISIONING", "ACTIVE"]

    def outputs_reads():
        return [
            entry
            for entry in devcloud.requests("GET", "/stacks/dep_")
            if "/events" not in entry["path"] and "/resources" not in entry["path"]
        ]

    assert len(outputs_reads()) - before == 4  # one detail read per stack, not two


def test_orphan_sweep_deletes_only_unowned_portal_stacks(launch, cloud):
    owned = provision(launch())
    adapter.stack_create(
        region=cloud,
        name="dep_ORPHAN",
        template=template_text(owned.stack_template),
        parameters=owned.stack_parameters,
        tags=["cloudportal", "deployment:dep_ORPHAN"],
        timeout_minutes=30,
    )

    # Younger than the grace period: a create may not have saved its stack's id yet.
    assert reconciler.orphan_stacks_sweep() == []
    later = timezone.now() + timedelta(seconds=settings.DEPLOYMENTS_ORPHAN_GRACE + 60)
    assert reconciler.orphan_stacks_sweep(now=later) == ["dep_ORPHAN"]
    statuses = {stack.name: stack.status for stack in stacks_in(cloud)}
    assert statuses[owned.stack_name] == "CREATE_IN_PROGRESS"
    assert statuses.get("dep_ORPHAN", "gone").startswith(("DELETE", "gone"))


def test_heat_events_are_stored_once(launch, cloud, devcloud, reconcile):
    deployment = provision(launch())
    for step in range(1, 4):
        devcloud.advance(2)
        with time_machine.travel(timezone.now() + timedelta(seconds=5 * step)):
            reconcile()
    Deployment.objects.filter(pk=deployment.pk).update(events_marker="")  # as if purged
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        reconcile()

    ids = list(
        DeploymentEvent.objects.filter(deployment=deployment).values_list(
            "heat_event_id", flat=True
        )
    )
    assert len(ids) == len(set(ids)) > 0
    # Progress counts each created resource once, replayed events included.
    created = set(
        DeploymentEvent.objects.filter(
            deployment=deployment, resource_status="CREATE_COMPLETE"
        ).values_list("resource_name", flat=True)
    ) & template_resource_names(deployment.stack_template)
    deployment = refreshed(deployment)
    assert deployment.status == "PROVISIONING"
    assert deployment.progress_complete == len(created) > 0
