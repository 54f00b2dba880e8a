"""The deployment loop under what a real Heat does (heat-observed.md), against devcloud."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from catalog.models import Region
from deployments import reconciler
from deployments.models import Deployment, DeploymentEvent, Status, StatusChange
from heat import adapter
from heat.adapter_types import StackRef
from heat.exceptions import StackNotFound
from heat.rendering import template_text
from tests.deployments.conftest import refreshed

pytestmark = pytest.mark.django_db


def provision(deployment: Deployment) -> Deployment:
    reconciler.deployment_provision(deployment_id=deployment.pk)
    return refreshed(deployment)


def active(deployment: Deployment, devcloud, reconcile) -> Deployment:
    deployment = provision(deployment)
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        reconcile()
    deployment = refreshed(deployment)
    assert deployment.status == Status.ACTIVE
    return deployment


def moves(deployment: Deployment) -> list[str]:
    return list(
        StatusChange.objects.filter(deployment=deployment)
        .order_by("created_at", "id")
        .values_list("to_status", flat=True)
    )


def later(seconds: float) -> time_machine.travel:
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds))


def heat_status_of(cloud, deployment: Deployment) -> str:
    ref = StackRef(id=deployment.stack_id, name=deployment.stack_name)
    return adapter.stack_get(region=cloud, stack=ref).status


# --- Never destroy on absence ---------------------------------------------------------


def test_a_live_stack_left_out_of_the_listing_moves_nothing_and_deletes_nothing(
    launch, cloud, devcloud, reconcile
):
    deployment = active(launch(), devcloud, reconcile)
    devcloud.faults(list_hidden=[deployment.stack_name])  # e.g. its tags were changed

    with later(60):
        reconcile()
    with later(3600 * 3):
        reconcile()
        swept = reconciler.orphan_stacks_sweep(
            now=timezone.now() + timedelta(seconds=settings.DEPLOYMENTS_ORPHAN_GRACE * 2)
        )

    deployment = refreshed(deployment)
    assert deployment.status == Status.ACTIVE
    assert deployment.heat_status == "CREATE_COMPLETE"
    assert moves(deployment) == ["PENDING", "PROVISIONING", "ACTIVE"]
    assert swept == []
    assert devcloud.requests("DELETE") == []
    assert heat_status_of(cloud, deployment) == "CREATE_COMPLETE"


def test_a_stack_gone_from_the_listing_is_confirmed_gone_before_the_deployment_moves(
    launch, cloud, devcloud, reconcile
):
    deployment = active(launch(), devcloud, reconcile)
    adapter.stack_delete(region=cloud, stack=StackRef(deployment.stack_id, deployment.stack_name))
    devcloud.advance(600)
    looked_up = len(devcloud.requests("GET", f"/{deployment.stack_id}"))

    with later(60):
        reconcile()

    deployment = refreshed(deployment)
    assert deployment.status == Status.DELETING
    assert deployment.status_reason == "The machine disappeared from the cloud."
    # One GET of the stack itself said DELETE_COMPLETE before anything moved.
    assert len(devcloud.requests("GET", f"/{deployment.stack_id}")) == looked_up + 1


def test_a_listing_that_restarts_midway_skips_every_conclusion_from_absence(
    launch, cloud, devcloud, reconcile, settings, caplog
):
    first = active(launch(name="box-1"), devcloud, reconcile)
    second = active(launch(name="box-2"), devcloud, reconcile)
    adapter.stack_create(
        region=cloud,
        name="dep_ORPHAN",
        template=template_text(first.stack_template),
        parameters=first.stack_parameters,
        tags=["cloudportal"],
        timeout_minutes=30,
    )
    settings.OPENSTACK_LIST_PAGE_SIZE = 1
    # A stack purged between two pages: Heat answers the first page again, so the listing
    # shows one stack twice and never reaches the others.
    devcloud.faults(list_marker_lost=2)
    caplog.set_level(logging.WARNING)

    with later(60):
        reports = reconcile()
    swept = reconciler.orphan_stacks_sweep(
        now=timezone.now() + timedelta(seconds=settings.DEPLOYMENTS_ORPHAN_GRACE + 60)
    )

    assert [refreshed(first).status, refreshed(second).status] == [Status.ACTIVE] * 2
    assert swept == []
    assert devcloud.requests("DELETE") == []
    assert reports[0].acted["skipped_listing_incomplete"] == 2
    incomplete = [r for r in caplog.records if r.msg == "reconcile.listing_incomplete"]
    assert len(incomplete) == 1
    assert "listed twice" in incomplete[0].problem
    assert [r.msg for r in caplog.records if r.msg == "orphans.listing_incomplete"] == [
        "orphans.listing_incomplete"
    ]


# --- A refused token ------------------------------------------------------------------


def test_a_revoked_token_makes_the_next_create_authenticate_again_and_succeed(
    launch, cloud, devcloud
):
    devcloud.faults(token_cache_seconds=300)  # heat-api caches validated tokens
    adapter.stacks_list(region=cloud, tags=["cloudportal"])  # heat-api has seen the token
    devcloud.control("POST", "tokens/revoke")
    before = devcloud.token_requests()
    adapter.stacks_list(region=cloud, tags=["cloudportal"])  # reads still pass the cache
    assert devcloud.token_requests() == before

    deployment = provision(launch())

    assert deployment.status == Status.PROVISIONING
    assert deployment.create_attempts == 1
    assert devcloud.token_requests() == before + 1
    creates = [entry["status"] for entry in devcloud.requests("POST", "/stacks")]
    assert creates == [500, 201]


# --- Heat's own pace and checks -------------------------------------------------------


def test_parallel_events_are_stored_once_in_heat_order(launch, cloud, devcloud, reconcile, client):
    deployment = provision(launch())
    for step in range(1, 4):
        devcloud.advance(2)
        with later(5 * step):
            reconcile()

    heat_order = [
        (event.resource_name, event.resource_status)
        for event in adapter.stack_events(
            region=cloud, stack=StackRef(deployment.stack_id, deployment.stack_name)
        )
    ]
    listed = client.get(f"/api/v1/deployments/{deployment.public_id}/events?limit=3")
    stored = []
    while True:
        body = listed.json()
        stored += [(item["resource_name"], item["resource_status"]) for item in body["results"]]
        if not body["next"]:
            break
        listed = client.get(body["next"])

    assert stored == heat_order
    # Independent resources started together: several events share one second.
    times = list(
        DeploymentEvent.objects.filter(deployment=deployment).values_list("occurred_at", flat=True)
    )
    assert len(times) > len(set(times))
    assert stored[:3] == [
        (deployment.stack_name, "CREATE_IN_PROGRESS"),
        ("sec_group", "CREATE_IN_PROGRESS"),
        ("system_volume", "CREATE_IN_PROGRESS"),
    ]


def test_a_name_reused_right_after_its_delete_is_created_once_heat_lets_it_go(
    launch, cloud, devcloud, reconcile
):
    deployment = launch()
    earlier = adapter.stack_create(
        region=cloud,
        name=deployment.stack_name,
        template=template_text(deployment.stack_template),
        parameters=deployment.stack_parameters,
        tags=[],
        timeout_minutes=30,
    )
    devcloud.advance(600)
    adapter.stack_delete(region=cloud, stack=earlier)
    while True:  # to the moment its GET says DELETE_COMPLETE
        devcloud.advance(0.25)
        try:
            adapter.stack_get(region=cloud, stack=earlier)
        except StackNotFound:
            break

    deployment = provision(deployment)
    assert deployment.status == Status.PENDING  # Heat still holds the name: 409
    assert "StackConflict" in deployment.status_detail

    devcloud.advance(1)
    with later(60):
        reconcile()

    deployment = refreshed(deployment)
    assert deployment.status == Status.PROVISIONING
    assert deployment.stack_id not in ("", earlier.id)


def test_a_flavor_the_region_lacks_fails_with_a_plain_reason(launch, cloud, devcloud, client):
    deployment = launch()
    parameters = deployment.stack_parameters
    devcloud.control(
        "POST",
        "catalog",
        {
            "regions": {
                "RegionOne": {
                    "flavors": ["g1.a100x1"],
                    "images": [parameters["image"]],
                    "networks": [parameters["private_network"], parameters["public_network"]],
                }
            }
        },
    )

    deployment = provision(deployment)

    assert deployment.status == Status.FAILED
    assert deployment.status_reason == (
        "This instance type is not set up in Frankfurt yet. Our team has been alerted; "
        "try another region or choice."
    )
    assert deployment.status_detail == (
        "stack_create: InvalidStackRequest: Parameter 'flavor' is invalid: Error validating "
        f"value '{parameters['flavor']}': The Flavor ({parameters['flavor']}) could not be found."
    )
    assert adapter.stacks_list(region=cloud, tags=["cloudportal"]) == ()


def test_the_projects_stack_limit_fails_with_a_plain_reason(launch, cloud, devcloud):
    devcloud.faults(stack_quota=1)
    adapter.stack_create(
        region=cloud,
        name="somebody-else",
        template="heat_template_version: 2021-04-16\nresources: {}\n",
        parameters={},
        tags=[],
        timeout_minutes=5,
    )

    deployment = provision(launch())

    assert deployment.status == Status.FAILED
    assert deployment.status_reason == (
        "Frankfurt cannot take more machines right now. Our team has been alerted; "
        "try another region or try again later."
    )
    assert "maximum stacks per tenant, 1" in deployment.status_detail
    assert adapter.stacks_list(region=cloud, tags=["cloudportal"]) == ()


def test_a_volume_less_machines_progress_reaches_all_of_its_resources_while_creating(
    client, spec, catalog, cloud, devcloud
):
    without_volume = {
        k: v for k, v in spec.items() if k not in ("storage_profile", "volume_size_gb")
    }
    response = client.post("/api/v1/deployments", without_volume, format="json")
    assert response.status_code == 201, response.json()
    deployment = provision(Deployment.objects.get(public_id=response.json()["id"]))
    region = Region.objects.get(slug="eu-central-1")
    # The cycle's listing is taken while Heat is still creating; its events are read after
    # the last resource finished (a real race: a listing is older than what follows it).
    with later(5):
        listing = reconciler._listing(region)
        devcloud.advance(600)
        reconciler._region_reconcile(region, listing, timezone.now())

    deployment = refreshed(deployment)
    assert deployment.status == Status.PROVISIONING
    # sec_group, port, system_volume, floating_ip, server
    assert (deployment.progress_complete, deployment.progress_total) == (5, 5)


def test_heat_status_is_current_in_every_terminal_state(launch, cloud, devcloud, reconcile, client):
    devcloud.faults(fail_resource={"name": "server", "reason": "no_valid_host"})
    failed = provision(launch(name="box-1"))
    devcloud.advance(600)
    with later(10):
        reconcile()
    assert refreshed(failed).heat_status == "DELETE_IN_PROGRESS"  # its cleanup
    devcloud.advance(600)
    with later(20):
        reconcile()
    assert (refreshed(failed).status, refreshed(failed).heat_status) == (
        Status.FAILED,
        "DELETE_COMPLETE",
    )

    devcloud.control("DELETE", "faults")
    deleted = active(launch(name="box-2"), devcloud, reconcile)
    client.delete(f"/api/v1/deployments/{deleted.public_id}")
    reconciler.deployment_delete_stack(deployment_id=deleted.pk)
    devcloud.advance(600)
    with later(60):
        reconcile()
    deleted = refreshed(deleted)
    assert (deleted.status, deleted.heat_status) == (Status.DELETED, "DELETE_COMPLETE")


# --- Recovery and logging (issue 12) ---------------------------------------------------


def test_a_lost_delete_task_is_done_by_the_next_reconcile_cycle(
    launch, cloud, devcloud, reconcile, client
):
    deployment = active(launch(), devcloud, reconcile)

    client.delete(f"/api/v1/deployments/{deployment.public_id}")  # its task never runs
    with later(15):
        reconcile()

    assert [entry["path"] for entry in devcloud.requests("DELETE")] == [
        f"/heat/RegionOne/v1/{devcloud_project(devcloud)}/stacks/"
        f"{deployment.stack_name}/{deployment.stack_id}"
    ]
    assert refreshed(deployment).heat_status == "DELETE_IN_PROGRESS"


def devcloud_project(devcloud) -> str:
    from heat.devcloud.store import PROJECT_ID

    return PROJECT_ID


def test_an_idle_reconcile_cycle_logs_nothing(launch, cloud, devcloud, reconcile, caplog):
    active(launch(), devcloud, reconcile)
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    with later(30):
        reconcile()
    with later(60):
        reconcile()

    assert [
        (record.name, record.msg) for record in caplog.records if record.levelno >= logging.INFO
    ] == []
