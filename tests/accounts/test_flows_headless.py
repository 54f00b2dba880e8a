"""The same flows as JSON, through django-allauth's headless API (browser client)."""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

AUTH = "/_allauth/browser/v1"


def test_sign_up_asks_for_verification_whether_or_not_the_email_is_taken():
    UserFactory(email="taken@example.com")

    taken = APIClient().post(
        f"{AUTH}/auth/signup", {"email": "taken@example.com", "password": PASSWORD}, format="json"
    )
    fresh = APIClient().post(
        f"{AUTH}/auth/signup", {"email": "fresh@example.com", "password": PASSWORD}, format="json"
    )

    assert taken.status_code == fresh.status_code == 401
    flows = lambda r: [(f["id"], f.get("is_pending")) for f in r.json()["data"]["flows"]]  # noqa: E731
    assert flows(taken) == flows(fresh)
    assert ("verify_email", True) in flows(fresh)
    assert User.objects.filter(email="fresh@example.com").exists()
    assert User.objects.filter(email="taken@example.com").count() == 1


def test_unverified_user_logs_in_and_reads_the_api():
    UserFactory(email="new@example.com")
    client = APIClient()

    response = client.post(
        f"{AUTH}/auth/login", {"email": "new@example.com", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["data"]["user"]["email"] == "new@example.com"
    assert client.get("/api/v1/account").json()["email_verified"] is False


def test_wrong_password_is_a_400_with_a_message():
    UserFactory(email="ada@example.com")

    response = APIClient().post(
        f"{AUTH}/auth/login", {"email": "ada@example.com", "password": "nope"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "email_password_mismatch"


def test_password_reset_request_answers_the_same_for_unknown_addresses(mailoutbox):
    UserFactory(email="ada@example.com")

    known = APIClient().post(
        f"{AUTH}/auth/password/request", {"email": "ada@example.com"}, format="json"
    )
    unknown = APIClient().post(
        f"{AUTH}/auth/password/request", {"email": "nobody@example.com"}, format="json"
    )

    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert len(mailoutbox) == 2


def test_headless_specification_is_served_and_linked_from_the_api_docs(client):
    spec = client.get("/_allauth/openapi.json")
    docs = client.get("/api/auth-docs/")
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/json"}).json()

    assert spec.status_code == 200
    assert any(path.endswith("/auth/login") for path in spec.json()["paths"])
    assert docs.status_code == 200
    assert "/_allauth/openapi.json" in docs.content.decode()
    assert "https://" not in docs.content.decode()
    assert "/api/auth-docs/" in schema["info"]["description"]
