"""devcloud's bench-only controls: bulk seeding and the request counts."""

import pytest
import requests

from heat import adapter
from heat.adapter_types import StackRef


def seed(devcloud, template, parameters, names, **extra) -> list[dict]:
    return devcloud.control("POST", "seed", {
        "region": "RegionOne", "template": template, "parameters": parameters,
        "stacks": [{"name": name, "tags": ["portal", f"deployment:{name}"]} for name in names],
        **extra,
    })["stacks"]  # fmt: skip


def test_settled_seeded_stacks_are_complete_with_outputs(
    cloud, devcloud, gpu_template, gpu_parameters
):
    seeded = seed(devcloud, gpu_template, gpu_parameters, ["dep-a", "dep-b"], settled=True)

    listed = adapter.stacks_list(region=cloud, tags=["portal"])
    stack = adapter.stack_get(region=cloud, stack=StackRef(**seeded[0]))

    assert [entry["name"] for entry in seeded] == ["dep-a", "dep-b"]
    assert sorted((s.name, s.status) for s in listed) == [
        ("dep-a", "CREATE_COMPLETE"),
        ("dep-b", "CREATE_COMPLETE"),
    ]
    assert stack.tags == ("portal", "deployment:dep-a")
    assert stack.output_values["public_ip"].startswith("203.0.113.")


def test_unsettled_seeded_stacks_start_now_and_obey_armed_failures(
    cloud, devcloud, gpu_template, gpu_parameters
):
    devcloud.faults(fail_resource={"name": "server", "reason": "no_valid_host"})
    (seeded,) = seed(devcloud, gpu_template, gpu_parameters, ["dep-f"])
    before = adapter.stack_get(region=cloud, stack=StackRef(**seeded)).status

    devcloud.advance(600)
    after = adapter.stack_get(region=cloud, stack=StackRef(**seeded))

    assert before == "CREATE_IN_PROGRESS"
    assert after.status == "CREATE_FAILED"
    assert "No valid host was found" in after.status_reason


def test_request_counts_cover_every_call_by_service_and_not_control_calls(
    cloud, devcloud, gpu_template, gpu_parameters
):
    seeded = seed(devcloud, gpu_template, gpu_parameters, ["dep-c"], settled=True)
    adapter.stacks_list(region=cloud, tags=["portal"])
    for _ in range(3):
        adapter.stack_get(region=cloud, stack=StackRef(**seeded[0]))

    answer = devcloud.control("GET", "requests")
    heat_paths = [
        entry["path"] for entry in answer["requests"] if entry["path"].startswith("/heat/")
    ]

    # One list page, then one GET per stack_get (addressed by name and id, no 302).
    assert answer["counts"]["heat"] == len(heat_paths) >= 1 + 3
    assert answer["counts"]["keystone"] >= 1
    devcloud.control("POST", "reset")
    assert devcloud.control("GET", "requests")["counts"] == {}


def test_seeding_an_unknown_region_is_refused(cloud, devcloud, gpu_template):
    response = requests.post(
        f"{devcloud.url}/_devcloud/seed",
        json={"region": "Nowhere", "template": gpu_template, "stacks": []},
        timeout=5,
    )

    assert response.status_code == 400
    with pytest.raises(requests.HTTPError):
        response.raise_for_status()
