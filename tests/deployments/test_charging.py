"""Holds and gating: a running deployment reserves its next hour; a create needs it."""

from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ActivityEntry, ActivityVerb
from billing import selectors as billing_selectors
from billing.models import Hold
from billing.money import micros_from_decimal
from catalog import selectors as catalog_selectors
from deployments import charging, services
from deployments.models import Deployment, Status
from tests.accounts.factories import PASSWORD, SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import ledger_assert_verified, top_up


@pytest.fixture
def poor(db):
    """A customer with $1.00 and a key: not enough for an hour of an H100."""
    customer = VerifiedUserFactory().customer
    top_up(customer, 1_000_000)
    SshKeyFactory(customer=customer)
    return customer


@pytest.fixture
def poor_api(poor) -> APIClient:
    client = APIClient()
    client.force_login(poor.user)
    return client


def spec_for(customer, spec):
    return {**spec, "ssh_keys": [customer.ssh_keys.get().public_id]}


def test_a_create_without_an_hour_of_money_is_refused_with_the_shortfall(
    poor, poor_api, spec, catalog
):
    response = poor_api.post("/api/v1/deployments", spec_for(poor, spec))

    assert response.status_code == 402
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    price = Decimal(problem["required"])
    assert price > 1
    assert problem["code"] == "insufficient_balance"
    assert problem["available"] == "1.000000"
    assert Decimal(problem["shortfall"]) == price - 1
    assert problem["top_up_url"] == "/billing/top-up/"
    assert "add at least $" in problem["detail"]
    # Nothing was created or reserved; the refusal is in the activity log.
    assert not Deployment.objects.exists()
    assert not Hold.objects.exists()
    entry = ActivityEntry.objects.get(verb=ActivityVerb.DEPLOYMENT_CREATE_DENIED)
    assert entry.data["shortfall"] == problem["shortfall"]
    assert entry.data["instance_type"] == "h100-1x"
    ledger_assert_verified()


def test_the_launch_page_shows_the_same_message_and_a_top_up_link(poor, spec, catalog):
    browser = Client()
    browser.post("/accounts/login/", {"login": poor.user.email, "password": PASSWORD})
    response = browser.post("/deployments/new/", spec_for(poor, spec))

    assert response.status_code == 200
    page = response.content.decode()
    assert "needs $" in page
    assert "add at least $" in page
    assert 'href="/billing/top-up/" id="top-up-link"' in page
    assert not Deployment.objects.exists()


def test_a_launch_holds_an_hour_and_a_delete_releases_it(launch, customer):
    deployment = launch()
    hold = Hold.objects.get(idempotency_key=charging.hold_key(deployment.public_id))
    assert hold.amount == int(deployment.hourly_price * 1_000_000)
    assert hold.subject == deployment.public_id
    balance = billing_selectors.wallet_balance(customer=customer)
    assert balance.held == hold.amount

    services.deployment_request_delete(deployment=deployment)
    hold.refresh_from_db()
    assert hold.status == Hold.Status.RELEASED
    assert billing_selectors.wallet_balance(customer=customer).held == 0
    ledger_assert_verified()


def test_a_failed_launch_releases_its_hold(launch, customer):
    deployment = launch()
    services.deployment_transition(deployment_id=deployment.pk, to_status=Status.PROVISIONING)
    services.deployment_transition(deployment_id=deployment.pk, to_status=Status.FAILED)
    assert billing_selectors.wallet_balance(customer=customer).held == 0
    ledger_assert_verified()


def test_the_second_launch_needs_its_own_hour(poor, poor_api, spec, catalog):
    hour = micros_from_decimal(
        catalog_selectors.deployment_spec_resolve(
            region=spec["region"],
            instance_type=spec["instance_type"],
            image=spec["image"],
            storage_profile=spec["storage_profile"],
            size_gb=spec["volume_size_gb"],
        ).price.total.hourly
    )
    top_up(poor, 2 * hour - 1 - 1_000_000, key="test:two-hours-less-a-micro")
    first = poor_api.post("/api/v1/deployments", spec_for(poor, spec))
    assert first.status_code == 201
    second = poor_api.post("/api/v1/deployments", {**spec_for(poor, spec), "name": "second"})
    assert second.status_code == 402
    assert second.json()["shortfall"] == "0.000001"
    assert Deployment.objects.count() == 1
    ledger_assert_verified()


def test_a_stopped_machine_holds_an_hour_of_storage_and_running_again_the_whole_hour(
    launch, customer
):
    deployment = launch()
    hold = charging.deployment_hold_stopped(deployment=deployment)
    assert hold.amount == int(deployment.storage_hourly_price * 1_000_000)
    hold = charging.deployment_hold_running(deployment=deployment, allow_short=False)
    assert hold.amount == int(deployment.hourly_price * 1_000_000)
    assert Hold.objects.count() == 1
    assert billing_selectors.wallet_balance(customer=customer).held == hold.amount
    ledger_assert_verified()
