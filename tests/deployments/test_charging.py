"""Holds and gating: a running deployment reserves its next hour; a create needs it."""

from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ActivityEntry, ActivityVerb
from billing import selectors as billing_selectors
from billing import services as billing_services
from billing.exceptions import InsufficientFunds
from billing.models import Hold
from billing.money import micros_from_decimal
from catalog import selectors as catalog_selectors
from deployments import charging, services
from deployments.models import Deployment, Status
from tests.accounts.factories import PASSWORD, SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import drain, ledger_assert_verified, top_up


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


def hour_of(spec) -> int:
    """The spec's price for an hour, in micro-units."""
    return micros_from_decimal(
        catalog_selectors.deployment_spec_resolve(
            region=spec["region"],
            instance_type=spec["instance_type"],
            image=spec["image"],
            storage_profile=spec["storage_profile"],
            size_gb=spec["volume_size_gb"],
        ).price.total.hourly
    )


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
    hour = hour_of(spec)
    top_up(poor, 2 * hour - 1 - 1_000_000, key="test:two-hours-less-a-micro")
    first = poor_api.post("/api/v1/deployments", spec_for(poor, spec))
    assert first.status_code == 201
    second = poor_api.post("/api/v1/deployments", {**spec_for(poor, spec), "name": "second"})
    assert second.status_code == 402
    assert second.json()["shortfall"] == "0.000001"
    assert Deployment.objects.count() == 1
    ledger_assert_verified()


def create_raced(customer, hour: int, monkeypatch, *, money_comes_back: bool) -> None:
    """Another create takes the whole hour between this create's balance check and its hold
    (and, with `money_comes_back`, releases it the moment this create's hold is refused and
    its transaction rolled back: a release inside it would be rolled back too)."""
    drain(customer)
    top_up(customer, hour, key="test:exactly-an-hour")
    afford_check, insert = charging.deployment_afford_check, services._deployment_insert
    taken = []

    def check_then_the_money_goes(**kwargs):
        afford_check(**kwargs)
        if not taken:
            taken.append(
                billing_services.hold_place(customer=customer, key="test:race", amount=hour)
            )

    def refused_then_the_money_is_back(**kwargs):
        try:
            return insert(**kwargs)
        except InsufficientFunds:
            if money_comes_back:
                billing_services.hold_release(hold=taken[0])
            raise

    monkeypatch.setattr(charging, "deployment_afford_check", check_then_the_money_goes)
    monkeypatch.setattr(services, "_deployment_insert", refused_then_the_money_is_back)


@pytest.mark.parametrize("money_comes_back", [False, True])
def test_a_create_whose_money_goes_between_the_check_and_the_hold_is_the_same_402(
    customer, client, spec, catalog, monkeypatch, money_comes_back
):
    hour = hour_of(spec)
    create_raced(customer, hour, monkeypatch, money_comes_back=money_comes_back)

    response = client.post("/api/v1/deployments", spec)

    assert response.status_code == 402
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "insufficient_balance"
    assert (problem["required"], problem["available"], problem["shortfall"]) == (
        f"{hour / 1_000_000:.6f}",
        "0.000000",
        f"{hour / 1_000_000:.6f}",
    )
    assert problem["top_up_url"] == "/billing/top-up/"
    assert "add at least $" in problem["detail"]
    # Nothing was created or reserved for it; the refusal is in the activity log.
    assert not Deployment.objects.exists()
    assert list(Hold.objects.values_list("idempotency_key", flat=True)) == ["test:race"]
    entry = ActivityEntry.objects.get(verb=ActivityVerb.DEPLOYMENT_CREATE_DENIED)
    assert entry.data["shortfall"] == problem["shortfall"]
    assert entry.data["instance_type"] == "h100-1x"
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
