"""Every API operation says what an API key needs for it, so no endpoint is reachable by a
key by accident: a scope, `PUBLIC`, or explicitly `SESSION_ONLY`."""

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from cloudportal.api.scopes import PUBLIC, Scope, scope_required


def _api_views(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            view = getattr(pattern.callback, "cls", None) or getattr(
                pattern.callback, "view_class", None
            )
            if route.startswith("api/v1/") and view is not None:
                actions = getattr(pattern.callback, "actions", None)
                methods = (
                    list(actions)
                    if actions
                    else [m for m in view.http_method_names if m != "options" and hasattr(view, m)]
                )
                yield route, view, [m.upper() for m in methods if m != "head"]


def test_every_api_operation_in_the_url_conf_declares_its_key_scope():
    undeclared = []
    for route, view, methods in _api_views(get_resolver().url_patterns):
        for method in methods:
            declared, required = scope_required(view, method)
            if not declared or (required is not None and required not in [*Scope.values, PUBLIC]):
                undeclared.append(f"{method} /{route} ({view.__name__})")

    assert undeclared == [], "declare api_key_scopes on these views (cloudportal/api/scopes.py)"


def test_every_operation_in_the_openapi_document_names_its_key_scope():
    document = SchemaGenerator().get_schema(request=None, public=True)
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "x-api-key-scope" not in operation
        or ("apiKeyAuth" in str(operation.get("security")))
        != (operation["x-api-key-scope"] is not None)
    ]

    assert missing == []
    assert document["components"]["securitySchemes"]["apiKeyAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["apiKeyAuth"]["description"],
    }
    assert "sessionAuth" in document["components"]["securitySchemes"]
    deployments_create = document["paths"]["/api/v1/deployments"]["post"]
    assert "`deployments:write`" in deployments_create["description"]
    assert {"apiKeyAuth": []} in deployments_create["security"]
    api_keys_list = document["paths"]["/api/v1/api-keys"]["get"]
    assert {"apiKeyAuth": []} not in api_keys_list["security"]
