"""The pages a new user walks through fit a 390 px phone: nothing scrolls sideways."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone_page(session_cookies, browser_page):
    """The browser at a phone's width, logged in."""
    browser_page.set_viewport_size(PHONE)
    browser_page.context.add_cookies(session_cookies)
    return browser_page


def overflow_of(page) -> dict:
    """How far the document is wider than the screen, and the widest elements that stick out."""
    return page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const out = [...document.querySelectorAll("body *")]
                .filter((e) => e.getBoundingClientRect().right > width + 0.5)
                .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`)
                .slice(0, 8);
            return {scroll: document.documentElement.scrollWidth - width, out};
        }"""
    )


PATHS = [
    "/deployments/new/",
    "/deployments/",
    "/accounts/ssh-keys/",
    "/",
    "/billing/",  # the spend and balance charts
    "/billing/top-up/",
    "/billing/invoices/",
    "/accounts/api-keys/",
    "/accounts/activity/",
    "/accounts/sessions/",
    "/support/new/",
]


def test_pages_do_not_scroll_sideways_on_a_390px_phone(phone_page, live_server):
    page = phone_page
    overflows = {}
    for path in PATHS:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        if path == "/deployments/new/":
            page.locator('#price-box[data-state="ready"]').wait_for()
            assert page.get_by_label("a-much-longer-workstation-key-name").is_checked()
        assert page.evaluate("document.documentElement.clientWidth") == PHONE["width"]
        page.mouse.wheel(300, 0)
        overflows[path] = {**overflow_of(page), "scrolled": page.evaluate("window.scrollX")}

    assert overflows == {path: {"scroll": 0, "out": [], "scrolled": 0} for path in PATHS}
