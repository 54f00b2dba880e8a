"""drf-spectacular extensions: the problem+json error shape, our authentication schemes."""

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

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
