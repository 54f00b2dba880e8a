"""drf-spectacular extensions: the problem+json error shape, our authentication schemes."""

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from cloudportal.api.scopes import PUBLIC, SESSION_ONLY, scope_required

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. `code` is stable and part of the API contract.",
    "properties": {
        "type": {"type": "string", "example": "urn:cloudportal:problem:validation_failed"},
        "title": {"type": "string", "example": "Validation failed"},
        "status": {"type": "integer", "example": 400},
        "detail": {"type": "string"},
        "code": {"type": "string", "example": "validation_failed"},
        "instance": {"type": "string", "nullable": True, "example": "/api/v1/deployments"},
        "request_id": {"type": "string", "nullable": True},
        "errors": {
            "type": "object",
            "description": "Field name -> messages; present on validation failures only.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}


def add_problem_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {
        "description": "An error, as application/problem+json.",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            operation.setdefault("responses", {}).setdefault("default", problem)
    return result


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents our session authentication as the cookie it is."""

    target_class = "cloudportal.api.authentication.SessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """A bearer scheme, and on each operation the scope it needs (none: session only)."""

    target_class = "accounts.api.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API key (`cpk_…`) from the API keys page. Each operation names the "
                "scope it needs; operations without this scheme are for browser sessions only."
            ),
        }

    def get_security_requirement(self, auto_schema: AutoSchema) -> Any:
        declared, required = scope_required(auto_schema.view, auto_schema.method)
        if not declared or required is SESSION_ONLY:
            return []  # drf-spectacular leaves the scheme off this operation
        return {self.name: []}


class PortalAutoSchema(AutoSchema):
    """Every operation says which API key scope it needs, in words and as `x-api-key-scope`.

    (OpenAPI 3.0 allows scope names in security requirements only for OAuth2, so the
    bearer requirement itself stays an empty list.)
    """

    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        declared, required = scope_required(self.view, self.method)
        if not declared or required is SESSION_ONLY:
            line = "**API keys:** not accepted; a browser session only."
            operation["x-api-key-scope"] = None
        elif required == PUBLIC:
            line = "**API keys:** any key, or none."
            operation["x-api-key-scope"] = PUBLIC
        else:
            line = f"**API key scope:** `{required}`."
            operation["x-api-key-scope"] = required
        description = operation.get("description", "")
        operation["description"] = f"{description}\n\n{line}" if description else line
        return operation
