import pytest
from django.test import Client

from billing import services
from tests.billing.conftest import top_up, use

pytestmark = pytest.mark.usefixtures("ledger_verified")


@pytest.fixture
def page_client(customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


def test_the_overview_shows_balance_held_available_and_the_ledger_in_cents(page_client, customer):
    topup = top_up(customer, 25_000_000)
    usage = use(customer, 2_314_999, key="usage:1")
    services.hold_place(
        customer=customer, key="hold:1", amount=2_315_000, subject="dep_1", memo="Next hour"
    )

    response = page_client.get("/billing/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<p class="card-figure" data-figure="posted">$22.69</p>' in html
    assert '<p class="card-figure" data-figure="held">$2.32</p>' in html
    assert '<p class="card-figure" data-figure="available">$20.37</p>' in html
    assert topup.public_id in html
    assert usage.public_id in html
    assert "+$25.00" in html
    assert "\N{MINUS SIGN}$2.31" in html
    assert "Next hour" in html


def test_the_overview_filters_by_kind(page_client, customer):
    top_up(customer, 5_000_000)
    usage = use(customer, 1_000_000, key="usage:1")

    html = page_client.get("/billing/", {"kind": "usage"}).content.decode()

    assert usage.public_id in html
    assert "+$5.00" not in html


def test_a_negative_balance_is_called_out(page_client, customer):
    use(customer, 1_000_000, key="usage:1")

    html = page_client.get("/billing/").content.decode()

    assert "Your balance is below zero" in html
    assert '<p class="card-figure negative" data-figure="available">\N{MINUS SIGN}$1.00</p>' in html


def test_a_new_customer_sees_zero_and_no_transactions(page_client):
    html = page_client.get("/billing/").content.decode()

    assert '<p class="card-figure" data-figure="posted">$0.00</p>' in html
    assert "No transactions yet." in html


def test_every_page_header_shows_the_balance(page_client, customer):
    top_up(customer, 12_345_678)

    html = page_client.get("/accounts/settings/").content.decode()

    assert "Balance <strong data-balance>$12.35</strong>" in html


def test_the_overview_needs_a_login(client):
    response = client.get("/billing/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
