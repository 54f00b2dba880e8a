"""Every endpoint, from the OpenAPI document and the URL conf: the API does what it says,
refuses what it does not accept with a 4xx problem, and never answers 500 to bad input."""

import base64
import importlib
import json
import re

from django.apps import apps
from django.conf import settings
from django.urls import get_resolver
from rest_framework import serializers

from cloudportal.api.serializers import (
    CONTROL_CHARACTERS_MESSAGE,
    UNKNOWN_FIELD_MESSAGE,
    QueryFilter,
    StrictInput,
)
from tests.cloudportal.conftest import url_routes

PROBLEM = "application/problem+json"
WRITE_METHODS = ("post", "put", "patch")


def _operations(schema, methods):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in methods:
                yield path, method, operation


def _url(path, ids):
    missing = set(re.findall(r"{(\w+)}", path)) - set(ids)
    assert not missing, f"{path}: add an object for {missing} to the `world` fixture"
    return path.format(**ids)


def _refused(response, *, field, status=400):
    """A problem naming `field`; returns its messages."""
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith(PROBLEM)
    errors = response.json().get("errors", {})
    assert field in errors, errors
    return errors[field]


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


def test_every_query_parameter_is_validated_as_it_is_documented(world):
    """Both ways: what the document offers is accepted, anything else is a 400 naming it."""
    client, schema, ids = world
    checked = set()
    for path, _, operation in _operations(schema, ("get",)):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            url = _url(path, ids)
            name, kind = parameter["name"], parameter["schema"]
            checked.add(name)
            where = f"{path}?{name}"

            _refused(client.get(url, {name: ""}), field=name)
            if kind.get("type") == "string":
                messages = _refused(client.get(url, {name: "a\x1fb"}), field=name)
                if name != "cursor":
                    assert messages == [CONTROL_CHARACTERS_MESSAGE], where
            enum = kind.get("enum", [])
            for value in enum[:1] + enum[-1:]:  # the ends of the list: a range off by one
                assert client.get(url, {name: value}).status_code == 200, (where, value)
            if "enum" in kind:
                _refused(client.get(url, {name: "no-such-choice"}), field=name)
            if kind.get("type") == "boolean":
                for value in ("true", "false"):
                    assert client.get(url, {name: value}).status_code == 200, where
                _refused(client.get(url, {name: "maybe"}), field=name)
            if kind.get("type") == "integer":
                _refused(client.get(url, {name: "ten"}), field=name)
                low = kind.get("minimum", 1)
                assert client.get(url, {name: low}).status_code == 200, where
                _refused(client.get(url, {name: low - 1}), field=name)
                if "maximum" in kind:
                    assert client.get(url, {name: kind["maximum"]}).status_code == 200, where
                    _refused(client.get(url, {name: kind["maximum"] + 1}), field=name)
            if name == "cursor":
                _refused(client.get(url, {name: "not base64 at all"}), field=name)
                # Well-formed, meaningless: a month 13 where a time is expected.
                response = client.get(url, {name: _cursor("p=2026-13-45")})
                if response.status_code != 200:  # a list ordered by text takes any position
                    _refused(response, field=name)
    assert {"cursor", "limit", "status", "region", "available"} <= checked


def test_a_meaningless_cursor_is_a_400_not_a_500(world):
    client, _, _ = world

    response = client.get("/api/v1/deployments", {"cursor": _cursor("p=2026-13-45")})

    assert _refused(response, field="cursor") == [
        "Not a cursor of this list: follow a page's `next` or `previous` link."
    ]


def test_every_write_body_refuses_unknown_fields_by_name(world):
    client, schema, ids = world
    checked = []
    for path, method, operation in _operations(schema, WRITE_METHODS):
        if "requestBody" not in operation:
            continue
        response = getattr(client, method)(
            _url(path, ids), {"nmae": "typo", "colour": "blue"}, format="json"
        )

        assert _refused(response, field="nmae") == [UNKNOWN_FIELD_MESSAGE], path
        assert "colour" in response.json()["errors"]
        assert "nmae" in response.json()["detail"]
        checked.append(f"{method} {path}")
    assert len(checked) >= 6


def _project_serializers():
    project_apps = [config.name for config in apps.get_app_configs() if config.path.startswith(
        str(settings.BASE_DIR)
    )]  # fmt: skip
    for app in project_apps:
        try:
            module = importlib.import_module(f"{app}.api.serializers")
        except ModuleNotFoundError:
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, serializers.Serializer)
                and value.__module__ == module.__name__
            ):
                yield value


def test_every_input_serializer_in_the_project_is_strict():
    """Future inputs too: a write body is a StrictInput, a list's filters a QueryFilter, and
    a serializer nested in either is strict itself."""
    found = list(_project_serializers())
    assert len(found) > 20
    for serializer in found:
        name = serializer.__name__
        if name.endswith("Input"):
            assert issubclass(serializer, StrictInput), name
        elif name.endswith(("Filter", "Filters")):
            assert issubclass(serializer, QueryFilter), name
        if issubclass(serializer, StrictInput | QueryFilter):
            for field_name, field in serializer().fields.items():
                nested = getattr(field, "child", field)
                if isinstance(nested, serializers.Serializer):
                    assert isinstance(nested, StrictInput), f"{name}.{field_name}"


def test_control_characters_in_a_body_say_so(world):
    client, _, _ = world

    response = client.post("/api/v1/ssh-keys", {"name": "\x1c\x1d", "public_key": "x"})

    assert _refused(response, field="name") == [CONTROL_CHARACTERS_MESSAGE]


def test_a_nul_byte_in_any_path_id_is_a_404(world):
    """Every route with an id, pages and API, from the URL conf."""
    client, _, ids = world
    routes = [route for route in url_routes(get_resolver().url_patterns) if "_id>" in route]
    assert len(routes) >= 15
    for route in routes:
        path = "/" + re.sub(r"<(?:\w+:)?\w+_id>", "%00", route)
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda match: ids.get(match[1], "x"), path)
        response = client.get(path)

        assert response.status_code == 404, (path, response.status_code)
        if path.startswith("/api/"):
            assert response["Content-Type"].startswith(PROBLEM), path


def test_every_id_in_a_url_is_matched_as_a_public_id():
    routes = [route for route in url_routes(get_resolver().url_patterns) if "_id>" in route]
    for route in routes:
        assert re.findall(r"<(\w+):\w+_id>", route) == ["public_id"] * route.count("_id>"), route


def test_every_write_endpoint_answers_an_oversized_or_too_deep_body_with_a_problem(world):
    client, schema, ids = world
    oversized = json.dumps({"name": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    too_deep = "[" * 100_000
    checked = 0
    for path, method, operation in _operations(schema, WRITE_METHODS):
        if "requestBody" not in operation:
            continue
        send = getattr(client, method)
        url = _url(path, ids)

        response = send(url, oversized, content_type="application/json")
        assert response.status_code == 413, (path, response.status_code)
        assert response.json()["code"] == "request_too_large"
        response = send(url, too_deep, content_type="application/json")
        assert response.status_code == 400, (path, response.status_code)
        assert response.json()["code"] == "malformed_request"
        checked += 1
    assert checked >= 6
