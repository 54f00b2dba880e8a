"""Top-ups through the API, the pages and the staff console, against devstripe."""

import pytest
from django.test import Client

from accounts.activity import Actor
from accounts.models import User
from billing import payments, runway, selectors
from billing.models import TopUp, TopUpRefund
from tests.accounts.factories import PASSWORD
from tests.billing.conftest import form_submission

pytestmark = pytest.mark.usefixtures("ledger_verified")

URL = "/api/v1/billing/top-ups"


@pytest.fixture
def api(api_client, customer):
    api_client.force_authenticate(customer.user)
    return api_client


@pytest.fixture
def page_client(customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


def test_the_api_creates_a_topup_and_answers_the_checkout_url(api, stripe_sim):
    response = api.post(URL, {"amount": "50.00"}, format="json", headers={"Idempotency-Key": "a1"})
    again = api.post(URL, {"amount": "50.00"}, format="json", headers={"Idempotency-Key": "a1"})

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("top_")
    assert (body["status"], body["amount"], body["currency"]) == ("pending", "50.00", "USD")
    assert body["checkout_url"].startswith(f"{stripe_sim.url}/checkout/cs_test_")
    assert again.json()["id"] == body["id"]
    assert TopUp.objects.count() == 1


def test_the_api_refuses_an_amount_over_the_limit(api, stripe_sim):
    response = api.post(URL, {"amount": "5000.01"}, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "topup_invalid"
    assert not TopUp.objects.exists()


def test_a_retry_after_checkout_could_not_be_made_makes_it_and_answers_a_pending_topup(
    api, stripe_sim, settings
):
    settings.STRIPE_SECRET_KEY = "sk_live_refused"  # devstripe refuses it before any work
    headers = {"Idempotency-Key": "retry-1"}

    first = api.post(URL, {"amount": "50.00"}, format="json", headers=headers)

    assert first.status_code == 502
    assert first["Content-Type"] == "application/problem+json"
    assert first.json()["code"] == "payment_provider_error"
    failed = TopUp.objects.get()
    assert (failed.status, failed.checkout_url) == (TopUp.Status.FAILED, "")

    settings.STRIPE_SECRET_KEY = "sk_test_portal"
    again = api.post(URL, {"amount": "50.00"}, format="json", headers=headers)

    assert again.status_code == 201
    body = again.json()
    assert (body["id"], body["status"], body["failure_message"]) == (
        failed.public_id,
        "pending",
        "",
    )
    assert body["checkout_url"].startswith(f"{stripe_sim.url}/checkout/cs_test_")
    assert TopUp.objects.count() == 1


def test_a_retry_that_still_cannot_make_the_checkout_answers_the_same_problem(
    api, stripe_sim, settings
):
    settings.STRIPE_SECRET_KEY = "sk_live_refused"
    headers = {"Idempotency-Key": "retry-2"}

    first = api.post(URL, {"amount": "50.00"}, format="json", headers=headers)
    again = api.post(URL, {"amount": "50.00"}, format="json", headers=headers)

    assert (first.status_code, again.status_code) == (502, 502)
    assert again["Content-Type"] == "application/problem+json"
    assert again.json()["code"] == first.json()["code"] == "payment_provider_error"
    topup = TopUp.objects.get()
    assert (topup.status, topup.checkout_url) == (TopUp.Status.FAILED, "")
    assert stripe_sim.store.objects == {}


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_the_api_refuses_an_invalid_idempotency_key(api, stripe_sim, key):
    response = api.post(URL, {"amount": "50.00"}, format="json", headers={"Idempotency-Key": key})

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert not TopUp.objects.exists()


def test_the_api_lists_and_gets_only_your_topups(api, customer, other_customer, stripe_sim):
    mine = payments.topup_create(
        customer=customer, amount=1000, actor=Actor.system(), return_url_base="http://t"
    )
    theirs = payments.topup_create(
        customer=other_customer, amount=1000, actor=Actor.system(), return_url_base="http://t"
    )

    listed = api.get(URL).json()["results"]
    assert [topup["id"] for topup in listed] == [mine.public_id]
    assert api.get(f"{URL}/{mine.public_id}").json()["status"] == "pending"
    assert api.get(f"{URL}/{theirs.public_id}").status_code == 404


def test_the_topup_page_shows_what_each_amount_buys_in_hours(page_client, customer, monkeypatch):
    # The hourly cost comes from the app that owns machines (registered at start);
    # here one more provider adds $2.50 an hour for this customer.
    monkeypatch.setattr(runway, "_providers", list(runway._providers))
    runway.hourly_cost_provider_register(lambda c: 2_500_000 if c == customer else 0)

    html = page_client.get("/billing/top-up/").content.decode()

    assert "What you run now costs $2.50 an hour" in html
    assert '$50 <span class="muted">≈ 20.0 hours of your running machines</span>' in html


def test_the_topup_page_sends_the_customer_to_checkout(page_client, stripe_sim):
    response = page_client.post("/billing/top-up/", {"amount": "25"})

    topup = TopUp.objects.get()
    assert topup.amount == 2500
    assert response.status_code == 302
    assert response["Location"] == topup.checkout_url


def test_the_topup_page_refuses_a_custom_amount_below_the_minimum(page_client, stripe_sim):
    response = page_client.post("/billing/top-up/", {"amount": "25", "custom": "4.99"})

    assert response.status_code == 400
    assert "Top up between $5 and $5,000." in response.content.decode()
    assert not TopUp.objects.exists()


def test_the_return_page_credits_a_paid_topup_even_before_its_webhook(
    page_client, customer, stripe_sim
):
    page_client.post("/billing/top-up/", {"amount": "50"})
    topup = TopUp.objects.get()
    stripe_sim.pay(topup)  # its webhooks are still queued at devstripe

    response = page_client.get(
        f"/billing/top-up/{topup.public_id}/return?session_id={topup.checkout_session_id}"
    )

    html = response.content.decode()
    assert 'data-status="succeeded"' in html
    assert "<strong data-balance>$50.00</strong>" in html
    assert selectors.wallet_balance(customer=customer).posted == 50_000_000
    overview = page_client.get("/billing/").content.decode()
    assert topup.public_id in overview
    assert "visa ••4242" in overview


def test_staff_refund_part_of_a_topup_in_the_console(customer, stripe_sim):
    topup = payments.topup_create(
        customer=customer, amount=5000, actor=Actor.system(), return_url_base="http://t"
    )
    stripe_sim.pay(topup)
    payments.topup_refresh(topup=topup)
    staff = Client()
    staff.force_login(User.objects.create_superuser("staff@example.com", PASSWORD))
    url = f"/admin/billing/topup/{topup.pk}/refund/"

    submission = form_submission(staff, url)
    too_much = staff.post(url, {"amount": "50.01", "reason": "Asked", "submission": submission})
    response = staff.post(url, {"amount": "12.50", "reason": "Asked", "submission": submission})
    again = staff.post(url, {"amount": "12.50", "reason": "Asked", "submission": submission})

    assert "what is left of it" in too_much.content.decode()
    assert (response.status_code, again.status_code) == (302, 302)  # sent twice, one refund
    refund = TopUpRefund.objects.get()
    assert (refund.amount, refund.requested_by) == (1250, "staff@example.com")
    assert selectors.wallet_balance(customer=customer).posted == 37_500_000
    assert staff.get("/admin/billing/topup/?needs_review__exact=0").status_code == 200
    assert staff.get(f"/admin/billing/topup/{topup.pk}/change/").status_code == 200
