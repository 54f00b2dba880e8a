"""devcloud as strict as Heat 27 (heat-observed.md), and what the adapter makes of it."""

import pytest
import yaml
from django.core.cache import cache

from heat import adapter
from heat.adapter import RegionRef, StackRef
from heat.adapter_connections import connect
from heat.exceptions import InvalidStackRequest, StackConflict, StackNotFound
from tests.devcloud import start_devcloud, stop_devcloud


@pytest.fixture
def create(cloud, gpu_template, gpu_parameters):
    def create(name: str = "dep-real", **parameters) -> StackRef:
        return adapter.stack_create(
            region=cloud, name=name, template=gpu_template,
            parameters={**gpu_parameters, **parameters}, tags=["portal"], timeout_minutes=30,
        )  # fmt: skip

    return create


def statuses(cloud, ref: StackRef) -> list[tuple[str, str]]:
    return [
        (e.resource_name, e.resource_status) for e in adapter.stack_events(region=cloud, stack=ref)
    ]


# --- 3. parallel resources ---------------------------------------------------------------


def test_independent_resources_are_created_together_in_dependency_order(cloud, devcloud, create):
    ref = create()
    devcloud.advance(600)

    events = adapter.stack_events(region=cloud, stack=ref)
    started = {e.resource_name: e.time for e in events if e.resource_status == "CREATE_IN_PROGRESS"}
    done = {e.resource_name: e.time for e in events if e.resource_status == "CREATE_COMPLETE"}

    # 2 s per resource, every resource as soon as what it needs is done.
    assert started["sec_group"] == started["data_volume"] == started[ref.name]
    assert started["port"] == done["sec_group"]
    assert started["server"] == started["floating_ip"] == done["port"]
    assert started["volume_attachment"] == max(done["server"], done["data_volume"])
    assert done[ref.name] == done["volume_attachment"]
    assert (done[ref.name] - started[ref.name]).total_seconds() == 8


# --- 8. resources whose condition is false ------------------------------------------------


def test_a_resource_whose_condition_is_false_does_not_exist(cloud, devcloud, create):
    ref = create(name="dep-novolume", volume_size=0)
    devcloud.advance(600)

    progress = adapter.stack_resources(region=cloud, stack=ref)

    assert (progress.complete, progress.total) == (4, 4)
    assert "data_volume" not in {name for name, _ in statuses(cloud, ref)}


# --- 6. retries before CREATE_FAILED --------------------------------------------------------


def test_a_failing_server_is_retried_before_the_stack_fails(cloud, devcloud, create):
    devcloud.faults(
        fail_resource={"name": "server", "reason": "no_valid_host"}, action_retry_limit=5
    )
    ref = create()

    devcloud.advance(60)
    assert adapter.stack_get(region=cloud, stack=ref).status == "CREATE_IN_PROGRESS"
    devcloud.advance(30)  # 4 s to start the server, 2 s of create, 5 retries of 15 s
    stack = adapter.stack_get(region=cloud, stack=ref)

    assert stack.status == "CREATE_FAILED"
    assert "No valid host was found" in stack.status_reason
    failed = [
        e for e in adapter.stack_events(region=cloud, stack=ref) if e.resource_name == "server"
    ]
    assert (failed[-1].time - failed[0].time).total_seconds() == 2 + 5 * 15


# --- 4. the name is held for a moment after delete -------------------------------------------


def test_a_deleted_stacks_name_is_taken_for_a_moment(cloud, devcloud, create):
    first = create()
    devcloud.advance(600)
    adapter.stack_delete(region=cloud, stack=first)
    while True:
        devcloud.advance(0.25)
        try:
            adapter.stack_get(region=cloud, stack=first)
        except StackNotFound:
            break

    with pytest.raises(StackConflict) as raised:
        create()
    assert raised.value.retryable
    assert raised.value.cloud_message == "The Stack (dep-real) already exists."

    devcloud.advance(1)
    second = create()
    assert second.id != first.id


# --- 5. custom constraints against the region's catalog --------------------------------------


def test_custom_constraints_are_checked_against_the_regions_catalog(
    cloud, devcloud, create, gpu_template, gpu_parameters
):
    catalog = {"flavors": ["g1.h100x1"], "images": ["ubuntu-24.04"], "networks": ["private"]}
    devcloud.control("POST", "catalog", {"regions": {"RegionOne": catalog}})

    with pytest.raises(InvalidStackRequest) as raised:
        create()
    assert raised.value.cloud_message == (
        "Parameter 'flavor' is invalid: Error validating value 'g1.a100x1': "
        "The Flavor (g1.a100x1) could not be found."
    )
    with pytest.raises(InvalidStackRequest) as raised:
        create(flavor="g1.h100x1")
    assert raised.value.cloud_message == (
        "Parameter 'public_network' is invalid: Error validating value 'public': "
        "The Network (public) could not be found."
    )
    assert adapter.stacks_list(region=cloud, tags=["portal"]) == ()
    # Another region has its own catalog (none here: any name passes).
    other = RegionRef(cloud="devcloud", region="RegionTwo")
    assert adapter.stack_create(
        region=other, name="dep-other", template=gpu_template, parameters=gpu_parameters,
        tags=["portal"], timeout_minutes=30,
    ).name == "dep-other"  # fmt: skip


def test_a_preview_checks_like_a_create_and_makes_nothing(
    cloud, devcloud, gpu_template, gpu_parameters
):
    devcloud.control("POST", "catalog", {"regions": {"RegionOne": {"images": ["other"]}}})

    with pytest.raises(InvalidStackRequest) as raised:
        adapter.stack_preview(
            region=cloud, name="dep-x", template=gpu_template, parameters=gpu_parameters
        )
    assert raised.value.cloud_message.endswith("The Image (ubuntu-24.04) could not be found.")

    resources = adapter.stack_preview(
        region=RegionRef(cloud="devcloud", region="RegionTwo"),
        name="dep-x",
        template=gpu_template,
        parameters=gpu_parameters,
    )
    assert set(resources) == {
        "sec_group", "port", "floating_ip", "server", "data_volume", "volume_attachment",
    }  # fmt: skip
    assert devcloud.control("GET", "state")["stacks"] == 0


def test_a_catalog_file_given_at_start_is_checked(tmp_path, gpu_template, gpu_parameters):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"regions": {"RegionOne": {"flavors": ["g1.h100x1"]}}}))
    process, url = start_devcloud(tmp_path / "state.json", "--catalog", str(catalog))
    try:
        import requests

        loaded = requests.get(f"{url}/_devcloud/catalog", timeout=5).json()
    finally:
        stop_devcloud(process)

    assert loaded == {"catalog": {"RegionOne": {"nova.flavor": ["g1.h100x1"]}}}


# --- 7. the stack limit ------------------------------------------------------------------------


def test_the_stack_limit_is_a_capacity_error_with_heats_words(cloud, devcloud, create):
    devcloud.faults(stack_quota=1)
    create(name="dep-one")

    with pytest.raises(adapter.OpenStackError) as raised:
        create(name="dep-two")

    assert raised.value.code == "cloud_capacity_exceeded"
    assert raised.value.cloud_message == (
        "Request limit exceeded: You have reached the maximum stacks per tenant, 1. "
        "Please delete some stacks."
    )


# --- 2. listings that leave stacks out ----------------------------------------------------------


def test_a_hidden_stack_is_missing_from_the_listing_but_found_by_id(cloud, devcloud, create):
    ref = create()
    devcloud.faults(list_hidden=[ref.name])

    listing = adapter.stacks_listing(region=cloud, tags=["portal"])

    assert listing.stacks == ()
    assert listing.complete  # nothing on the wire shows it: only a lookup can tell
    assert adapter.stack_get(region=cloud, stack=ref).status == "CREATE_IN_PROGRESS"


def test_a_listing_that_restarts_at_the_first_page_is_not_complete(cloud, devcloud, create):
    for index in range(3):
        create(name=f"dep-{index}")
    devcloud.faults(list_marker_lost=1)

    listing = adapter.stacks_listing(region=cloud, tags=["portal"], page_size=2)

    assert not listing.complete
    assert "listed twice (the listing restarted)" in listing.problem
    whole = adapter.stacks_listing(region=cloud, tags=["portal"], page_size=2)
    assert (whole.complete, len(whole.stacks)) == (True, 3)


# --- 1. a revoked token --------------------------------------------------------------------------


def test_a_revoked_token_heat_api_has_cached_reads_but_cannot_create(
    cloud, devcloud, gpu_template, gpu_parameters
):
    devcloud.faults(token_cache_seconds=300)
    connection = connect(cloud)
    list(connection.orchestration.stacks(limit=1))
    devcloud.control("POST", "tokens/revoke")

    list(connection.orchestration.stacks(limit=1))  # still 200 from heat-api's cache
    response = connection.orchestration.post(
        "/stacks",
        json={"stack_name": "dep-x", "template": gpu_template, "parameters": gpu_parameters},
    )

    assert response.status_code == 500
    assert response.json()["error"] == {"type": "RemoteError", "traceback": None}
    devcloud.advance(300)  # heat-api's cache forgets it: a 401, so a new token
    before = devcloud.token_requests()
    list(connection.orchestration.stacks(limit=1))
    assert devcloud.token_requests() == before + 1


def test_a_create_refused_for_a_revoked_token_authenticates_again_and_succeeds(
    cloud, devcloud, create
):
    devcloud.faults(token_cache_seconds=300)
    adapter.stacks_list(region=cloud, tags=["portal"])
    devcloud.control("POST", "tokens/revoke")
    before = devcloud.token_requests()

    ref = create()

    assert adapter.stack_get(region=cloud, stack=ref).status == "CREATE_IN_PROGRESS"
    assert devcloud.token_requests() == before + 1
    assert [entry["status"] for entry in devcloud.requests("POST", "/stacks")] == [500, 201]


def test_a_refused_token_is_dropped_for_every_process_at_once(cloud, devcloud):
    first, second = connect(cloud), connect(cloud)  # as in two processes
    list(first.orchestration.stacks(limit=1))
    list(second.orchestration.stacks(limit=1))
    devcloud.control("POST", "tokens/revoke")

    list(first.orchestration.stacks(limit=1))  # 401: drops the shared token, authenticates
    list(second.orchestration.stacks(limit=1))  # uses the new shared token: no 401 of its own

    log = devcloud.control("GET", "requests")["requests"]
    assert [entry["status"] for entry in log if entry["path"].endswith("/stacks")][-3:] == [
        401, 200, 200,
    ]  # fmt: skip
    token = first.session.auth.get_token(first.session)
    assert second.session.auth.get_token(second.session) == token
    key = f"openstack:token:{first.session.auth.get_cache_id()}:current"
    assert cache.get(key) == token
