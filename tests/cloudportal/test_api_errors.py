"""Every API error is an RFC 9457 problem with a stable code, never HTML or a traceback."""

import pytest
from rest_framework.throttling import SimpleRateThrottle

from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.urls("tests.cloudportal.urls")

PROBLEM = "application/problem+json"


def assert_problem(response, *, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:cloudportal:problem:{code}"
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_validation_error_lists_every_invalid_field(api_client):
    response = api_client.post(
        "/api/v1/test/echo", {"name": "x" * 21, "size_gb": 0, "tags": ["ok", "toolong"]}
    )

    body = assert_problem(response, status=400, code="validation_failed")
    assert body["errors"] == {
        "name": ["Ensure this field has no more than 20 characters."],
        "size_gb": ["Ensure this value is greater than or equal to 1."],
        "tags.1": ["Ensure this field has no more than 3 characters."],
    }
    assert body["instance"] == "/api/v1/test/echo"


def test_missing_fields_are_named(api_client):
    response = api_client.post("/api/v1/test/echo", {})

    body = assert_problem(response, status=400, code="validation_failed")
    assert body["errors"] == {
        "name": ["This field is required."],
        "size_gb": ["This field is required."],
    }


def test_malformed_json_is_a_400_that_says_so(api_client):
    response = api_client.generic(
        "POST", "/api/v1/test/echo", '{"name": "a",', content_type="application/json"
    )

    body = assert_problem(response, status=400, code="malformed_request")
    assert "could not be parsed" in body["detail"]
    assert "JSON parse error" in body["detail"]


def test_wrong_content_type_is_415(api_client):
    response = api_client.generic(
        "POST",
        "/api/v1/test/echo",
        "name=a&size_gb=1",
        content_type="application/x-www-form-urlencoded",
    )

    body = assert_problem(response, status=415, code="unsupported_media_type")
    assert "application/x-www-form-urlencoded" in body["detail"]


def test_anonymous_request_to_private_endpoint_is_401_with_a_challenge(api_client):
    response = api_client.get("/api/v1/test/private")

    assert_problem(response, status=401, code="not_authenticated")
    assert response["WWW-Authenticate"] == 'Session realm="api"'


@pytest.mark.django_db
def test_logged_in_user_reaches_private_endpoint(logged_in_client, user):
    response = logged_in_client.get("/api/v1/test/private")

    assert response.status_code == 200
    assert response.json() == {"email": user.email}


@pytest.mark.django_db
def test_customer_without_permission_gets_403(logged_in_client):
    response = logged_in_client.get("/api/v1/test/staff")

    assert_problem(response, status=403, code="permission_denied")


@pytest.mark.django_db
def test_unsafe_request_without_csrf_token_is_refused(user):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post("/api/v1/test/echo", {"name": "a", "size_gb": 1}, format="json")

    body = assert_problem(response, status=403, code="permission_denied")
    assert "CSRF" in body["detail"]


@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-thing", "/api/v2/", "/api/v1/test/echo/extra", "/api/"]
)
def test_unknown_api_url_is_a_404_problem(api_client, path):
    response = api_client.get(path)

    body = assert_problem(response, status=404, code="not_found")
    assert body["detail"] == f"There is no API endpoint at {path}."


def test_unknown_api_url_is_a_problem_for_every_method(api_client):
    response = api_client.delete("/api/v1/no-such-thing")

    assert_problem(response, status=404, code="not_found")


def test_wrong_method_is_405_and_names_the_allowed_ones(api_client):
    response = api_client.get("/api/v1/test/echo")

    body = assert_problem(response, status=405, code="method_not_allowed")
    assert body["detail"] == 'Method "GET" not allowed.'
    assert "POST" in response["Allow"]


def test_too_many_requests_is_429_with_retry_after(api_client, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon", "2/min")

    statuses = [api_client.get("/api/v1/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    response = api_client.get("/api/v1/")
    body = assert_problem(response, status=429, code="rate_limited")
    assert 0 < int(response["Retry-After"]) <= 60
    assert "throttled" in body["detail"].lower()


def test_a_made_up_forwarded_header_does_not_escape_the_anonymous_limit(api_client, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon", "2/min")

    statuses = [
        api_client.get("/api/v1/", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
        for n in range(3)
    ]

    assert statuses == [200, 200, 429]


def test_domain_error_keeps_its_code_status_and_message(api_client):
    response = api_client.get("/api/v1/test/domain-error")

    body = assert_problem(response, status=409, code="capacity_exhausted")
    assert body["title"] == "No capacity"
    assert body["detail"] == "No GPU capacity in the region right now."


def test_unhandled_error_is_a_500_problem_without_traceback(api_client, caplog):
    api_client.raise_request_exception = False

    response = api_client.get("/api/v1/test/boom")

    body = assert_problem(response, status=500, code="internal_error")
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert "request id" in body["detail"]
    # Staff find the traceback in the log under the same request id.
    [record] = [r for r in caplog.records if r.getMessage() == "api.unhandled_exception"]
    assert record.request_id == body["request_id"]
    assert record.exc_info is not None


@pytest.mark.django_db(transaction=True)
def test_database_outage_is_a_503_problem(api_client, monkeypatch, unused_tcp_port):
    from django.db import connection

    user = UserFactory()
    api_client.force_login(user)
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PORT", str(unused_tcp_port))

    # Authenticating the session needs the database.
    response = api_client.get("/api/v1/test/private")

    body = assert_problem(response, status=503, code="database_unavailable")
    assert response["Retry-After"] == "5"
    assert str(unused_tcp_port) not in body["detail"]
    connection.close()


def test_redis_outage_is_a_503_problem(api_client, settings, unused_tcp_port):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{unused_tcp_port}/0",
        }
    }

    # The rate limiter counts requests in Redis.
    response = api_client.get("/api/v1/")

    assert_problem(response, status=503, code="cache_unavailable")
