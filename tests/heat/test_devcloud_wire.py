"""devcloud answers on the wire the way Keystone and Heat do (heat-protocol.md §7)."""

from datetime import datetime

import pytest
import requests
from openstack import exceptions as sdk_exceptions

from heat.adapter_connections import connect
from heat.devcloud.store import PASSWORD, PROJECT_ID

AUTH = {
    "auth": {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"name": "portal-svc", "domain": {"name": "Default"}, "password": PASSWORD}
            },
        },
        "scope": {"project": {"name": "portal", "domain": {"name": "Default"}}},
    }
}


@pytest.fixture
def heat(cloud, devcloud):
    """A raw HTTP client for RegionOne's Heat with a fresh token, redirects not followed."""
    response = requests.post(f"{devcloud.url}/v3/auth/tokens", json=AUTH, timeout=5)
    token = response.headers["X-Subject-Token"]
    root = f"{devcloud.url}/heat/RegionOne/v1/{PROJECT_ID}"

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(
            method, root + path, headers={"X-Auth-Token": token}, allow_redirects=False,
            timeout=5, **kwargs,
        )  # fmt: skip

    call.root = root
    return call


@pytest.fixture
def stack(heat, gpu_template, gpu_parameters):
    response = heat("POST", "/stacks", json={
        "stack_name": "dep-wire", "template": gpu_template, "parameters": gpu_parameters,
        "tags": "portal,dep_wire", "timeout_mins": 30,
    })  # fmt: skip
    assert response.status_code == 201
    return response.json()["stack"]


def test_version_discovery(devcloud):
    root = requests.get(devcloud.url + "/", timeout=5)
    v3 = requests.get(devcloud.url + "/v3", timeout=5)

    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"] == "v3.14"
    assert v3.status_code == 200
    assert v3.json()["version"]["links"][0]["href"] == f"{devcloud.url}/v3/"


def test_a_password_token_lives_an_hour_and_lists_heat_in_several_regions(cloud, devcloud):
    response = requests.post(f"{devcloud.url}/v3/auth/tokens", json=AUTH, timeout=5)

    assert response.status_code == 201
    assert response.headers["X-Subject-Token"]
    token = response.json()["token"]
    assert token["project"]["id"] == PROJECT_ID
    (orchestration,) = [entry for entry in token["catalog"] if entry["type"] == "orchestration"]
    assert {(e["region_id"], e["interface"]) for e in orchestration["endpoints"]} == {
        (region, interface)
        for region in ("RegionOne", "RegionTwo")
        for interface in ("public", "internal", "admin")
    }
    assert all(e["url"].endswith(f"/v1/{PROJECT_ID}") for e in orchestration["endpoints"])
    lifetime = datetime.fromisoformat(token["expires_at"]) - datetime.fromisoformat(
        token["issued_at"]
    )
    assert lifetime.total_seconds() == 3600


def test_a_bad_password_answers_keystones_401(devcloud):
    body = {"auth": {**AUTH["auth"]}}
    body["auth"]["identity"] = {"methods": ["password"], "password": {"user": {
        "name": "portal-svc", "domain": {"name": "Default"}, "password": "nope"}}}  # fmt: skip

    response = requests.post(f"{devcloud.url}/v3/auth/tokens", json=body, timeout=5)

    assert response.status_code == 401
    assert response.json() == {"error": {"code": 401, "title": "Unauthorized",
        "message": "The request you have made requires authentication."}}  # fmt: skip
    assert response.headers["WWW-Authenticate"] == f'Keystone uri="{devcloud.url}/v3"'


def test_heat_without_a_valid_token_answers_401(cloud, devcloud):
    response = requests.get(f"{devcloud.url}/heat/RegionOne/v1/{PROJECT_ID}/stacks", timeout=5,
                            headers={"X-Auth-Token": "forged"})  # fmt: skip

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401


def test_lookups_redirect_to_name_and_id_keeping_the_query(heat, stack):
    by_id = heat("GET", f"/stacks/{stack['id']}?resolve_outputs=False")
    by_name = heat("DELETE", "/stacks/dep-wire")
    sub_path = heat("GET", "/stacks/dep-wire/events")

    expected = f"{heat.root}/stacks/dep-wire/{stack['id']}"
    assert by_id.status_code == 302
    assert by_id.headers["Location"] == expected + "?resolve_outputs=False"
    assert by_name.status_code == 302
    assert by_name.headers["Location"] == expected
    assert sub_path.headers["Location"] == expected + "/events"
    assert by_id.json()["title"] == "Found"


def test_a_soft_deleted_stack_is_found_by_id_but_not_by_name(heat, devcloud, stack):
    assert heat("DELETE", f"/stacks/dep-wire/{stack['id']}").status_code == 204
    devcloud.advance(60)

    by_id = heat("GET", f"/stacks/dep-wire/{stack['id']}")
    by_name = heat("GET", "/stacks/dep-wire")
    listed = heat("GET", "/stacks").json()["stacks"]
    listed_deleted = heat("GET", "/stacks?show_deleted=True").json()["stacks"]
    events = heat("GET", f"/stacks/dep-wire/{stack['id']}/events")

    assert by_id.status_code == 200
    assert by_id.json()["stack"]["stack_status"] == "DELETE_COMPLETE"
    assert by_id.json()["stack"]["deletion_time"] is not None
    assert "outputs" not in by_id.json()["stack"]
    assert by_name.status_code == 404
    assert by_name.json() == {
        "code": 404, "title": "Not Found", "explanation": "The resource could not be found.",
        "error": {"type": "EntityNotFound", "traceback": None,
                  "message": "The Stack (dep-wire) could not be found."},
    }  # fmt: skip
    assert listed == []
    assert [s["id"] for s in listed_deleted] == [stack["id"]]
    assert events.status_code == 200
    assert heat("DELETE", f"/stacks/dep-wire/{stack['id']}").status_code == 404


def test_tags_as_a_json_list_are_refused_like_heat(cloud, gpu_template, gpu_parameters):
    connection = connect(cloud)

    with pytest.raises(sdk_exceptions.BadRequestException) as raised:
        connection.orchestration.create_stack(
            name="dep-list-tags", template=gpu_template, parameters=gpu_parameters,
            tags=["portal", "dep"],
        )  # fmt: skip

    body = raised.value.response.json()
    assert body["error"] == {"type": "AttributeError", "traceback": None}
    assert raised.value.details == "Bad Request"


def test_a_duplicate_name_is_409_until_the_old_stack_is_gone(heat, devcloud, stack, gpu_template):
    again = {"stack_name": "dep-wire", "template": gpu_template, "parameters": {}}

    assert heat("POST", "/stacks", json=again).json()["error"]["type"] == "StackExists"
    heat("DELETE", f"/stacks/dep-wire/{stack['id']}")
    assert heat("POST", "/stacks", json=again).status_code == 409  # DELETE_IN_PROGRESS
    devcloud.advance(60)
    assert heat("POST", "/stacks", json=again).json()["error"]["type"] == "UserParameterMissing"


def test_an_invalid_stack_name_is_refused(heat, gpu_template):
    response = heat("POST", "/stacks", json={"stack_name": "1 bad name!", "template": gpu_template})

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Invalid stack name 1 bad name! must")


def test_the_list_pages_with_links_next_and_filters(heat, gpu_template, gpu_parameters):
    for number in range(3):
        heat("POST", "/stacks", json={"stack_name": f"dep-{number}", "template": gpu_template,
             "parameters": gpu_parameters, "tags": f"portal,n{number}"})  # fmt: skip

    first = heat("GET", "/stacks?limit=2&tags=portal").json()
    rest = requests.get(first["links"][0]["href"], headers={}, timeout=5)
    tagged = heat("GET", "/stacks?tags_any=n0,n1&not_tags=n1").json()["stacks"]
    counted = heat("GET", "/stacks?with_count=true&status=CREATE_IN_PROGRESS").json()

    assert len(first["stacks"]) == 2
    assert first["links"][0]["rel"] == "next"
    assert "marker=" in first["links"][0]["href"]
    assert rest.status_code == 401  # the link is absolute; a client sends its token again
    assert [s["stack_name"] for s in tagged] == ["dep-0"]
    assert counted["count"] == 3
    assert set(first["stacks"][0]) >= {"id", "stack_name", "stack_status", "tags", "links"}
    assert "outputs" not in first["stacks"][0]


def test_events_are_newest_first_by_default_and_an_unknown_marker_starts_over(
    heat, devcloud, stack
):
    devcloud.advance(60)
    path = f"/stacks/dep-wire/{stack['id']}/events"

    newest_first = heat("GET", path).json()["events"]
    oldest_first = heat("GET", path + "?sort_dir=asc").json()["events"]
    after = heat("GET", path + f"?sort_dir=asc&marker={oldest_first[0]['id']}&limit=2").json()
    unknown = heat("GET", path + "?sort_dir=asc&marker=no-such-event").json()["events"]

    assert newest_first == list(reversed(oldest_first))
    assert oldest_first[0]["resource_status_reason"] == "Stack CREATE started"
    assert [e["id"] for e in after["events"]] == [e["id"] for e in oldest_first[1:3]]
    assert unknown == oldest_first


def test_outputs_and_resources_routes(heat, devcloud, stack):
    devcloud.advance(60)
    base = f"/stacks/dep-wire/{stack['id']}"

    outputs = heat("GET", base + "/outputs").json()["outputs"]
    public_ip = heat("GET", base + "/outputs/public_ip").json()["output"]
    missing = heat("GET", base + "/outputs/nope")
    resources = heat("GET", base + "/resources").json()["resources"]

    assert {"output_key": "public_ip", "description": "Floating IP address"} in outputs
    assert public_ip["output_value"].startswith("203.0.113.")
    assert missing.json()["error"]["message"] == "Specified output key nope not found."
    assert {r["resource_status"] for r in resources} == {"CREATE_COMPLETE"}


def test_hidden_parameters_are_masked_and_values_are_strings(heat, stack):
    shown = heat("GET", f"/stacks/dep-wire/{stack['id']}").json()["stack"]

    assert shown["parameters"]["admin_password"] == "******"
    assert shown["parameters"]["volume_size"] == "100"
    assert shown["parameters"]["OS::stack_id"] == stack["id"]


def test_a_bad_action_is_refused_and_suspend_while_in_progress_is_409(heat, stack):
    path = f"/stacks/dep-wire/{stack['id']}/actions"

    assert heat("POST", path, json={"reboot": None}).json()["error"]["message"] == (
        "Invalid action reboot specified"
    )
    conflict = heat("POST", path, json={"suspend": None})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["type"] == "ActionInProgress"


def test_a_5xx_burst_answers_html_like_a_proxy(heat, devcloud, stack):
    devcloud.faults(http=[{"method": "GET", "status": 503, "count": 1}])

    response = heat("GET", "/stacks")

    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert heat("GET", "/stacks").status_code == 200
