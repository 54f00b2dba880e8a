"""Stack updates through openstacksdk against devcloud: stop and start of the library's GPU VM
template (server_state), the update's events, resources removed and re-made, capacity."""

import pytest

from heat import adapter
from heat.adapter import StackRef
from heat.exceptions import StackConflict
from heat.rendering import SERVER_RUNNING, SERVER_STOPPED, ServerSpec, stack_render

TAGS = ["portal", "dep_01JDUPDATE"]


@pytest.fixture
def rendered():
    return stack_render(
        ServerSpec(
            name="train-01",
            flavor="g1.a100x1",
            image="ubuntu-24.04",
            login_user="ubuntu",
            ssh_public_keys=("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDevcloud user@example",),
            private_network="private",
            public_network="public",
            volume_type="nvme",
            volume_size_gb=100,
            tags=tuple(TAGS),
        )
    )


@pytest.fixture
def running(cloud, devcloud, rendered) -> StackRef:
    ref = adapter.stack_create(
        region=cloud,
        name="dep-01jdupdate",
        template=rendered.template,
        parameters=rendered.parameters.as_dict(),
        tags=TAGS,
        timeout_minutes=30,
    )
    devcloud.advance(60)
    assert adapter.stack_get(region=cloud, stack=ref).status == "CREATE_COMPLETE"
    return ref


def update(cloud, rendered, ref, state):
    adapter.stack_update(
        region=cloud,
        stack=ref,
        template=rendered.template,
        parameters={**rendered.parameters.as_dict(), "server_state": state},
        tags=TAGS,
    )


def physical_ids(cloud, ref) -> dict[str, str]:
    progress = adapter.stack_resources(region=cloud, stack=ref)
    return {resource.name: resource.physical_id for resource in progress.resources}


def test_stop_removes_the_server_and_its_address_and_keeps_both_volumes(
    cloud, devcloud, rendered, running
):
    before = physical_ids(cloud, running)

    update(cloud, rendered, running, SERVER_STOPPED)
    stack = adapter.stack_get(region=cloud, stack=running)
    assert (stack.status, stack.status_reason) == ("UPDATE_IN_PROGRESS", "Stack UPDATE started")
    devcloud.advance(30)

    stack = adapter.stack_get(region=cloud, stack=running)
    assert (stack.status, stack.status_reason) == (
        "UPDATE_COMPLETE",
        "Stack UPDATE completed successfully",
    )
    assert stack.parameters["server_state"] == "stopped"
    assert stack.output_values["server_id"] is None
    assert stack.output_values["public_ip"] is None
    assert stack.output_values["system_volume_id"] == before["system_volume"]
    assert stack.output_values["volume_id"] == before["data_volume"]
    after = physical_ids(cloud, running)
    assert set(after) == {"sec_group", "port", "system_volume", "data_volume"}
    assert {name: after[name] for name in after} == {name: before[name] for name in after}
    events = adapter.stack_events(region=cloud, stack=running)
    update_events = [(e.resource_name, e.resource_status) for e in events if e.time and
                     e.resource_status.startswith(("UPDATE", "DELETE"))]  # fmt: skip
    assert ("volume_attachment", "DELETE_COMPLETE") in update_events
    assert ("server", "DELETE_COMPLETE") in update_events
    assert ("floating_ip", "DELETE_COMPLETE") in update_events
    assert update_events[-1] == ("dep-01jdupdate", "UPDATE_COMPLETE")
    assert not any(name.endswith("volume") for name, _ in update_events)
    (request,) = devcloud.requests("PUT", "/stacks/dep-01jdupdate/")
    assert request["body"]["tags"] == "portal,dep_01JDUPDATE"


def test_start_boots_a_new_server_from_the_same_system_volume(cloud, devcloud, rendered, running):
    before = physical_ids(cloud, running)
    update(cloud, rendered, running, SERVER_STOPPED)
    devcloud.advance(30)

    update(cloud, rendered, running, SERVER_RUNNING)
    devcloud.advance(30)

    stack = adapter.stack_get(region=cloud, stack=running)
    assert stack.status == "UPDATE_COMPLETE"
    outputs = stack.output_values
    after = physical_ids(cloud, running)
    assert set(after) == set(before)
    assert outputs["server_id"] == after["server"] != before["server"]
    assert outputs["public_ip"].startswith("203.0.113.")
    assert outputs["system_volume_id"] == before["system_volume"]
    assert outputs["volume_id"] == before["data_volume"]


def test_a_start_without_capacity_fails_the_update_with_novas_reason(
    cloud, devcloud, rendered, running
):
    update(cloud, rendered, running, SERVER_STOPPED)
    devcloud.advance(30)
    devcloud.faults(fail_resource={"name": "server", "reason": "no_valid_host"})

    update(cloud, rendered, running, SERVER_RUNNING)
    devcloud.advance(60)

    stack = adapter.stack_get(region=cloud, stack=running)
    assert stack.status == "UPDATE_FAILED"
    assert stack.status_reason.startswith(
        "Resource CREATE failed: ResourceInError: resources.server: Went to status ERROR"
    )
    assert "No valid host was found" in stack.status_reason

    # Stopping again takes the failed server away and leaves a clean stopped stack.
    update(cloud, rendered, running, SERVER_STOPPED)
    devcloud.advance(30)
    stack = adapter.stack_get(region=cloud, stack=running)
    assert stack.status == "UPDATE_COMPLETE"
    assert "server" not in physical_ids(cloud, running)


def test_an_update_while_the_stack_is_busy_is_a_conflict(cloud, devcloud, rendered, running):
    update(cloud, rendered, running, SERVER_STOPPED)

    with pytest.raises(StackConflict):
        update(cloud, rendered, running, SERVER_RUNNING)

    devcloud.advance(30)
    assert adapter.stack_get(region=cloud, stack=running).parameters["server_state"] == "stopped"
