"""Runway: available balance ÷ what running and kept machines cost per hour (deployments
tells billing through the registered hourly-cost provider)."""

from decimal import Decimal

from billing import services as billing_services
from billing.models import SystemAccount, TransactionKind
from billing.runway import wallet_runway
from billing.services import Line
from deployments.models import Deployment, Status
from tests.billing.conftest import FUNDS


def test_running_costs_everything_stopped_costs_storage_deleted_costs_nothing(launch, customer):
    billing_services.ledger_post(
        key="test:runway",
        kind=TransactionKind.TOPUP,
        memo="top-up",
        lines=[
            Line.wallet(customer, 10_000_000),
            Line.system(SystemAccount.CLEARING_STRIPE_CARD, -10_000_000),
        ],
    )
    running, stopped, deleted = launch(), launch(name="b"), launch(name="c")
    for deployment, status in ((running, Status.ACTIVE), (stopped, Status.STOPPED)):
        Deployment.objects.filter(pk=deployment.pk).update(status=status)
    Deployment.objects.filter(pk=deleted.pk).update(status=Status.DELETED)
    runway = wallet_runway(customer=customer)
    expected = running.hourly_price + stopped.storage_hourly_price
    assert runway.hourly_cost == int(expected * 1_000_000)
    # Each launch holds an hour of its price: what is left is what lasts.
    available = FUNDS + 10_000_000 - 3 * int(running.hourly_price * 1_000_000)
    assert runway.available == available
    assert runway.hours == (Decimal(available) / 1_000_000 / expected).quantize(
        Decimal("0.01"), rounding="ROUND_DOWN"
    )


def test_nothing_running_is_an_endless_runway(customer, db):
    assert wallet_runway(customer=customer).hours is None


def test_the_balance_api_and_the_page_header_show_the_runway(launch, customer, client):
    deployment = launch()
    available = FUNDS - int(deployment.hourly_price * 1_000_000)
    hours = (Decimal(available) / 1_000_000 / deployment.hourly_price).quantize(
        Decimal("0.01"), rounding="ROUND_DOWN"
    )

    body = client.get("/api/v1/billing/balance").json()
    assert body["hourly_cost"] == f"{deployment.hourly_price:.6f}"
    assert body["runway_hours"] == str(hours)
    assert body["available"] == f"{Decimal(available) / 1_000_000:.6f}"
    page = client.get("/deployments/").content.decode()
    assert f"lasts <span data-runway-hours>{hours}</span> h" in page
