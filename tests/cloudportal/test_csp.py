"""A Content-Security-Policy on every page, and templates it does not break: no inline
script or event handler anywhere, and the API docs load nothing from another server."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import get_resolver

from cloudportal.csp import HEADER
from tests.cloudportal.conftest import url_routes

TEMPLATES = Path(settings.BASE_DIR, "templates")
# A <script> that runs code must come from a file; a JSON data block is not run.
INLINE_SCRIPT = re.compile(
    r"<script\b(?![^>]*\bsrc=)(?![^>]*\bnonce=)(?![^>]*application/json)[^>]*>"
)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)


def assert_strict_policy(response, path):
    policy = (
        dict(directive.strip().split(" ", 1) for directive in response.get(HEADER, "").split(";"))
        if response.get(HEADER)
        else {}
    )
    assert policy.get("script-src") == "'self'", (path, response.get(HEADER))
    assert policy.get("default-src") == "'self'", path
    assert policy.get("object-src") == "'none'", path
    for directive in ("img-src", "font-src", "connect-src", "style-src"):
        assert "http" not in policy[directive].replace("ws://testserver", ""), (path, directive)


def test_every_page_in_the_url_conf_sends_a_strict_policy(world):
    api_client, _, ids = world
    client = Client(raise_request_exception=False)
    client.cookies = api_client.cookies  # the same logged-in customer
    walked = []
    for route in url_routes(get_resolver().url_patterns):
        if route.startswith(("api/v1/", "_allauth/", "^api/")):
            continue  # JSON, not pages
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: ids.get(match[1], "?"), route)
        if "?" in path or "(" in path or "\\" in path:
            continue  # needs an object this test does not make
        response = client.get(path)

        assert_strict_policy(response, path)
        walked.append(path)
    for path in ["/admin/login/", "/api/docs/", "/api/redoc/", "/api/auth-docs/"]:
        assert_strict_policy(Client().get(path), path)
    assert len(walked) > 20, walked


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_templates_have_no_inline_script_or_event_handler(template):
    text = template.read_text()

    assert not INLINE_SCRIPT.findall(text)
    assert not EVENT_HANDLER.findall(text)
    assert "javascript:" not in text


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/", "/api/auth-docs/"])
def test_the_api_docs_run_no_inline_script(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert not INLINE_SCRIPT.findall(response.content.decode())


def test_a_request_for_another_host_is_a_problem_with_the_policy(client):
    response = client.get("/api/v1/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "script-src" in response["Content-Security-Policy"]
