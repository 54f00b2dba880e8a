"""Stop and start against devcloud: stack updates that remove the server and keep the disks,
driven through the worker's task body and the reconciler, time moved explicitly."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import ActivityEntry
from billing.money import micros_from_decimal
from deployments import reconciler, services
from deployments.exceptions import DeploymentInsufficientBalance, DeploymentStateConflict
from deployments.models import Deployment, StatusChange
from heat import adapter
from heat.adapter import StackRef
from heat.rendering import SERVER_STOPPED, template_text
from tests.billing.conftest import drain, ledger_assert_verified, top_up
from tests.deployments.conftest import refreshed

pytestmark = pytest.mark.django_db


def history(deployment) -> list[str]:
    return list(
        StatusChange.objects.filter(deployment=deployment)
        .order_by("id")  # the tests' clock jumps back and forth
        .values_list("to_status", flat=True)
    )


def settle(devcloud, reconcile, seconds: float = 600) -> None:
    """Let Heat finish what it is doing, then one reconciler cycle a little later."""
    devcloud.advance(seconds)
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        reconcile()


def running(launch, devcloud, reconcile) -> Deployment:
    deployment = launch()
    reconciler.deployment_provision(deployment_id=deployment.pk)
    settle(devcloud, reconcile)
    deployment = refreshed(deployment)
    assert deployment.status == "ACTIVE"
    return deployment


def resources(cloud, deployment) -> dict[str, str]:
    stack = StackRef(id=deployment.stack_id, name=deployment.stack_name)
    return {
        r.name: r.physical_id for r in adapter.stack_resources(region=cloud, stack=stack).resources
    }


def afford_one_hour(deployment) -> None:
    drain(deployment.customer)
    top_up(deployment.customer, micros_from_decimal(deployment.hourly_price))


def test_stop_then_start_keeps_both_disks_and_boots_from_the_same_system_volume(
    launch, cloud, devcloud, reconcile, client
):
    deployment = running(launch, devcloud, reconcile)
    before = resources(cloud, deployment)

    services.deployment_request_stop(deployment=deployment)
    assert refreshed(deployment).status == "STOPPING"  # at once: compute billing ends here
    reconciler.deployment_update_stack(deployment_id=deployment.pk)  # the task's body
    assert refreshed(deployment).heat_status == "UPDATE_IN_PROGRESS"
    settle(devcloud, reconcile)

    deployment = refreshed(deployment)
    assert deployment.status == "STOPPED"
    assert deployment.desired_state == "stopped"
    stopped = resources(cloud, deployment)
    assert set(stopped) == {"sec_group", "port", "system_volume", "data_volume"}
    assert stopped["system_volume"] == before["system_volume"]
    assert stopped["data_volume"] == before["data_volume"]
    body = client.get(f"/api/v1/deployments/{deployment.public_id}").json()
    assert (body["status"], body["ssh_command"]) == ("STOPPED", None)

    afford_one_hour(deployment)
    services.deployment_request_start(deployment=deployment)
    assert refreshed(deployment).status == "STARTING"
    reconciler.deployment_update_stack(deployment_id=deployment.pk)
    settle(devcloud, reconcile)

    deployment = refreshed(deployment)
    assert deployment.status == "ACTIVE"
    started = resources(cloud, deployment)
    assert started["system_volume"] == before["system_volume"]
    assert started["data_volume"] == before["data_volume"]
    assert started["server"] != before["server"]
    assert deployment.outputs["server_id"] == started["server"]
    body = client.get(f"/api/v1/deployments/{deployment.public_id}").json()
    assert body["ssh_command"] == f"ssh ubuntu@{deployment.outputs['public_ip']}"
    assert history(deployment) == [
        "PENDING", "PROVISIONING", "ACTIVE", "STOPPING", "STOPPED", "STARTING", "ACTIVE",
    ]  # fmt: skip
    verbs = list(
        ActivityEntry.objects.filter(object_id=deployment.public_id)
        .order_by("id")
        .values_list("verb", flat=True)
    )
    assert verbs[-2:] == ["deployment.stopped", "deployment.started"]
    ledger_assert_verified()


def test_a_start_without_capacity_goes_back_to_stopped_with_a_plain_reason(
    launch, cloud, devcloud, reconcile
):
    deployment = running(launch, devcloud, reconcile)
    services.deployment_request_stop(deployment=deployment)
    reconcile()  # the stop task was lost: the cycle sends the update
    settle(devcloud, reconcile)
    assert refreshed(deployment).status == "STOPPED"
    devcloud.faults(fail_resource={"name": "server", "reason": "no_valid_host"})

    afford_one_hour(deployment)
    services.deployment_request_start(deployment=deployment)
    reconciler.deployment_update_stack(deployment_id=deployment.pk)
    settle(devcloud, reconcile)

    deployment = refreshed(deployment)
    assert deployment.status == "STOPPED"
    assert deployment.status_reason == (
        "No GPU capacity in Frankfurt to start this machine right now. Its disks are kept "
        "and nothing was charged; try again later."
    )
    assert "No valid host was found" in deployment.status_detail
    # Never ACTIVE, so never billed for compute; the failed server is taken away.
    assert history(deployment)[-3:] == ["STOPPED", "STARTING", "STOPPED"]
    settle(devcloud, reconcile)
    deployment = refreshed(deployment)
    assert deployment.heat_status == "UPDATE_COMPLETE"
    assert "server" not in resources(cloud, deployment)

    devcloud.faults(fail_resource=None)
    services.deployment_request_start(deployment=deployment)
    reconcile()
    settle(devcloud, reconcile)
    assert refreshed(deployment).status == "ACTIVE"


def test_a_worker_dying_mid_stop_finishes_the_stop_on_the_next_cycle(
    launch, cloud, devcloud, reconcile
):
    deployment = running(launch, devcloud, reconcile)
    services.deployment_request_stop(deployment=deployment)
    deployment = refreshed(deployment)
    # The worker sent the update, then died before writing anything down.
    adapter.stack_update(
        region=cloud,
        stack=StackRef(id=deployment.stack_id, name=deployment.stack_name),
        template=template_text(deployment.stack_template),
        parameters={**deployment.stack_parameters, "server_state": SERVER_STOPPED},
        tags=deployment.stack_tags,
    )

    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        reconcile()  # sees the update under way: waits, sends nothing
    assert refreshed(deployment).heat_status == "UPDATE_IN_PROGRESS"
    settle(devcloud, reconcile)

    assert refreshed(deployment).status == "STOPPED"
    assert len(devcloud.requests("PUT", "/stacks/")) == 1


def test_a_stopped_machine_can_be_deleted(launch, cloud, devcloud, reconcile):
    deployment = running(launch, devcloud, reconcile)
    services.deployment_request_stop(deployment=deployment)
    reconciler.deployment_update_stack(deployment_id=deployment.pk)
    settle(devcloud, reconcile)

    services.deployment_request_delete(deployment=refreshed(deployment))
    reconciler.deployment_delete_stack(deployment_id=deployment.pk)
    settle(devcloud, reconcile)

    assert refreshed(deployment).status == "DELETED"
    assert list(adapter.stacks_list(region=cloud, tags=["cloudportal"])) == []


def test_stop_and_start_refuse_the_wrong_status_and_change_nothing(launch, cloud):
    deployment = launch()  # PENDING

    with pytest.raises(DeploymentStateConflict) as stop_refused:
        services.deployment_request_stop(deployment=deployment)
    with pytest.raises(DeploymentStateConflict) as start_refused:
        services.deployment_request_start(deployment=deployment)

    assert str(stop_refused.value) == "It is Pending; only a running deployment can be stopped."
    assert str(start_refused.value) == "It is Pending; only a stopped deployment can be started."
    assert refreshed(deployment).status == "PENDING"
    assert history(deployment) == ["PENDING"]


def test_a_start_needs_an_hour_of_the_price_available(launch, cloud, devcloud, reconcile):
    deployment = running(launch, devcloud, reconcile)
    services.deployment_request_stop(deployment=deployment)
    reconciler.deployment_update_stack(deployment_id=deployment.pk)
    settle(devcloud, reconcile)
    required = micros_from_decimal(deployment.hourly_price)
    drain(deployment.customer)
    top_up(deployment.customer, required - 1)

    with pytest.raises(DeploymentInsufficientBalance) as refused:
        services.deployment_request_start(deployment=refreshed(deployment))

    assert (refused.value.required, refused.value.available, refused.value.shortfall) == (
        required,
        required - 1,
        1,
    )
    assert refreshed(deployment).status == "STOPPED"
    assert history(deployment)[-1] == "STOPPED"
    ledger_assert_verified()


def test_a_stop_heat_keeps_failing_is_retried_with_backoff_then_left_to_staff(
    launch, cloud, devcloud, reconcile
):
    deployment = running(launch, devcloud, reconcile)
    devcloud.faults(delete_failures=100)
    services.deployment_request_stop(deployment=deployment)
    reconcile()  # sends the stop update

    start = timezone.now()
    for cycle in range(1, 13):
        devcloud.advance(60)
        with time_machine.travel(start + timedelta(minutes=cycle)):
            reconcile()

    deployment = refreshed(deployment)
    assert deployment.status == "STOPPING"
    assert deployment.update_attempts == reconciler.MAX_UPDATE_ATTEMPTS
    assert deployment.status_detail.startswith("UPDATE_FAILED: Resource DELETE failed: Conflict")
    assert len(devcloud.requests("PUT", "/stacks/")) == 1 + reconciler.MAX_UPDATE_ATTEMPTS


def test_an_update_heat_refuses_is_tried_again_after_a_pause(launch, cloud, devcloud, reconcile):
    deployment = running(launch, devcloud, reconcile)
    devcloud.faults(
        http=[{"method": "PUT", "status": 400, "count": 1, "message": "Property error"}]
    )
    services.deployment_request_stop(deployment=deployment)

    reconcile()
    deployment = refreshed(deployment)
    assert (deployment.status, deployment.update_attempts) == ("STOPPING", 1)
    assert "Property error" in deployment.status_detail
    with time_machine.travel(timezone.now() + timedelta(seconds=2)):
        reconcile()  # inside the pause: nothing sent
    assert len(devcloud.requests("PUT", "/stacks/")) == 1

    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        reconcile()
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        reconcile()
    deployment = refreshed(deployment)
    assert (deployment.status, deployment.update_attempts) == ("STOPPED", 0)
