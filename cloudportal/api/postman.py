"""A Postman (v2.1) collection made from the OpenAPI document, served at /api/v1/postman.json.

Folders follow the OpenAPI tags; `{{baseUrl}}` and `{{apiKey}}` are collection variables,
the key sent as a bearer token. Operations that API keys cannot use say so and send no
token. Bodies are examples built from the request schemas, for the user to fill in.
"""

import json
from typing import Any

from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cloudportal.api.scopes import PUBLIC, scopes

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_EXAMPLE_BY_TYPE: dict[str, Any] = {
    "string": "",
    "integer": 0,
    "number": 0,
    "boolean": False,
    "array": [],
    "object": {},
}


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _example(schema: dict[str, Any], document: dict[str, Any], depth: int = 0) -> Any:
    schema = _resolve(schema, document)
    if "example" in schema:
        return schema["example"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combined in ("allOf", "oneOf", "anyOf"):
        if schema.get(combined):
            return _example(schema[combined][0], document, depth)
    kind = schema.get("type", "object")
    if kind == "object" and depth < 4:
        properties = schema.get("properties", {})
        required = set(schema.get("required", properties))
        return {
            name: _example(value, document, depth + 1)
            for name, value in properties.items()
            if name in required and not _resolve(value, document).get("readOnly")
        }
    if kind == "array" and depth < 4 and "items" in schema:
        return [_example(schema["items"], document, depth + 1)]
    return _EXAMPLE_BY_TYPE.get(str(kind))


def _request_item(
    path: str, method: str, operation: dict[str, Any], document: dict[str, Any]
) -> dict[str, Any]:
    segments = [
        f":{segment[1:-1]}" if segment.startswith("{") else segment
        for segment in path.lstrip("/").split("/")
    ]
    parameters = operation.get("parameters", [])
    query = [
        {"key": p["name"], "value": "", "disabled": True, "description": p.get("description", "")}
        for p in parameters
        if p.get("in") == "query"
    ]
    headers = [{"key": "Accept", "value": "application/json"}]
    for parameter in parameters:
        if parameter.get("in") == "header" and parameter["name"] == "Idempotency-Key":
            headers.append({"key": "Idempotency-Key", "value": "{{$guid}}"})
    request: dict[str, Any] = {
        "method": method.upper(),
        "header": headers,
        "url": {
            "raw": "{{baseUrl}}/" + "/".join(segments),
            "host": ["{{baseUrl}}"],
            "path": segments,
            "query": query,
            "variable": [
                {"key": p["name"], "value": "", "description": p.get("description", "")}
                for p in parameters
                if p.get("in") == "path"
            ],
        },
        "description": operation.get("description", ""),
    }
    if not any("apiKeyAuth" in requirement for requirement in operation.get("security", [])):
        request["auth"] = {"type": "noauth"}
        request["description"] = (
            "Browser session only: API keys cannot call this. " + request["description"]
        ).strip()
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        headers.append({"key": "Content-Type", "value": "application/json"})
        example = _example(body.get("schema", {}), document)
        request["body"] = {
            "mode": "raw",
            "raw": json.dumps(example, indent=2),
            "options": {"raw": {"language": "json"}},
        }
    return {"name": operation.get("summary") or operation["operationId"], "request": request}


def postman_collection(document: dict[str, Any], *, base_url: str) -> dict[str, Any]:
    folders: dict[str, list[dict[str, Any]]] = {}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in HTTP_METHODS:
                continue
            tag = (operation.get("tags") or ["api"])[0]
            folders.setdefault(tag, []).append(_request_item(path, method, operation, document))
    info = document.get("info", {})
    return {
        "info": {
            "name": info.get("title", "API"),
            "description": info.get("description", ""),
            "version": info.get("version", ""),
            "schema": SCHEMA_URL,
        },
        "auth": {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{apiKey}}", "type": "string"}],
        },
        "variable": [
            {"key": "baseUrl", "value": base_url, "type": "string"},
            {"key": "apiKey", "value": "", "type": "string"},
        ],
        "item": [{"name": name, "item": items} for name, items in folders.items()],
    }


@extend_schema(exclude=True)
class PostmanCollectionApi(APIView):
    api_key_scopes = scopes(read=PUBLIC, write=PUBLIC)
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        document = SchemaGenerator(title=settings.SPECTACULAR_SETTINGS.get("TITLE")).get_schema(
            request=None, public=True
        )
        base_url = request.build_absolute_uri("/").rstrip("/")
        collection = postman_collection(document, base_url=base_url)
        filename = 'attachment; filename="gpu-cloud-portal.postman_collection.json"'
        return Response(collection, headers={"Content-Disposition": filename})
