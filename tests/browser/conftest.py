import pytest
from django.test import Client
from playwright.sync_api import sync_playwright

from catalog.services import catalog_seed_file_load
from tests.accounts.factories import SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import top_up

# What this machine's closed network and a root user need (see DEVELOPERS.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _fast_password_hashing():
    """The web process hashes with the real hashers; nothing here may swap them."""


@pytest.fixture
def browser_page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(20_000)
        yield page
        browser.close()


@pytest.fixture
def session_cookies(live_server) -> list[dict]:
    """A verified customer with two SSH keys, logged in; set up before the browser starts
    (Playwright's sync API runs an event loop, inside which Django refuses database calls)."""
    catalog_seed_file_load()
    customer = VerifiedUserFactory().customer
    for name in ("laptop", "a-much-longer-workstation-key-name"):
        SshKeyFactory(customer=customer, name=name)
    top_up(customer, 25_000_000, key="test:browser:topup")  # a balance line on the chart
    client = Client()
    client.force_login(customer.user)
    return [
        {"name": name, "value": morsel.value, "url": live_server.url}
        for name, morsel in client.cookies.items()
    ]
