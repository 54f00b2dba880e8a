"""The time zone setting: pages show times in it, the API stays in UTC."""

from datetime import UTC, datetime

import pytest
from django.test import Client

from accounts.models import SshKey
from tests.accounts.factories import SshKeyFactory, VerifiedUserFactory

pytestmark = pytest.mark.django_db

ADDED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def customer_with_a_key():
    customer = VerifiedUserFactory().customer
    key = SshKeyFactory(customer=customer)
    SshKey.objects.filter(pk=key.pk).update(created_at=ADDED)
    return customer


def page_of(customer) -> str:
    client = Client()
    client.force_login(customer.user)
    return client.get("/accounts/ssh-keys/").content.decode()


def test_pages_show_times_in_the_customers_time_zone(customer_with_a_key):
    customer_with_a_key.time_zone = "Europe/Berlin"
    customer_with_a_key.save(update_fields=["time_zone"])

    assert "2026-01-15 13:00 CET" in page_of(customer_with_a_key)


def test_the_default_is_utc_and_the_api_stays_utc(customer_with_a_key):
    assert "2026-01-15 12:00 UTC" in page_of(customer_with_a_key)

    customer_with_a_key.time_zone = "Asia/Tokyo"
    customer_with_a_key.save(update_fields=["time_zone"])
    client = Client()
    client.force_login(customer_with_a_key.user)
    [key] = client.get("/api/v1/ssh-keys").json()["results"]
    assert key["created_at"] == "2026-01-15T12:00:00Z"
