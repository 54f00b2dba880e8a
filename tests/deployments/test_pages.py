"""Deployment pages: list, launch (with the live price's endpoint), detail, delete."""

import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from deployments import reconciler
from deployments.models import Deployment, Status
from tests.accounts.factories import SshKeyFactory, UserFactory, VerifiedUserFactory
from tests.deployments.conftest import refreshed

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(customer) -> Client:
    """A browser: form posts, not JSON (the API fixtures post through it too)."""
    browser = Client()
    browser.force_login(customer.user)
    return browser


@pytest.fixture
def launch(customer, spec, catalog, cloud):
    """Launch through the API (JSON), as the customer; returns the Deployment row."""
    api = APIClient()
    api.force_login(customer.user)

    def launch(**overrides) -> Deployment:
        response = api.post("/api/v1/deployments", {**spec, **overrides}, format="json")
        assert response.status_code == 201, response.json()
        return Deployment.objects.get(public_id=response.json()["id"])

    return launch


@pytest.fixture
def form(spec) -> dict:
    """The launch form as a browser submits it."""
    return {**spec}


def html_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def provision(deployment):
    reconciler.deployment_provision(deployment_id=deployment.pk)
    return refreshed(deployment)


def shown(html: str, marker: str) -> bool:
    """Whether the element carrying `marker` is rendered without the `hidden` attribute."""
    tag = re.search(rf"<[^>]*{re.escape(marker)}[^>]*>", html)
    assert tag, marker
    return " hidden" not in tag.group(0)


# --- list -----------------------------------------------------------------------------


def test_list_shows_the_customers_deployments_with_live_hooks(launch, client):
    deployment = launch()
    theirs_client = APIClient()
    theirs_client.force_login(VerifiedUserFactory())

    html = html_of(client.get("/deployments/"))

    assert '<tbody id="deployment-rows" data-live>' in html
    assert f'<tr data-deployment-id="{deployment.public_id}">' in html
    assert f'href="/deployments/{deployment.public_id}/"' in html
    assert (
        '<span class="badge badge-status badge-status-PENDING" data-field="status" '
        'data-status="PENDING">PENDING</span>' in html
    )
    assert "trainer-1" in html
    assert "Frankfurt" in html
    assert "1\u00d7 H100" in html  # the multiplication sign
    assert "2.83 USD/h" in html  # 2.79 compute + 0.041096 storage (300 GB)
    assert 'href="/deployments/new/"' in html
    assert deployment.public_id not in html_of(theirs_client.get("/deployments/"))


def test_list_has_an_empty_state(client, catalog):
    html = html_of(client.get("/deployments/"))

    assert "No machines yet" in html
    assert shown(html, 'id="deployment-rows-empty"')
    assert "<tr data-deployment-id" not in html


def test_list_query_count_does_not_grow_with_deployments(launch, client):
    launch()
    with CaptureQueriesContext(connection) as one:
        html_of(client.get("/deployments/"))
    for number in range(4):
        launch(name=f"worker-{number}")
    with CaptureQueriesContext(connection) as five:
        html = html_of(client.get("/deployments/"))

    assert html.count("<tr data-deployment-id") == 5
    assert len(five) == len(one)


def test_list_hides_deleted_machines_until_asked(launch, client):
    gone = launch(name="gone-1")
    kept = launch(name="kept-1")
    Deployment.objects.filter(pk=gone.pk).update(status=Status.DELETED)

    default = html_of(client.get("/deployments/"))
    everything = html_of(client.get("/deployments/?include_deleted=true"))

    assert f'<tr data-deployment-id="{kept.public_id}">' in default
    assert gone.public_id not in default
    assert '<a href="?include_deleted=true">Show deleted machines</a>' in default
    assert f'<tr data-deployment-id="{gone.public_id}">' in everything
    assert f'<tr data-deployment-id="{kept.public_id}">' in everything
    assert '<a href="/deployments/">Hide deleted</a>' in everything
    # The detail page of a deleted machine still answers.
    assert 'data-status="DELETED"' in html_of(client.get(f"/deployments/{gone.public_id}/"))


def live_usage_of(html: str) -> str:
    """The text of the "N of M running" line, tags dropped and spaces collapsed."""
    tag = re.search(r'<p class="live-usage[^"]*" id="live-usage"[^>]*>(.*?)</p>', html, re.S)
    assert tag, "no live usage"
    return " ".join(re.sub(r"<[^>]+>", " ", tag.group(1)).split())


def test_list_and_launch_page_show_the_live_limit_before_it_is_hit(launch, client, settings):
    settings.DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER = 3
    for number in range(2):
        launch(name=f"worker-{number}")
    gone = launch(name="gone-1")
    Deployment.objects.filter(pk=gone.pk).update(status=Status.DELETED)

    listing = html_of(client.get("/deployments/"))
    launching = html_of(client.get("/deployments/new/"))

    expected = "2 of 3 running (your limit is 3 at once)."
    assert live_usage_of(listing) == expected
    assert live_usage_of(launching) == expected
    assert re.search(r'<button type="submit" class="button" >Launch</button>', launching)


def test_at_the_limit_the_launch_page_says_so_and_disables_launch(launch, client, settings):
    settings.DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER = 1
    launch()

    launching = html_of(client.get("/deployments/new/"))

    assert live_usage_of(launching) == (
        "1 of 1 running: that is your limit. Delete a machine to launch another, "
        "or contact support to raise the limit."
    )
    assert 'disabled title="You are at your limit of running machines">Launch</button>' in (
        launching
    )


def test_pages_need_a_login(catalog):
    response = Client().get("/deployments/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_header_and_landing_link_to_deployments_for_logged_in_users(client):
    html = html_of(client.get("/"))

    assert '<a href="/deployments/">Deployments</a>' in html
    assert 'href="/deployments/new/"' in html
    assert "/deployments/" not in html_of(Client().get("/"))


# --- create ---------------------------------------------------------------------------


def test_create_page_offers_the_catalog_and_includes_the_live_price_script(
    client, catalog, ssh_key
):
    html = html_of(client.get("/deployments/new/"))

    assert '<script src="/static/js/deployments.js" defer></script>' in html
    assert 'data-quote-url="/api/v1/catalog/quote"' in html
    assert '<option value="eu-central-1" selected>' in html
    # Per-region availability rides on the options: a100-1x is not offered in us-east-1.
    assert re.search(r'<option value="a100-1x"[^>]* data-regions="eu-central-1">', html)
    assert re.search(r'<option value="h100-1x"[^>]* data-regions="eu-central-1 us-east-1"', html)
    assert "maxlength" not in re.search(r"<select[^>]*>", html).group(0)
    assert "vCPU" in html
    assert "GB RAM" in html
    assert '<option value="">No data volume</option>' in html
    assert 'data-default-size="' in html
    assert f'value="{ssh_key.public_id}"' in html
    assert "checked" in html  # the only key is preselected
    assert 'data-state="ready"' in html  # the server renders the initial price
    assert 'data-price="hourly_price"' in html


class _VisibleText(HTMLParser):
    """The text of a fragment without its `hidden` elements (spans nest)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag, attrs):
        if self.hidden_depth or any(name == "hidden" for name, _ in attrs):
            self.hidden_depth += 1

    def handle_endtag(self, tag):
        if self.hidden_depth:
            self.hidden_depth -= 1

    def handle_data(self, data):
        if not self.hidden_depth:
            self.text.append(data)


def storage_sizes_of(html: str) -> str:
    """The price box's "Storage: …" line as a reader sees it (hidden parts left out)."""
    line = re.search(r'<p class="help" id="storage-sizes">(.*?)</p>', html).group(1)
    parser = _VisibleText()
    parser.feed(line)
    return "".join(parser.text)


def test_create_page_says_storage_includes_the_system_disk(client, form, catalog, ssh_key):
    fresh = html_of(client.get("/deployments/new/"))
    # A refused launch re-renders the page with the submitted choices and their price.
    refused = {**form, "name": "Bad_Name"}
    with_data = html_of(client.post("/deployments/new/", refused))
    without_data = html_of(client.post("/deployments/new/", {**refused, "storage_profile": ""}))

    assert storage_sizes_of(fresh).startswith("Storage: 100 GB system disk")
    assert storage_sizes_of(with_data) == "Storage: 100 GB system disk + 200 GB data"
    assert storage_sizes_of(without_data) == "Storage: 100 GB system disk"
    # 100 GB x 0.10 / 730 h = 0.013699: storage is not free without a data volume.
    assert re.search(r'data-price="storage_hourly">0\.01</span>', without_data)
    # 2.79 compute + (100 + 200 GB) x 0.10 / 730 h = 0.041096 storage
    assert re.search(r'data-price="storage_hourly">0\.04</span>', with_data)
    assert re.search(r'data-price="hourly_price">2\.83</span>', with_data)
    assert "storage (its system disk and data volume) as long as the disks exist" in fresh


def test_create_page_states_the_configured_system_disk(client, form, catalog, settings):
    settings.SYSTEM_DISK_GB = 250

    html = html_of(
        client.post("/deployments/new/", {**form, "name": "Bad_Name", "storage_profile": ""})
    )

    assert storage_sizes_of(html) == "Storage: 250 GB system disk"
    # 250 GB x 0.10 / 730 h = 0.034247
    assert re.search(r'data-price="storage_hourly">0\.03</span>', html)


def test_static_script_is_served(client):
    response = client.get("/static/js/deployments.js")

    assert response.status_code == 200
    body = b"".join(response).decode()
    assert '"X-CSRFToken": csrfToken(form)' in body
    assert "fetch(url" in body
    # The live quote keeps the "Storage: N GB system disk + M GB data" line in step.
    assert "storage.system_disk_gb" in body
    assert "storage.data_volume_gb" in body


def test_the_quote_endpoint_the_script_calls_answers_with_the_session_and_csrf(customer, catalog):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(customer.user)
    browser.get("/deployments/new/")  # sets the csrftoken cookie the script reads
    headers = {"X-CSRFToken": browser.cookies["csrftoken"].value}
    choices = {
        "region": "eu-central-1",
        "instance_type": "h100-1x",
        "image": "ubuntu-24.04-cuda-12.8",
        "storage_profile": "nvme-ssd",
        "size_gb": 200,
    }

    priced = browser.post("/api/v1/catalog/quote", choices, format="json", headers=headers)
    refused = browser.post(
        "/api/v1/catalog/quote",
        {**choices, "region": "us-east-1", "instance_type": "a100-1x"},
        format="json",
        headers=headers,
    )

    assert priced.status_code == 200
    assert priced.json()["hourly_price"] == "2.831096"
    # (100 GB system disk + 200 GB data) x 0.10 / 730 h
    assert priced.json()["breakdown"]["storage"]["hourly_price"] == "0.041096"
    assert priced.json()["breakdown"]["storage"]["system_disk_gb"] == 100
    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["instance_type"]
    assert browser.post("/api/v1/catalog/quote", choices, format="json").status_code == 403


def test_create_launches_and_redirects_to_the_detail(client, form, catalog, cloud):
    response = client.post("/deployments/new/", form)

    deployment = Deployment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/deployments/{deployment.public_id}/"
    assert deployment.name == "trainer-1"
    assert deployment.region.slug == "eu-central-1"
    assert deployment.instance_type.slug == "h100-1x"
    assert deployment.storage_profile.slug == "nvme-ssd"
    assert deployment.volume_size_gb == 200
    assert [key["id"] for key in deployment.ssh_keys] == form["ssh_keys"]
    assert "Launching &#x27;trainer-1&#x27;" in html_of(client.get(response["Location"]))


def test_create_without_a_data_volume_ignores_the_size(client, form, catalog, cloud):
    response = client.post("/deployments/new/", {**form, "storage_profile": ""})

    assert response.status_code == 302
    deployment = Deployment.objects.get()
    assert deployment.storage_profile is None
    assert deployment.volume_size_gb == 0
    # Storage is the 100 GB system disk alone: 100 x 0.10 / 730 h.
    assert deployment.storage_hourly_price == Decimal("0.013699")
    assert deployment.hourly_price == Decimal("2.803699")
    assert deployment.stack_parameters["system_volume_size"] == 100


def test_choice_not_offered_is_a_field_error_and_nothing_is_created(client, form, catalog):
    response = client.post(
        "/deployments/new/", {**form, "region": "us-east-1", "instance_type": "a100-1x"}
    )

    html = html_of(response)
    errors = response.context["form"].errors
    assert list(errors) == ["instance_type"]
    assert "is not offered in region &#x27;us-east-1&#x27;" in html
    assert '<p class="field-error">' in html
    assert not Deployment.objects.exists()


def test_size_and_name_errors_land_on_their_fields(client, form, catalog):
    response = client.post(
        "/deployments/new/", {**form, "name": "Bad_Name", "volume_size_gb": 999_999}
    )

    errors = response.context["form"].errors
    assert set(errors) == {"name", "volume_size_gb"}
    assert not Deployment.objects.exists()


def test_no_ssh_key_chosen_is_a_field_error(client, form, catalog):
    response = client.post("/deployments/new/", {**form, "ssh_keys": []})

    assert response.context["form"].errors == {
        "ssh_keys": ["Choose at least one SSH key: it is how you log in."]
    }
    assert not Deployment.objects.exists()


def test_limit_reached_is_a_form_error(client, form, catalog, cloud, settings):
    settings.DEPLOYMENTS_MAX_LIVE_PER_CUSTOMER = 1
    client.post("/deployments/new/", form)

    response = client.post("/deployments/new/", {**form, "name": "second"})

    assert "running deployments at once" in response.context["form"].non_field_errors()[0]
    assert Deployment.objects.count() == 1


def test_unverified_user_sees_the_message_and_nothing_is_created(catalog, form):
    browser = Client()
    browser.force_login(UserFactory())

    page = html_of(browser.get("/deployments/new/"))
    response = browser.post("/deployments/new/", {**form, "ssh_keys": []})

    assert "Verify your email address before you launch a machine" in page
    assert "disabled" in page
    assert response.context["form"].non_field_errors() == [
        "Verify your email address first: follow the link we emailed you, or ask for a new "
        "one from your account page."
    ]
    assert not Deployment.objects.exists()


def test_with_several_ssh_keys_all_are_preselected(client, catalog, customer):
    keys = [SshKeyFactory(customer=customer, name=name) for name in ("laptop", "desktop")]

    html = html_of(client.get("/deployments/new/"))

    for key in keys:
        [checkbox] = re.findall(rf'<input type="checkbox"[^>]*value="{key.public_id}"[^>]*>', html)
        assert " checked" in checkbox


def test_without_ssh_keys_the_page_links_to_add_one(client, catalog):
    html = html_of(client.get("/deployments/new/"))

    assert 'href="/accounts/ssh-keys/">Add an SSH key</a>' in html


# --- detail ---------------------------------------------------------------------------


def test_detail_has_the_live_update_hooks(launch, client):
    deployment = launch()

    html = html_of(client.get(f"/deployments/{deployment.public_id}/"))

    assert f'<div id="deployment" data-deployment-id="{deployment.public_id}" data-live>' in html
    assert 'data-field="status" data-status="PENDING"' in html
    assert 'data-field="status_reason"' in html
    assert '<tbody id="deployment-events">' in html
    assert '<template id="deployment-event-template">' in html
    assert not shown(html, 'data-field="outputs"')
    assert not shown(html, 'data-show-for-status="PROVISIONING"')
    assert shown(html, f'href="/deployments/{deployment.public_id}/delete/"')
    assert "2.83 USD/h" in html  # 2.79 compute + 0.041096 storage (300 GB)
    assert "2,066.70 USD/month" in html or "2066.70 USD/month" in html
    assert "<dt>System disk</dt><dd>100 GB, made from the image" in html


def test_detail_while_provisioning_shows_the_progress_bar(launch, client, devcloud, reconcile):
    deployment = provision(launch())
    devcloud.advance(3)
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        reconcile()
    deployment = refreshed(deployment)
    assert deployment.status == Status.PROVISIONING
    assert deployment.progress_total > 0

    html = html_of(client.get(f"/deployments/{deployment.public_id}/"))

    assert shown(html, 'data-show-for-status="PROVISIONING"')
    complete, total = deployment.progress_complete, deployment.progress_total
    assert (
        f'<progress data-field="progress" data-complete="{complete}" data-total="{total}" '
        f'value="{complete}" max="{total}"' in html
    )
    assert not shown(html, 'data-field="outputs"')
    assert '<tr data-event-id="' in html


def test_detail_when_active_shows_the_outputs_and_the_ssh_command(
    launch, client, devcloud, reconcile
):
    deployment = provision(launch())
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        reconcile()
    deployment = refreshed(deployment)
    assert deployment.status == Status.ACTIVE
    public_ip = deployment.outputs["public_ip"]

    html = html_of(client.get(f"/deployments/{deployment.public_id}/"))

    assert shown(html, 'data-field="outputs"')
    assert not shown(html, 'data-show-for-status="PROVISIONING"')
    assert f'<code id="ssh-command" data-field="ssh_command">ssh ubuntu@{public_ip}</code>' in html
    assert 'data-copy="#ssh-command"' in html
    assert f'<code data-field="outputs.public_ip">{public_ip}</code>' in html
    assert f'<code data-field="outputs.private_ip">{deployment.outputs["private_ip"]}' in html
    assert '<code data-field="outputs.login_user">ubuntu</code>' in html
    assert '<code data-field="outputs.ssh_port">22</code>' in html
    assert "CREATE_COMPLETE" in html
    events = re.findall(r'<tr data-event-id="[^"]+">', html)
    assert len(events) == deployment.events.count() > 0


def test_detail_ssh_command_names_a_port_other_than_22(launch, client):
    deployment = launch()
    Deployment.objects.filter(pk=deployment.pk).update(
        status=Status.ACTIVE,
        outputs={
            "server_id": "s",
            "public_ip": "203.0.113.7",
            "private_ip": "10.0.0.7",
            "login_user": "ubuntu",
            "ssh_port": 2222,
            "volume_id": None,
        },
    )

    html = html_of(client.get(f"/deployments/{deployment.public_id}/"))

    assert 'data-field="ssh_command">ssh -p 2222 ubuntu@203.0.113.7</code>' in html
    assert '<code data-field="outputs.volume_id">none</code>' in html


def test_another_customers_deployment_is_a_404_everywhere(launch, catalog):
    deployment = launch()
    stranger = APIClient()
    stranger.force_login(VerifiedUserFactory())

    assert stranger.get(f"/deployments/{deployment.public_id}/").status_code == 404
    assert stranger.get(f"/deployments/{deployment.public_id}/delete/").status_code == 404
    assert stranger.post(f"/deployments/{deployment.public_id}/delete/").status_code == 404
    assert refreshed(deployment).status == Status.PENDING


# --- delete ---------------------------------------------------------------------------


def test_delete_asks_for_confirmation_then_deletes(launch, client):
    deployment = launch()

    confirmation = html_of(client.get(f"/deployments/{deployment.public_id}/delete/"))
    assert refreshed(deployment).status == Status.PENDING
    assert "Delete the machine “trainer-1”?" in confirmation
    assert "200 GB data volume" in confirmation

    response = client.post(f"/deployments/{deployment.public_id}/delete/")

    assert response.status_code == 302
    assert response["Location"] == f"/deployments/{deployment.public_id}/"
    assert refreshed(deployment).status == Status.DELETING
    assert refreshed(deployment).desired_state == "deleted"
    html = html_of(client.get(response["Location"]))
    assert "Deleting &#x27;trainer-1&#x27;." in html
    assert 'data-status="DELETING"' in html
    assert not shown(html, f'href="/deployments/{deployment.public_id}/delete/"')


def test_deleting_an_error_deployment_is_refused_with_a_message(launch, client):
    from deployments import services

    deployment = launch()
    services.deployment_transition(deployment_id=deployment.pk, to_status=Status.DELETING)
    services.deployment_transition(deployment_id=deployment.pk, to_status=Status.ERROR)

    page = html_of(client.get(f"/deployments/{deployment.public_id}/delete/"))
    response = client.post(f"/deployments/{deployment.public_id}/delete/", follow=True)

    assert "cannot be deleted now" in page
    assert "waiting for our team" in html_of(response)
    assert refreshed(deployment).status == Status.ERROR
