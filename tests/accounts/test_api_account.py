import pytest
from rest_framework.test import APIClient

from accounts.models import Customer
from tests.accounts.factories import UserFactory, VerifiedUserFactory

pytestmark = pytest.mark.django_db


def test_account_shows_the_customer_and_settings():
    user = UserFactory(email="ada@example.com")
    client = APIClient()
    client.force_login(user)

    body = client.get("/api/v1/account").json()

    assert body == {
        "id": user.customer.public_id,
        "email": "ada@example.com",
        "email_verified": False,
        "display_name": "",
        "company": "",
        "time_zone": "UTC",
        "notifications": {"low_balance": True, "deployment_failed": True, "ticket_replies": True},
        "created_at": body["created_at"],
    }
    assert body["id"].startswith("cus_")


def test_patch_changes_only_what_is_sent():
    user = VerifiedUserFactory()
    client = APIClient()
    client.force_login(user)

    response = client.patch(
        "/api/v1/account",
        {
            "display_name": "Ada",
            "time_zone": "Europe/Berlin",
            "notifications": {"low_balance": False},
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["display_name"], body["company"], body["time_zone"]) == (
        "Ada",
        "",
        "Europe/Berlin",
    )
    assert body["notifications"] == {
        "low_balance": False,
        "deployment_failed": True,
        "ticket_replies": True,
    }
    assert body["email_verified"] is True
    customer = Customer.objects.get(user=user)
    assert (customer.display_name, customer.notify_low_balance) == ("Ada", False)


def test_unknown_time_zone_is_a_field_error_and_changes_nothing():
    user = UserFactory()
    client = APIClient()
    client.force_login(user)

    response = client.patch("/api/v1/account", {"display_name": "X", "time_zone": "Mars/Olympus"})

    assert response.status_code == 400
    assert response.json()["code"] == "time_zone_unknown"
    assert response.json()["errors"] == {
        "time_zone": ["'Mars/Olympus' is not a time zone name such as Europe/Berlin or UTC."]
    }
    assert Customer.objects.get(user=user).display_name == ""


def test_too_long_name_is_a_validation_error():
    client = APIClient()
    client.force_login(UserFactory())

    response = client.patch("/api/v1/account", {"display_name": "x" * 101})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["display_name"]


def test_anonymous_is_401():
    response = APIClient().get("/api/v1/account")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
