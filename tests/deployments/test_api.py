"""The deployments API: validation, limits, idempotency, tenancy, query counts."""

import pytest
from rest_framework.test import APIClient

from deployments.models import Deployment
from tests.accounts.factories import UserFactory, VerifiedUserFactory

pytestmark = pytest.mark.django_db


def test_create_answers_the_detail_with_the_captured_price(client, spec, catalog, cloud):
    response = client.post("/api/v1/deployments", spec)

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("dep_")
    assert body["status"] == "PENDING"
    assert body["region"] == {"slug": "eu-central-1", "name": "Frankfurt"}
    assert body["storage"] == {"profile": "nvme-ssd", "size_gb": 200}
    assert body["price"]["currency"] == "USD"
    # 2.79/h compute + (100 GB system disk + 200 GB data) at 0.10 per 730 h
    assert body["price"]["hourly"] == "2.831096"
    assert body["price"]["compute_hourly"] == "2.790000"
    assert body["price"]["storage_hourly"] == "0.041096"  # 30.00 / 730 = 0.0410958..
    assert body["ssh_keys"][0]["fingerprint"].startswith("SHA256:")
    assert body["outputs"] is None
    assert body["ssh_command"] is None


def test_choices_not_offered_are_named_per_field_and_nothing_is_created(client, spec, catalog):
    response = client.post(
        "/api/v1/deployments",
        {**spec, "region": "us-east-1", "instance_type": "a100-1x", "name": "Bad_Name"},
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "deployment_input_invalid"
    assert set(body["errors"]) == {"instance_type", "name"}
    assert "offered" in body["errors"]["instance_type"][0]
    assert not Deployment.objects.exists()


def test_unknown_ssh_key_is_refused(client, spec, catalog):
    response = client.post("/api/v1/deployments", {**spec, "ssh_keys": ["ssh_NOPE"]})

    assert response.status_code == 400
    assert response.json()["errors"] == {"ssh_keys": ["No such SSH key: ssh_NOPE."]}


def test_another_customers_ssh_key_is_unknown(client, spec, catalog):
    from tests.accounts.factories import SshKeyFactory

    theirs = SshKeyFactory()

    response = client.post("/api/v1/deployments", {**spec, "ssh_keys": [theirs.public_id]})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["ssh_keys"]


def test_unverified_customer_cannot_launch(spec, catalog):
    client = APIClient()
    client.force_login(UserFactory())

    response = client.post("/api/v1/deployments", spec)

    assert response.status_code == 403
    assert response.json()["code"] == "email_unverified"
    assert not Deployment.objects.exists()


def test_live_deployment_limit(client, spec, catalog, settings):
    settings.DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER = 2
    for index in range(2):
        assert client.post("/api/v1/deployments", {**spec, "name": f"b{index}"}).status_code == 201

    response = client.post("/api/v1/deployments", {**spec, "name": "b3"})

    assert response.status_code == 409
    assert response.json()["code"] == "deployment_limit_reached"
    assert Deployment.objects.count() == 2


def test_idempotent_create_replays_instead_of_launching_twice(client, spec, catalog):
    first = client.post("/api/v1/deployments", spec, headers={"Idempotency-Key": "launch-1"})
    again = client.post("/api/v1/deployments", spec, headers={"Idempotency-Key": "launch-1"})
    other = client.post(
        "/api/v1/deployments", {**spec, "name": "other"}, headers={"Idempotency-Key": "launch-1"}
    )

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert Deployment.objects.count() == 1


def test_another_customers_deployment_is_404_everywhere(client, spec, catalog):
    response = client.post("/api/v1/deployments", spec)
    deployment_id = response.json()["id"]
    stranger = APIClient()
    stranger.force_login(VerifiedUserFactory())

    assert stranger.get(f"/api/v1/deployments/{deployment_id}").status_code == 404
    assert stranger.get(f"/api/v1/deployments/{deployment_id}/events").status_code == 404
    assert stranger.delete(f"/api/v1/deployments/{deployment_id}").status_code == 404
    assert stranger.get("/api/v1/deployments").json()["results"] == []
    assert Deployment.objects.get().status == "PENDING"


def test_list_filters_by_status_and_region(client, spec, catalog):
    client.post("/api/v1/deployments", {**spec, "name": "eu"})
    client.post("/api/v1/deployments", {**spec, "name": "us", "region": "us-east-1"})
    Deployment.objects.filter(name="us").update(status="ACTIVE")

    assert [
        d["name"] for d in client.get("/api/v1/deployments?region=us-east-1").json()["results"]
    ] == ["us"]
    assert [
        d["name"] for d in client.get("/api/v1/deployments?status=PENDING").json()["results"]
    ] == ["eu"]
    bad = client.get("/api/v1/deployments?status=RUNNING")
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["status"]


def test_list_hides_deleted_deployments_unless_asked(client, spec, catalog):
    client.post("/api/v1/deployments", {**spec, "name": "gone"})
    client.post("/api/v1/deployments", {**spec, "name": "kept"})
    Deployment.objects.filter(name="gone").update(status="DELETED")

    def names(query: str) -> list[str]:
        response = client.get(f"/api/v1/deployments{query}")
        assert response.status_code == 200, response.json()
        return [d["name"] for d in response.json()["results"]]

    assert names("") == ["kept"]
    assert names("?include_deleted=true") == ["kept", "gone"]
    assert names("?include_deleted=false") == ["kept"]
    assert names("?status=DELETED") == ["gone"]
    gone = Deployment.objects.get(name="gone").public_id
    assert client.get(f"/api/v1/deployments/{gone}").json()["status"] == "DELETED"
    bad = client.get("/api/v1/deployments?include_deleted=maybe")
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["include_deleted"]


def test_list_costs_the_same_queries_for_1_or_10_deployments(
    client, spec, catalog, django_assert_num_queries, settings
):
    settings.DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER = 10
    client.post("/api/v1/deployments", {**spec, "name": "first"})
    client.get("/api/v1/deployments")  # the session's last-seen time is recorded once

    # session, user, customer, page of deployments (catalog rows joined)
    with django_assert_num_queries(4):
        client.get("/api/v1/deployments")
    for index in range(9):
        client.post("/api/v1/deployments", {**spec, "name": f"more-{index}"})
    with django_assert_num_queries(4):
        response = client.get("/api/v1/deployments")

    assert len(response.json()["results"]) == 10
