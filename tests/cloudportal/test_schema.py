"""The OpenAPI schema generates cleanly and documents the error shape; the docs are local."""

import pytest
from django.core.management import call_command


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
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html.replace("https://github.com", "")


def test_swagger_ui_bundle_is_served_by_the_app(client):
    response = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")

    assert response.status_code == 200
