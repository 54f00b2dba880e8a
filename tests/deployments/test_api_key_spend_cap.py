"""A key's monthly spend cap: what the deployments it created cost this UTC month, plus an
hour of the new one, must fit, or the create is refused with 402 and nothing is made."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ActivityEntry, ActivityVerb
from billing.money import micros_from_decimal
from billing.services import usage_charge_post
from deployments.models import Deployment
from tests.accounts.factories import api_key_for, bearer
from tests.billing.conftest import ledger_assert_verified

pytestmark = pytest.mark.django_db(transaction=False)

NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _mid_month():
    with time_machine.travel(NOW, tick=False):
        yield


def charge(deployment: Deployment, micros: int, *, at: datetime = NOW - timedelta(hours=1)):
    usage_charge_post(
        customer=deployment.customer,
        subject=deployment.public_id,
        label=deployment.name,
        component="compute",
        window_start=at,
        seconds=60,
        rate=deployment.compute_hourly_price,
        amount=micros,
    )


def create(secret: str, spec: dict, name: str, **headers) -> object:
    return APIClient().post(
        "/api/v1/deployments", {**spec, "name": name}, **bearer(secret), **headers
    )


def test_a_deployment_created_through_a_key_records_the_key(customer, spec, catalog):
    api_key, secret = api_key_for(customer)

    response = create(secret, spec, "first")

    assert response.status_code == 201, response.json()
    deployment = Deployment.objects.get(public_id=response.json()["id"])
    assert deployment.created_by_key == api_key
    entry = ActivityEntry.objects.get(verb=ActivityVerb.DEPLOYMENT_CREATED)
    assert (entry.actor_kind, entry.actor_label) == ("api_key", api_key.public_id)


def test_a_create_that_would_pass_the_cap_is_refused_with_402(customer, spec, catalog, client):
    api_key, secret = api_key_for(customer)
    first = Deployment.objects.get(public_id=create(secret, spec, "first").json()["id"])
    hour = micros_from_decimal(first.hourly_price)
    charge(first, 3_000_000)
    api_key.monthly_spend_cap = 3_000_000 + hour - 1  # one micro short of another hour
    api_key.save(update_fields=["monthly_spend_cap"])

    refused = create(secret, spec, "second", HTTP_IDEMPOTENCY_KEY="retry-1")

    assert refused.status_code == 402
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "key_spend_cap_reached"
    assert Deployment.objects.count() == 1
    entry = ActivityEntry.objects.get(verb=ActivityVerb.API_KEY_CAP_REFUSED)
    assert entry.object_id == api_key.public_id
    assert entry.data == {"spent": 3_000_000, "hourly": hour, "cap": api_key.monthly_spend_cap}
    # The same customer's session is not limited by a key's cap.
    assert client.post("/api/v1/deployments", {**spec, "name": "by-hand"}).status_code == 201
    api_key.monthly_spend_cap += 1
    api_key.save(update_fields=["monthly_spend_cap"])
    assert create(secret, spec, "second", HTTP_IDEMPOTENCY_KEY="retry-1").status_code == 201
    ledger_assert_verified()


def test_only_this_months_charges_of_the_keys_own_deployments_count(
    customer, spec, catalog, client
):
    api_key, secret = api_key_for(customer)
    mine = Deployment.objects.get(public_id=create(secret, spec, "mine").json()["id"])
    by_hand = Deployment.objects.get(
        public_id=client.post("/api/v1/deployments", {**spec, "name": "by-hand"}).json()["id"]
    )
    hour = micros_from_decimal(mine.hourly_price)
    charge(mine, 1_000_000)
    charge(mine, 50_000_000, at=datetime(2026, 11, 30, 23, 59, tzinfo=UTC))  # last month
    charge(by_hand, 50_000_000)
    api_key.monthly_spend_cap = 1_000_000 + hour
    api_key.save(update_fields=["monthly_spend_cap"])

    assert create(secret, spec, "another", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    listed = client.get(f"/api/v1/api-keys/{api_key.public_id}").json()
    assert listed["month_spend"] == "1.000000"
    ledger_assert_verified()


def test_month_to_date_spend_starts_again_each_utc_month(customer, spec, catalog):
    api_key, secret = api_key_for(customer)
    deployment = Deployment.objects.get(public_id=create(secret, spec, "first").json()["id"])
    charge(deployment, 2_000_000)
    api_key.monthly_spend_cap = 2_000_000 + micros_from_decimal(deployment.hourly_price) - 1
    api_key.save(update_fields=["monthly_spend_cap"])
    assert create(secret, spec, "second").status_code == 402

    with time_machine.travel(datetime(2027, 1, 1, 0, 5, tzinfo=UTC), tick=False):
        assert timezone.now().month == 1
        assert create(secret, spec, "second").status_code == 201
    ledger_assert_verified()
