"""The OpenAPI schema generates cleanly and documents the error shape; the docs are local."""

import re

import pytest
from django.core.management import call_command

from catalog.services import catalog_seed_file_load
from deployments import services as deployment_services
from support import services as support_services
from tests.accounts.factories import SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import fund


def test_schema_generates_and_validates_without_warnings(tmp_path):
    output = tmp_path / "schema.yaml"

    # --fail-on-warn raises on the first warning; --validate checks OpenAPI 3 conformance.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(output))

    assert output.read_text().startswith("openapi: 3")


def test_every_operation_documents_problem_responses(client):
    response = client.get("/api/v1/schema/", headers={"Accept": "application/json"})

    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["schemas"]["Problem"]["required"] == [
        "type", "title", "status", "detail", "code",
    ]  # fmt: skip
    for operations in schema["paths"].values():
        for operation in operations.values():
            content = operation["responses"]["default"]["content"]
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }
    assert schema["components"]["securitySchemes"]["sessionAuth"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
    }


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_their_assets_from_this_server(client, path):
    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts
    assert all(src.startswith(("/static/drf_spectacular_sidecar/", "/api/")) for src in scripts)
    assert "cdn" not in html.lower()
    assert "https://" not in html.replace("https://github.com", "")


def test_redoc_is_served_by_the_app_without_its_cdn_logo(client):
    page = client.get("/api/redoc/").content.decode()
    [bundle] = re.findall(r'<script src="([^"]+redoc[^"]*)"', page)

    response = client.get(bundle)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    text = response.content.decode()
    assert "Redoc" in text
    assert len(text) > 500_000
    assert "cdn.redoc.ly" not in text


def test_swagger_ui_bundle_is_served_by_the_app(client):
    response = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")

    assert response.status_code == 200


def _resolved(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_documented_list_has_the_shape_the_api_answers(db, client):
    """Generated clients trust the document: a list the API answers as a page (`next`,
    `previous`, `results`) must be documented as one, never as a bare array."""
    catalog_seed_file_load()
    user = VerifiedUserFactory()
    fund(user.customer)
    deployment = deployment_services.deployment_create(
        customer=user.customer,
        name="trainer-1",
        region="eu-central-1",
        instance_type="h100-1x",
        image="ubuntu-24.04-cuda-12.8",
        ssh_key_ids=[SshKeyFactory(customer=user.customer).public_id],
    )
    ticket = support_services.ticket_create(
        customer=user.customer, author=user, subject="GPU missing", body="nvidia-smi is empty"
    )
    client.force_login(user)
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/json"}).json()
    ids = {"deployment_id": deployment.public_id, "ticket_id": ticket.public_id}

    pages = set()
    for path, operations in schema["paths"].items():
        content = operations.get("get", {}).get("responses", {}).get("200", {}).get("content", {})
        if "application/json" not in content or set(re.findall(r"{(\w+)}", path)) - set(ids):
            continue
        documented = _resolved(schema, content["application/json"]["schema"])
        response = client.get(path.format(**ids))
        assert response.status_code == 200, path
        body = response.json()

        assert (documented.get("type") == "array") == isinstance(body, list), path
        if isinstance(body, dict) and "results" in body:
            assert set(body) == set(documented["properties"]), path
            if "next" in body:
                pages.add(path)

    assert pages >= {
        "/api/v1/account/sessions",
        "/api/v1/activity",
        "/api/v1/billing/transactions",
        "/api/v1/deployments",
        "/api/v1/deployments/{deployment_id}/events",
        "/api/v1/ssh-keys",
        "/api/v1/tickets",
        "/api/v1/tickets/{ticket_id}/messages",
    }
