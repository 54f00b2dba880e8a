"""A new user, in a real browser: sign up, verify, add a key, launch, watch it go ACTIVE, delete."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from accounts.models import Customer
from catalog.services import catalog_seed_file_load
from tests.accounts.factories import openssh_public_key
from tests.billing.conftest import fund
from tests.integration.processes import running_portal

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long passphrase for ada 42"


@pytest.fixture
def portal(tmp_path):
    catalog_seed_file_load()
    mail = tmp_path / "mail"
    mail.mkdir()
    # django-environ drops one slash: four make the path absolute.
    with running_portal(tmp_path, extra_env={"EMAIL_URL": f"filemail:///{mail}"}) as portal:
        portal.mail = mail
        yield portal
        print(portal.all_logs())  # shown by pytest when the test failed


def verification_link(portal) -> str:
    [message] = [path.read_text() for path in portal.mail.iterdir()]
    return re.search(r"http://\S+/accounts/confirm-email/\S+/", message).group(0)


def test_new_user_launches_and_deletes_a_machine(portal, browser_page):
    page = browser_page
    page.goto(portal.url)
    page.get_by_role("link", name="Create an account").click()
    page.fill("input[name=email]", "ada@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.get_by_text("Verify Your Email Address").first.wait_for()

    page.goto(verification_link(portal))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("ada@example.com").first.wait_for()

    page.goto(f"{portal.url}/accounts/ssh-keys/")
    page.fill("input[name=name]", "laptop")
    page.fill("textarea[name=public_key]", openssh_public_key(comment="ada@laptop"))
    page.get_by_role("button", name="Add key").click()
    page.get_by_text("SSH key 'laptop' added.").wait_for()

    # Money to launch with (a launch reserves an hour of the machine's price).
    # (Playwright's sync API runs an event loop here, so the ORM goes to a thread.)
    with ThreadPoolExecutor(1) as thread:
        thread.submit(lambda: fund(Customer.objects.get(user__email="ada@example.com"))).result()
    page.goto(f"{portal.url}/deployments/new/")
    page.select_option("select[name=region]", "eu-central-1")
    page.select_option("select[name=instance_type]", "h100-1x")
    page.select_option("select[name=image]", "ubuntu-24.04-cuda-12.8")
    page.fill("input[name=name]", "first-box")
    page.get_by_label("laptop").check()
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/deployments/dep_\w+/$"))

    # Mark the document: a reload would lose the mark.
    page.evaluate("window.__not_reloaded = true")
    page.locator('#deployment [data-field="status"][data-status="ACTIVE"]').wait_for(timeout=60_000)
    assert page.evaluate("window.__not_reloaded") is True
    ssh_command = page.locator('[data-field="ssh_command"]')
    assert re.fullmatch(r"ssh ubuntu@\d+\.\d+\.\d+\.\d+", ssh_command.inner_text())
    assert page.locator("#deployment-events tr").count() > 0

    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete machine").click()
    # The form posts and redirects to the detail page: mark that page, not the old one.
    page.wait_for_url(re.compile(r"/deployments/dep_\w+/$"))
    page.evaluate("window.__not_reloaded = true")
    page.locator('#deployment [data-field="status"][data-status="DELETED"]').wait_for(
        timeout=60_000
    )
    assert page.evaluate("window.__not_reloaded") is True
