"""Topping up $50 in a real browser: the portal's page, devstripe's hosted checkout with
Stripe's 4242 test card, back to the portal, the header's balance showing the money."""

import threading

import pytest
from django.test import Client

from billing.devstripe.api import checkout_session_pay
from billing.devstripe.server import DevstripeServer
from billing.devstripe.store import Store
from cloudportal.celery import app as celery_app
from tests.accounts.factories import VerifiedUserFactory
from tests.billing.stripe_sim import SECRET

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def devstripe_live(live_server, settings):
    """devstripe posting its signed webhooks to the live server; tasks run in the web
    process (eager), as the worker would run them."""
    store = Store(webhook_url=f"{live_server.url}/webhooks/stripe/", webhook_secret=SECRET)
    server = DevstripeServer(("127.0.0.1", 0), store)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{server.server_address[1]}"
    settings.STRIPE_SECRET_KEY = "sk_test_browser"
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    celery_app.conf.task_always_eager = True
    yield store
    celery_app.conf.task_always_eager = False
    server.shutdown()
    server.server_close()


@pytest.fixture
def session_cookies(live_server, devstripe_live) -> list[dict]:
    client = Client()
    client.force_login(VerifiedUserFactory().customer.user)
    return [
        {"name": name, "value": morsel.value, "url": live_server.url}
        for name, morsel in client.cookies.items()
    ]


def test_a_50_dollar_topup_with_4242_shows_in_the_header(
    live_server, session_cookies, devstripe_live, browser_page
):
    page = browser_page
    page.context.add_cookies(session_cookies)
    page.goto(f"{live_server.url}/billing/top-up/")
    assert page.locator("[data-balance]").inner_text() == "$0.00"
    page.get_by_role("radio", name="$50", exact=True).check()
    page.get_by_role("button", name="Continue to payment").click()

    page.get_by_role("heading", name="Pay 50.00 USD").wait_for()
    page.fill("input[name=card]", "4242 4242 4242 4242")
    page.fill("input[name=expiry]", "12 / 34")
    page.fill("input[name=cvc]", "123")
    page.get_by_role("button", name="Pay").click()

    page.wait_for_url(f"{live_server.url}/billing/top-up/top_*/return*")
    page.locator('#topup [data-field="status"][data-status="succeeded"]').wait_for()
    page.get_by_text("$50.00").first.wait_for()
    assert page.locator("[data-balance]").inner_text() == "$50.00"


def test_the_return_page_follows_a_payment_that_completes_while_it_is_open(
    live_server, session_cookies, devstripe_live, browser_page
):
    """The page polls the API: the status and the header's balance change without a reload."""
    page = browser_page
    page.context.add_cookies(session_cookies)
    page.goto(f"{live_server.url}/billing/top-up/")
    page.get_by_role("radio", name="$50", exact=True).check()
    page.get_by_role("button", name="Continue to payment").click()
    page.get_by_role("heading", name="Pay 50.00 USD").wait_for()
    session_id = page.url.rstrip("/").split("/")[-1].split("?")[0]
    session = devstripe_live.objects[session_id]

    # The customer is back on the portal before the payment has gone through.
    page.goto(f"{live_server.url}/billing/top-up/{session['client_reference_id']}/return")
    page.locator('#topup [data-field="status"][data-status="pending"]').wait_for()
    assert page.locator("[data-balance]").inner_text() == "$0.00"
    page.evaluate("window.stillTheSamePage = true")

    with devstripe_live.lock:  # the payment completes at Stripe; its webhooks follow
        checkout_session_pay(devstripe_live, session, card="4242 4242 4242 4242")

    page.locator('#topup [data-field="status"][data-status="succeeded"]').wait_for()
    page.get_by_text("$50.00").first.wait_for()
    assert page.locator("[data-balance]").inner_text() == "$50.00"
    assert page.evaluate("window.stillTheSamePage") is True
