"""The Postman collection at /api/v1/postman.json: every OpenAPI operation, variables for
the base URL and the key, bearer auth except where keys are refused."""

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


def _requests(items):
    for item in items:
        if "item" in item:
            yield from _requests(item["item"])
        else:
            yield item


def test_the_collection_holds_every_operation_with_variables_and_bearer_auth():
    document = SchemaGenerator().get_schema(request=None, public=True)
    operations = {
        (method.upper(), path.replace("{", ":").replace("}", "").lstrip("/"))
        for path, methods in document["paths"].items()
        for method in methods
        if method in ("get", "post", "put", "patch", "delete")
    }

    response = Client().get("/api/v1/postman.json")

    assert response.status_code == 200
    collection = response.json()
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    variables = {variable["key"]: variable["value"] for variable in collection["variable"]}
    assert variables == {"baseUrl": "http://testserver", "apiKey": ""}
    assert collection["auth"]["bearer"][0]["value"] == "{{apiKey}}"
    requests = list(_requests(collection["item"]))
    found = {(r["request"]["method"], "/".join(r["request"]["url"]["path"])) for r in requests}
    assert found == operations
    by_key = {(r["request"]["method"], "/".join(r["request"]["url"]["path"])): r for r in requests}
    create = by_key[("POST", "api/v1/deployments")]["request"]
    assert {"key": "Idempotency-Key", "value": "{{$guid}}"} in create["header"]
    assert create["url"]["raw"] == "{{baseUrl}}/api/v1/deployments"
    assert '"ssh_keys"' in create["body"]["raw"]
    assert "auth" not in create  # inherits the collection's bearer token
    keys_list = by_key[("GET", "api/v1/api-keys")]["request"]
    assert keys_list["auth"] == {"type": "noauth"}


def test_the_docs_page_links_the_collection():
    html = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()

    assert "/api/v1/postman.json" in html
