"""Every adapter operation through openstacksdk against devcloud over HTTP."""

import pytest

from heat import adapter
from heat.adapter import StackRef
from heat.exceptions import InvalidStackRequest, StackNotFound
from tests.heat.conftest import FIXTURES

TAGS = ["portal", "dep_01JDEVCLOUD"]


@pytest.fixture
def create(cloud, gpu_template, gpu_parameters):
    def create(name: str = "dep-01jdevcloud", tags=TAGS, **parameters) -> StackRef:
        return adapter.stack_create(
            region=cloud,
            name=name,
            template=gpu_template,
            parameters={**gpu_parameters, **parameters},
            tags=tags,
            timeout_minutes=30,
        )

    return create


def test_create_walks_the_stack_to_create_complete_with_its_outputs(cloud, devcloud, create):
    ref = create()

    stack = adapter.stack_get(region=cloud, stack=ref)
    assert (stack.id, stack.name) == (ref.id, "dep-01jdevcloud")
    assert stack.status == "CREATE_IN_PROGRESS"
    assert stack.status_reason == "Stack CREATE started"
    assert stack.output_values["public_ip"] is None
    assert stack.tags == ("portal", "dep_01JDEVCLOUD")

    devcloud.advance(60)
    stack = adapter.stack_get(region=cloud, stack=ref)

    assert (stack.action, stack.state) == ("CREATE", "COMPLETE")
    assert stack.status_reason == "Stack CREATE completed successfully"
    outputs = stack.output_values
    assert outputs["public_ip"].startswith("203.0.113.")
    assert outputs["private_ip"].startswith("10.0.")
    assert outputs["login_user"] == "ubuntu"
    assert outputs["access_port"] == 22
    assert len(outputs["server_id"]) == 36
    assert len(outputs["volume_id"]) == 36


def test_create_sends_tags_as_one_comma_joined_string_with_rollback_disabled(devcloud, create):
    create()

    (request,) = devcloud.requests("POST", "/stacks")
    assert request["body"]["tags"] == "portal,dep_01JDEVCLOUD"
    assert request["body"]["disable_rollback"] is True
    assert request["body"]["timeout_mins"] == 30
    assert request["body"]["stack_name"] == "dep-01jdevcloud"


def test_create_again_with_the_same_name_returns_the_same_stack(cloud, create):
    first = create()
    second = create()

    assert second == first
    assert len(adapter.stacks_list(region=cloud, tags=["portal"])) == 1


def test_create_with_a_missing_parameter_is_an_invalid_request(cloud, gpu_template):
    with pytest.raises(InvalidStackRequest) as raised:
        adapter.stack_create(
            region=cloud, name="dep-x", template=gpu_template, parameters={}, tags=TAGS,
            timeout_minutes=30,
        )  # fmt: skip

    assert raised.value.cloud_message == "The Parameter (image) was not provided."
    assert raised.value.cloud_error_type == "UserParameterMissing"
    assert adapter.stacks_list(region=cloud, tags=["portal"]) == ()


def test_create_with_a_value_outside_the_constraints_is_an_invalid_request(cloud, create):
    with pytest.raises(InvalidStackRequest) as raised:
        create(os_type="macos")

    assert raised.value.cloud_error_type == "StackValidationFailed"
    assert "Parameter 'os_type' is invalid" in raised.value.cloud_message


def test_create_accepts_the_template_as_yaml_text(cloud, gpu_parameters):
    ref = adapter.stack_create(
        region=cloud, name="dep-text", template=(FIXTURES / "linux-gpu-vm.yaml").read_text(),
        parameters=gpu_parameters, tags=TAGS, timeout_minutes=10,
    )  # fmt: skip

    assert adapter.stack_get(region=cloud, stack=ref).status == "CREATE_IN_PROGRESS"


def test_find_by_name_returns_the_live_stack_or_none(cloud, devcloud, create):
    ref = create()

    found = adapter.stack_find(region=cloud, name=ref.name)
    assert found is not None
    assert found.ref == ref
    assert adapter.stack_find(region=cloud, name="dep-unknown") is None

    adapter.stack_delete(region=cloud, stack=ref)
    devcloud.advance(60)
    assert adapter.stack_find(region=cloud, name=ref.name) is None


def test_list_by_tag_reads_every_page(cloud, devcloud, create):
    refs = {create(name=f"dep-{number}", tags=["portal", f"dep_{number}"]) for number in range(5)}
    create(name="other", tags=["someone-else"])

    stacks = adapter.stacks_list(region=cloud, tags=["portal"], page_size=2)

    assert {stack.ref for stack in stacks} == refs
    pages = devcloud.requests("GET", "/stacks")
    assert len(pages) == 3  # 2 + 2 + 1: a short page has no `links.next`, so nothing more
    assert all("tags=portal" in page["query"] for page in pages)


def test_events_since_a_marker_are_new_ascending_and_unique(cloud, devcloud, create):
    ref = create()
    devcloud.advance(5)
    first = adapter.stack_events(region=cloud, stack=ref)

    # Independent resources start together, as in Heat: their events share a second.
    assert [(event.resource_name, event.resource_status) for event in first[1:]] == [
        ("sec_group", "CREATE_IN_PROGRESS"), ("data_volume", "CREATE_IN_PROGRESS"),
        ("sec_group", "CREATE_COMPLETE"), ("data_volume", "CREATE_COMPLETE"),
        ("port", "CREATE_IN_PROGRESS"),
        ("port", "CREATE_COMPLETE"),
        ("floating_ip", "CREATE_IN_PROGRESS"), ("server", "CREATE_IN_PROGRESS"),
    ]  # fmt: skip
    assert first[1].time == first[2].time == first[0].time
    assert first[0].is_stack_event
    assert first[0].reason == "Stack CREATE started"
    assert [event.time for event in first] == sorted(event.time for event in first)

    devcloud.advance(60)
    later = adapter.stack_events(region=cloud, stack=ref, since_event_id=first[-1].id)

    assert not {event.id for event in later} & {event.id for event in first}
    assert later[-1].is_stack_event
    assert later[-1].resource_status == "CREATE_COMPLETE"
    assert len(first) + len(later) == 14  # the stack twice, six resources twice

    # An unknown (purged) marker makes Heat start over: every event comes back, once.
    again = adapter.stack_events(region=cloud, stack=ref, since_event_id="purged-marker")
    assert [event.id for event in again] == [event.id for event in first + later]


def test_resources_count_progress(cloud, devcloud, create):
    ref = create()
    devcloud.advance(5)  # 2 s per resource: sec_group and data_volume, then port done

    progress = adapter.stack_resources(region=cloud, stack=ref)

    assert progress.total == 6
    assert progress.complete == 3
    assert {resource.name for resource in progress.resources} == {
        "sec_group", "port", "floating_ip", "server", "data_volume", "volume_attachment",
    }  # fmt: skip


def test_without_a_volume_the_volume_resources_and_output_are_absent(cloud, devcloud, create):
    ref = create(volume_size=0)
    devcloud.advance(60)

    stack = adapter.stack_get(region=cloud, stack=ref)

    assert stack.output_values["volume_id"] is None
    assert adapter.stack_resources(region=cloud, stack=ref).total == 4


def test_windows_parameters_switch_the_outputs(cloud, devcloud, create):
    ref = create(os_type="windows", admin_password="S3cret!pass")
    devcloud.advance(60)

    stack = adapter.stack_get(region=cloud, stack=ref)

    assert stack.output_values["login_user"] == "Admin"
    assert stack.output_values["access_port"] == 3389
    assert stack.output_values["access_protocol"] == "rdp"


def test_delete_walks_to_gone_and_a_second_delete_says_already_gone(cloud, devcloud, create):
    ref = create()
    devcloud.advance(60)

    assert adapter.stack_delete(region=cloud, stack=ref) is True
    assert adapter.stack_get(region=cloud, stack=ref).status == "DELETE_IN_PROGRESS"

    devcloud.advance(60)
    with pytest.raises(StackNotFound):
        adapter.stack_get(region=cloud, stack=ref)
    assert adapter.stack_delete(region=cloud, stack=ref) is False
    # The name is free again once the old stack is DELETE_COMPLETE.
    assert create() != ref


def test_delete_of_a_stack_that_never_existed_says_already_gone(cloud):
    missing = StackRef(id="5e0b1f0c-0000-4000-8000-000000000000", name="dep-never")

    assert adapter.stack_delete(region=cloud, stack=missing) is False


def test_delete_during_create_cancels_the_create(cloud, devcloud, create):
    ref = create()
    devcloud.advance(5)

    assert adapter.stack_delete(region=cloud, stack=ref) is True

    # As in real Heat, a poller never sees CREATE_FAILED: delete starts at once.
    assert adapter.stack_get(region=cloud, stack=ref).status == "DELETE_IN_PROGRESS"
    devcloud.advance(60)
    with pytest.raises(StackNotFound):
        adapter.stack_get(region=cloud, stack=ref)
    events = [(e.resource_name, e.resource_status, e.reason)
              for e in adapter.stack_events(region=cloud, stack=ref)]  # fmt: skip
    assert (ref.name, "CREATE_FAILED", "Stack CREATE cancelled") in events
    assert ("server", "CREATE_FAILED", "CREATE aborted (user triggered cancel)") in events
    assert ("floating_ip", "CREATE_FAILED", "CREATE aborted (user triggered cancel)") in events
    assert events[-1] == (ref.name, "DELETE_COMPLETE", "Stack DELETE completed successfully")
    deleted = [name for name, status, _ in events if status == "DELETE_COMPLETE"]
    # What depends on a resource goes first; the rest side by side.
    assert deleted == ["server", "floating_ip", "data_volume", "port", "sec_group", ref.name]


def test_suspend_and_resume(cloud, devcloud, create):
    ref = create()
    devcloud.advance(60)

    adapter.stack_suspend(region=cloud, stack=ref)
    assert adapter.stack_get(region=cloud, stack=ref).status == "SUSPEND_IN_PROGRESS"
    devcloud.advance(60)
    assert adapter.stack_get(region=cloud, stack=ref).status == "SUSPEND_COMPLETE"

    adapter.stack_resume(region=cloud, stack=ref)
    devcloud.advance(60)
    assert adapter.stack_get(region=cloud, stack=ref).status == "RESUME_COMPLETE"


def test_template_validate_returns_the_parameters(cloud, gpu_template):
    names = adapter.template_validate(region=cloud, template=gpu_template)

    assert "flavor" in names
    assert "deployment_id" in names


def test_template_validate_refuses_an_unknown_resource_type(cloud, gpu_template):
    gpu_template["resources"]["server"]["type"] = "OS::Nova::NoSuchThing"

    with pytest.raises(InvalidStackRequest) as raised:
        adapter.template_validate(region=cloud, template=gpu_template)

    assert raised.value.cloud_message == (
        "The Resource Type (OS::Nova::NoSuchThing) could not be found."
    )
