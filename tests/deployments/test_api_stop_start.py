"""POST /api/v1/deployments/{id}/stop and /start, and the detail page's buttons."""

import pytest
from rest_framework.test import APIClient

from accounts.models import ActivityEntry
from billing import services as billing_services
from billing.exceptions import InsufficientFunds
from billing.models import Hold
from billing.money import micros_from_decimal
from deployments import charging, services
from deployments.models import Deployment, Status
from tests.accounts.factories import VerifiedUserFactory
from tests.billing.conftest import drain, ledger_assert_verified, top_up
from tests.deployments.conftest import refreshed

pytestmark = pytest.mark.django_db


def moved(deployment: Deployment, *statuses: str) -> Deployment:
    """Walk the state machine without a cloud (the worker's moves, recorded as usual)."""
    for status in statuses:
        services.deployment_transition(deployment_id=deployment.pk, to_status=status)
    return refreshed(deployment)


def stopped(launch) -> Deployment:
    return moved(launch(), Status.PROVISIONING, Status.ACTIVE, Status.STOPPING, Status.STOPPED)


def stopped_with_its_disks_held(launch) -> Deployment:
    """Stopped by the service, so its hold is an hour of its disks (a start must grow it)."""
    running = moved(launch(), Status.PROVISIONING, Status.ACTIVE)
    services.deployment_request_stop(deployment=running)
    return moved(running, Status.STOPPED)


def test_stop_answers_202_with_the_deployment_stopping(launch, client):
    deployment = moved(launch(), Status.PROVISIONING, Status.ACTIVE)

    response = client.post(f"/api/v1/deployments/{deployment.public_id}/stop")

    assert response.status_code == 202
    assert (response.json()["status"], response.json()["desired_state"]) == ("STOPPING", "stopped")
    assert refreshed(deployment).status == "STOPPING"


def test_stop_when_not_running_is_a_409_naming_the_status(launch, client):
    deployment = launch()

    response = client.post(f"/api/v1/deployments/{deployment.public_id}/stop")

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "deployment_state_conflict"
    assert body["detail"] == "It is Pending; only a running deployment can be stopped."
    assert refreshed(deployment).status == "PENDING"


def test_start_without_an_hour_of_balance_is_a_402_with_the_shortfall(launch, client):
    deployment = stopped(launch)
    required = micros_from_decimal(deployment.hourly_price)
    drain(deployment.customer)
    top_up(deployment.customer, 1_000_000)

    response = client.post(f"/api/v1/deployments/{deployment.public_id}/start")

    assert response.status_code == 402
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "insufficient_balance"
    assert body["required"] == f"{required / 1_000_000:.6f}"
    assert body["available"] == "1.000000"
    assert body["shortfall"] == f"{(required - 1_000_000) / 1_000_000:.6f}"
    assert body["top_up_url"] == "/billing/top-up/"
    assert refreshed(deployment).status == "STOPPED"
    ledger_assert_verified()


def test_start_with_the_balance_answers_202_starting(launch, client):
    deployment = stopped(launch)
    drain(deployment.customer)
    top_up(deployment.customer, micros_from_decimal(deployment.hourly_price))

    response = client.post(f"/api/v1/deployments/{deployment.public_id}/start")

    assert response.status_code == 202
    assert response.json()["status"] == "STARTING"
    ledger_assert_verified()


def test_start_when_not_stopped_is_a_409(launch, client):
    deployment = moved(launch(), Status.PROVISIONING)

    response = client.post(f"/api/v1/deployments/{deployment.public_id}/start")

    assert response.status_code == 409
    assert response.json()["code"] == "deployment_state_conflict"
    assert response.json()["detail"] == (
        "It is Provisioning; only a stopped deployment can be started."
    )
    assert refreshed(deployment).status == "PROVISIONING"


def what_happened(deployment: Deployment) -> tuple:
    """Its status history, activity entries and hold: what a request could have changed."""
    hold = Hold.objects.get(idempotency_key=f"deployment:{deployment.public_id}:hour")
    return (
        list(deployment.status_changes.order_by("id").values_list("to_status", flat=True)),
        ActivityEntry.objects.filter(object_id=deployment.public_id).count(),
        (hold.status, hold.amount),
    )


def test_stop_on_a_stopped_machine_answers_202_and_changes_nothing(launch, client):
    deployment = stopped_with_its_disks_held(launch)
    before = what_happened(deployment)

    response = client.post(f"/api/v1/deployments/{deployment.public_id}/stop")

    assert response.status_code == 202
    assert (response.json()["status"], response.json()["desired_state"]) == ("STOPPED", "stopped")
    assert refreshed(deployment).status == "STOPPED"
    assert what_happened(deployment) == before
    ledger_assert_verified()


def test_start_on_a_running_machine_answers_202_and_changes_nothing(launch, client):
    deployment = moved(launch(), Status.PROVISIONING, Status.ACTIVE)
    before = what_happened(deployment)

    response = client.post(f"/api/v1/deployments/{deployment.public_id}/start")

    assert response.status_code == 202
    assert (response.json()["status"], response.json()["desired_state"]) == ("ACTIVE", "active")
    assert refreshed(deployment).status == "ACTIVE"
    assert what_happened(deployment) == before
    ledger_assert_verified()


def test_another_customers_deployment_answers_404(launch):
    deployment = moved(launch(), Status.PROVISIONING, Status.ACTIVE)
    other = APIClient()
    other.force_login(VerifiedUserFactory())

    assert other.post(f"/api/v1/deployments/{deployment.public_id}/stop").status_code == 404
    assert other.post(f"/api/v1/deployments/{deployment.public_id}/start").status_code == 404
    assert refreshed(deployment).status == "ACTIVE"


def test_the_detail_page_offers_start_for_a_stopped_machine_and_states_the_grace(launch, client):
    deployment = stopped(launch)

    page = client.get(f"/deployments/{deployment.public_id}/").content.decode()

    assert f'action="/deployments/{deployment.public_id}/start/"' in page
    assert "deleted after 72 hours with the balance still at or below zero" in page


def test_the_stop_button_stops_the_machine(launch, client):
    deployment = moved(launch(), Status.PROVISIONING, Status.ACTIVE)

    response = client.post(f"/deployments/{deployment.public_id}/stop/")

    assert response.status_code == 302
    assert refreshed(deployment).status == "STOPPING"


def test_a_machine_launched_before_boot_from_volume_is_not_stopped(launch, client):
    deployment = moved(launch(), Status.PROVISIONING, Status.ACTIVE)
    # Its stack was rendered by the earlier template: no system volume to keep.
    parameters = {k: v for k, v in deployment.stack_parameters.items() if k != "system_volume_size"}
    Deployment.objects.filter(pk=deployment.pk).update(stack_parameters=parameters)

    response = client.post(f"/api/v1/deployments/{deployment.public_id}/stop")

    assert response.status_code == 409
    assert response.json()["detail"].startswith("This machine was launched before machines")
    assert refreshed(deployment).status == "ACTIVE"


def test_a_start_past_the_running_limit_is_refused(launch, client, settings):
    settings.DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER = 1
    deployment = stopped(launch)
    launch(name="second")  # the stopped machine gave its GPU back: this one may run

    response = client.post(f"/api/v1/deployments/{deployment.public_id}/start")

    assert response.status_code == 409
    assert response.json()["code"] == "deployment_limit_reached"
    assert refreshed(deployment).status == "STOPPED"
    ledger_assert_verified()


def test_a_starting_machine_counts_against_the_limit(launch, client, spec, settings):
    settings.DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER = 1
    deployment = stopped(launch)
    assert client.post(f"/api/v1/deployments/{deployment.public_id}/start").status_code == 202

    response = client.post("/api/v1/deployments", {**spec, "name": "second"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "deployment_limit_reached"


def start_raced(deployment, monkeypatch, *, money_comes_back: bool) -> None:
    """Another start takes the whole hour between this start's balance check and its hold
    (and, with `money_comes_back`, releases it the moment this start's hold is refused)."""
    customer = deployment.customer
    required = micros_from_decimal(deployment.hourly_price)
    drain(customer)
    top_up(customer, required)
    afford_check, hold_running = services._start_afford_check, charging.deployment_hold_running
    taken = []

    def check_then_the_money_goes(*, deployment):
        afford_check(deployment=deployment)
        if not taken:
            taken.append(
                billing_services.hold_place(customer=customer, key="test:race", amount=required)
            )

    def hold_refused_then_the_money_is_back(**kwargs):
        try:
            return hold_running(**kwargs)
        except InsufficientFunds:
            if money_comes_back:
                billing_services.hold_release(hold=taken[0])
            raise

    monkeypatch.setattr(services, "_start_afford_check", check_then_the_money_goes)
    monkeypatch.setattr(charging, "deployment_hold_running", hold_refused_then_the_money_is_back)


@pytest.mark.parametrize("money_comes_back", [False, True])
def test_start_whose_money_goes_between_the_check_and_the_hold_is_the_same_402(
    launch, client, monkeypatch, money_comes_back
):
    deployment = stopped_with_its_disks_held(launch)
    required = micros_from_decimal(deployment.hourly_price)
    start_raced(deployment, monkeypatch, money_comes_back=money_comes_back)

    response = client.post(f"/api/v1/deployments/{deployment.public_id}/start")

    assert response.status_code == 402
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "insufficient_balance"
    assert (body["required"], body["available"], body["shortfall"]) == (
        f"{required / 1_000_000:.6f}",
        "0.000000",
        f"{required / 1_000_000:.6f}",
    )
    assert body["top_up_url"] == "/billing/top-up/"
    assert refreshed(deployment).status == "STOPPED"
    ledger_assert_verified()
