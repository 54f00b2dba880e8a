"""Each devcloud fault, and the domain error (or stack state) the adapter turns it into."""

import logging

import pytest

from heat import adapter
from heat.adapter import RegionRef, StackRef
from heat.devcloud.clouds_yaml import write_clouds_yaml
from heat.exceptions import (
    CloudCapacityExceeded,
    CloudCredentialsError,
    CloudUnavailable,
    StackConflict,
)


@pytest.fixture
def create(cloud, gpu_template, gpu_parameters):
    def create(name: str = "dep-faults", region: RegionRef = cloud) -> StackRef:
        return adapter.stack_create(
            region=region, name=name, template=gpu_template, parameters=gpu_parameters,
            tags=["portal"], timeout_minutes=30,
        )  # fmt: skip

    return create


def test_no_valid_host_fails_the_stack_with_novas_reason(cloud, devcloud, create):
    devcloud.faults(fail_resource={"name": "server", "reason": "no_valid_host"})
    ref = create()
    devcloud.advance(60)

    stack = adapter.stack_get(region=cloud, stack=ref)

    assert stack.status == "CREATE_FAILED"
    assert stack.status_reason.startswith(
        "Resource CREATE failed: ResourceInError: resources.server"
    )
    assert "No valid host was found" in stack.status_reason
    failed = [e for e in adapter.stack_events(region=cloud, stack=ref)
              if e.resource_status == "CREATE_FAILED"]  # fmt: skip
    assert [e.resource_name for e in failed] == ["server", ref.name]


def test_a_resource_quota_fails_the_stack_not_the_call(cloud, devcloud, create):
    devcloud.faults(fail_resource={"name": "server", "reason": "quota"})
    ref = create()
    devcloud.advance(60)

    stack = adapter.stack_get(region=cloud, stack=ref)

    assert stack.status == "CREATE_FAILED"
    assert "Quota exceeded for cores" in stack.status_reason


def test_the_stack_timeout_fails_the_create(cloud, devcloud, create):
    devcloud.control("POST", "timing", {"create": 600})
    ref = create()
    devcloud.advance(31 * 60)

    stack = adapter.stack_get(region=cloud, stack=ref)

    assert (stack.status, stack.status_reason) == ("CREATE_FAILED", "Timed out")


def test_the_stacks_per_project_quota_is_a_capacity_error(cloud, devcloud, create):
    devcloud.faults(stack_quota=1)
    create(name="dep-one")

    with pytest.raises(CloudCapacityExceeded) as raised:
        create(name="dep-two")

    assert raised.value.cloud_error_type == "RequestLimitExceeded"
    assert "maximum stacks per tenant, 1" in raised.value.cloud_message
    assert adapter.stack_find(region=cloud, name="dep-two") is None


def test_a_short_5xx_burst_is_retried_away(cloud, devcloud, create):
    ref = create()
    devcloud.faults(http=[{"method": "GET", "status": 503, "count": 2}])

    stack = adapter.stack_get(region=cloud, stack=ref)

    assert stack.id == ref.id
    statuses = [r["status"] for r in devcloud.requests("GET", ref.id)]
    assert statuses == [503, 503, 200]  # addressed by name and id: no lookup redirect


def test_5xx_beyond_the_retry_budget_is_unavailable(cloud, devcloud, create, settings):
    ref = create()
    settings.OPENSTACK_RETRY_BUDGET = 0.3
    devcloud.faults(http=[{"method": "GET", "status": 502, "count": 1000}])

    with pytest.raises(CloudUnavailable) as raised:
        adapter.stack_get(region=cloud, stack=ref)

    assert "502 Bad Gateway" in raised.value.cloud_message
    assert raised.value.retryable is True


def test_409_on_delete_is_retried(cloud, devcloud, create):
    ref = create()
    devcloud.faults(http=[{"method": "DELETE", "status": 409, "count": 2}])

    assert adapter.stack_delete(region=cloud, stack=ref) is True
    assert adapter.stack_get(region=cloud, stack=ref).status == "DELETE_IN_PROGRESS"


def test_persistent_409_on_delete_is_a_conflict_to_retry_later(cloud, devcloud, create, settings):
    ref = create()
    settings.OPENSTACK_RETRY_BUDGET = 0.3
    devcloud.faults(http=[{"method": "DELETE", "status": 409, "count": 1000}])

    with pytest.raises(StackConflict) as raised:
        adapter.stack_delete(region=cloud, stack=ref)

    assert raised.value.cloud_error_type == "ActionInProgress"
    assert raised.value.retryable is True


def test_slow_responses_past_the_timeout_are_unavailable(cloud, devcloud, create, settings):
    ref = create()
    settings.OPENSTACK_API_TIMEOUT = 0.2
    settings.OPENSTACK_RETRY_BUDGET = 0.1
    devcloud.faults(delay={"seconds": 0.5, "method": "GET"})

    with pytest.raises(CloudUnavailable) as raised:
        adapter.stack_get(region=cloud, stack=ref)

    assert raised.value.cloud_error_type == "ConnectTimeout"
    devcloud.control("DELETE", "faults")


def test_an_ambiguous_create_finds_the_stack_instead_of_making_a_second(cloud, devcloud, create):
    devcloud.faults(ambiguous_create=1)

    ref = create()

    assert adapter.stack_find(region=cloud, name="dep-faults").ref == ref
    assert [r["status"] for r in devcloud.requests("POST", "/stacks")] == [500]
    assert len(adapter.stacks_list(region=cloud, tags=["portal"])) == 1


def test_a_revoked_token_is_replaced_once(cloud, devcloud, create):
    ref = create()
    before = devcloud.token_requests()
    devcloud.control("POST", "tokens/revoke")

    assert adapter.stack_get(region=cloud, stack=ref).id == ref.id
    assert devcloud.token_requests() == before + 1


def test_heat_refuses_application_credentials_at_stack_create(cloud, devcloud, create):
    appcred = RegionRef(cloud="devcloud-appcred", region="RegionOne")

    with pytest.raises(CloudCredentialsError) as raised:
        create(region=appcred)

    assert raised.value.cloud_message == (
        "Using method 'application_credential' is not allowed for managing trusts."
    )
    devcloud.faults(appcred_trusts_forbidden=False)  # an old Keystone, or the insecure flag
    assert create(region=appcred).name == "dep-faults"


def test_a_stalled_engine_answers_500_and_leaves_the_stack_in_progress(
    cloud, devcloud, create, settings
):
    settings.OPENSTACK_RETRY_BUDGET = 0.05
    ref = create()
    devcloud.advance(5)
    devcloud.faults(engine_stall={"seconds": 0.1})

    with pytest.raises(CloudUnavailable) as raised:
        adapter.stack_get(region=cloud, stack=ref)
    assert raised.value.cloud_error_type == "MessagingTimeout"

    devcloud.faults(engine_stall=None)
    devcloud.advance(24 * 3600)
    stack = adapter.stack_get(region=cloud, stack=ref)
    assert (stack.status, stack.status_reason) == ("CREATE_IN_PROGRESS", "Stack CREATE started")

    assert adapter.stack_delete(region=cloud, stack=ref) is True
    devcloud.advance(60)
    assert adapter.stack_find(region=cloud, name=ref.name) is None


def test_a_failing_delete_ends_delete_failed_and_a_retry_completes(cloud, devcloud, create):
    ref = create()
    devcloud.advance(60)
    devcloud.faults(delete_failures=1)

    adapter.stack_delete(region=cloud, stack=ref)
    devcloud.advance(60)
    assert adapter.stack_get(region=cloud, stack=ref).status == "DELETE_FAILED"

    adapter.stack_delete(region=cloud, stack=ref)
    devcloud.advance(60)
    assert adapter.stack_find(region=cloud, name=ref.name) is None


def test_a_wrong_password_is_a_credentials_error(cloud, devcloud, settings, tmp_path):
    clouds_yaml = write_clouds_yaml(tmp_path / "clouds.yaml", devcloud.url)
    clouds_yaml.write_text(clouds_yaml.read_text().replace("devcloud-password", "wrong"))
    settings.OPENSTACK_CLOUDS_YAML = str(clouds_yaml)

    with pytest.raises(CloudCredentialsError) as raised:
        adapter.stack_find(region=cloud, name="dep-x")

    assert raised.value.cloud_error_type == "Unauthorized"


def test_an_unknown_region_is_a_configuration_error(cloud):
    with pytest.raises(CloudCredentialsError) as raised:
        adapter.stack_find(region=RegionRef(cloud="devcloud", region="RegionNine"), name="x")

    assert "RegionNine" in raised.value.cloud_message


def test_an_unreachable_cloud_is_unavailable(cloud, settings, tmp_path, unused_tcp_port):
    clouds_yaml = write_clouds_yaml(tmp_path / "clouds.yaml", f"http://127.0.0.1:{unused_tcp_port}")
    settings.OPENSTACK_CLOUDS_YAML = str(clouds_yaml)
    settings.OPENSTACK_RETRY_BUDGET = 0.1

    with pytest.raises(CloudUnavailable):
        adapter.stack_find(region=cloud, name="dep-x")


def test_every_call_is_logged_with_operation_region_outcome_and_duration(cloud, create, caplog):
    caplog.set_level(logging.DEBUG, logger="heat")
    create()
    adapter.stack_find(region=cloud, name="dep-none")

    calls = [record for record in caplog.records if record.getMessage() == "heat.call"]
    # A change is worth an INFO line; a read (every few seconds) only a DEBUG one.
    assert [(r.operation, r.region, r.outcome, r.levelname) for r in calls] == [
        ("stack_create", "RegionOne", "ok", "INFO"),
        ("stack_find", "RegionOne", "ok", "DEBUG"),
    ]
    assert all(r.cloud == "devcloud" and r.duration_ms >= 0 for r in calls)


def test_a_5xx_on_create_is_retried_once_the_name_is_known_free(cloud, devcloud, create):
    devcloud.faults(http=[{"method": "POST", "path": "/stacks", "status": 503, "count": 1}])

    ref = create()

    assert [r["status"] for r in devcloud.requests("POST", "/stacks")] == [503, 201]
    assert adapter.stack_find(region=cloud, name="dep-faults").ref == ref


def test_create_while_a_same_named_stack_is_deleting_is_a_conflict(cloud, devcloud, create):
    old = create()
    adapter.stack_delete(region=cloud, stack=old)

    with pytest.raises(StackConflict) as raised:
        create()

    assert raised.value.cloud_error_type == "StackExists"
    devcloud.advance(60)
    assert create() != old


@pytest.mark.parametrize(
    "body",
    [b"<html><body>502 Bad Gateway</body></html>", b'{"stacks": [{"stack_name": "x"}]}', b"[]"],
)
def test_a_reply_heat_never_sends_is_cloud_unavailable_not_a_raw_error(cloud, body):
    """A proxy's HTML page with 200, or JSON missing what Heat always sends, must reach
    the reconciler as the typed error it handles, not as ValueError or KeyError."""
    import requests

    from heat.adapter_errors import call

    reply = requests.Response()
    reply.status_code, reply._content = 200, body
    reply.headers["Content-Type"] = "application/json"

    def list_from(connection):
        return [adapter._summary_from_json(item) for item in adapter._json(reply)["stacks"]]

    with pytest.raises(CloudUnavailable):
        call("stacks_list", cloud, list_from, retry=False)
