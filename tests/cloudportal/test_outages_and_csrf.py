"""With DEBUG off, an outage of the database or Redis is a 503 everywhere (a page for
pages, a problem for the JSON APIs), and a CSRF failure under a JSON API is a problem."""

import pytest
from django.conf import settings
from django.test import Client

from tests.accounts.factories import PASSWORD, VerifiedUserFactory

PROBLEM = "application/problem+json"
PAGES = ["/", "/accounts/login/", "/admin/login/"]
HEADLESS_SESSION = "/_allauth/browser/v1/auth/session"


def visitor() -> Client:
    # A returning visitor: its session cookie makes every request read the session store.
    client = Client(raise_request_exception=False)
    client.cookies[settings.SESSION_COOKIE_NAME] = "a" * 32
    return client


@pytest.fixture
def database_down(django_db_blocker, monkeypatch, unused_tcp_port):
    from django.db import connection

    with django_db_blocker.unblock():
        connection.close()
        monkeypatch.setitem(connection.settings_dict, "PORT", str(unused_tcp_port))
        yield
        connection.close()


@pytest.fixture
def redis_down(settings, unused_tcp_port):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{unused_tcp_port}/0",
        }
    }


def assert_unavailable_page(response, path):
    assert response.status_code == 503, (path, response.status_code)
    assert response["Content-Type"].startswith("text/html"), path
    assert response["Retry-After"] == "5"
    assert "briefly unavailable" in response.content.decode()


def assert_unavailable_problem(response, code):
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"].startswith(PROBLEM)
    assert response.json()["code"] == code
    assert response["Retry-After"] == "5"


def test_with_the_database_down_pages_and_headless_answer_503(database_down):
    assert not settings.DEBUG
    client = visitor()

    for path in PAGES:
        assert_unavailable_page(client.get(path), path)
    assert_unavailable_problem(client.get(HEADLESS_SESSION), "database_unavailable")


def test_with_redis_down_what_needs_it_answers_503(db, redis_down):
    user = VerifiedUserFactory()
    client = Client(raise_request_exception=False)
    # Login attempts are rate-limited in Redis, in the page and in the headless API.
    page = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    headless = client.post(
        "/_allauth/browser/v1/auth/login",
        {"email": user.email, "password": PASSWORD},
        content_type="application/json",
    )

    assert_unavailable_page(page, "/accounts/login/")
    assert_unavailable_problem(headless, "cache_unavailable")
    for path in [*PAGES, HEADLESS_SESSION]:  # what does not need Redis still answers
        assert client.get(path).status_code in {200, 401}, path


def test_a_csrf_failure_under_the_headless_api_is_a_problem(db):
    user = VerifiedUserFactory()
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        "/_allauth/browser/v1/auth/login",
        {"email": user.email, "password": PASSWORD},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert response["Content-Type"].startswith(PROBLEM)
    assert response.json()["code"] == "csrf_failed"
    assert "X-CSRFToken" in response.json()["detail"]
    # Pages keep Django's own page.
    page = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")


def test_the_headless_app_client_is_off_and_the_browser_client_on(db):
    """An app-client session token would be refused by /api/v1/: it is not offered."""
    client = Client()

    assert client.get("/_allauth/app/v1/config").status_code == 404
    assert client.get("/_allauth/browser/v1/config").status_code == 200
    spec = client.get("/_allauth/openapi.json").json()
    assert not [path for path in spec["paths"] if path.startswith("/_allauth/app/")]


def test_an_oversized_body_to_the_headless_api_is_a_413_problem(db):
    response = Client().post(
        "/_allauth/browser/v1/auth/login",
        '{"email": "' + "a" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + '"}',
        content_type="application/json",
    )

    assert response.status_code == 413
    assert response["Content-Type"].startswith(PROBLEM)
    assert response.json()["code"] == "request_too_large"
