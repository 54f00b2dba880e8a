"""The activity log: services write it in the action's transaction; customers read theirs."""

import pytest
from django.test import Client

from accounts.models import ActivityEntry, LoginSession
from tests.accounts.factories import (
    PASSWORD,
    SshKeyFactory,
    VerifiedUserFactory,
    openssh_public_key,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def person():
    return VerifiedUserFactory(email="ada@example.com")


@pytest.fixture
def api(api_client, person):
    api_client.force_login(person)
    return api_client


def log(customer):
    return list(
        ActivityEntry.objects.filter(customer=customer)
        .order_by("created_at", "id")
        .values_list("verb", "actor_kind", "actor_label", "ip_address")
    )


def test_signing_in_and_out_is_logged_with_the_ip(person):
    client = Client(REMOTE_ADDR="203.0.113.9")

    client.post("/accounts/login/", {"login": "ada@example.com", "password": PASSWORD})
    session = LoginSession.objects.get(user=person)
    client.post("/accounts/logout/")

    assert log(person.customer) == [
        ("session.signed_in", "user", "ada@example.com", "203.0.113.9"),
        ("session.signed_out", "user", "ada@example.com", "203.0.113.9"),
    ]
    assert ActivityEntry.objects.filter(object_id=session.public_id).count() == 2


def test_a_failed_sign_in_logs_nothing(person):
    Client().post("/accounts/login/", {"login": "ada@example.com", "password": "nope"})

    assert log(person.customer) == []


def test_adding_and_deleting_an_ssh_key_is_logged(api, person):
    created = api.post(
        "/api/v1/ssh-keys", {"name": "laptop", "public_key": openssh_public_key()}
    ).json()
    api.delete(f"/api/v1/ssh-keys/{created['id']}")

    entries = ActivityEntry.objects.filter(
        customer=person.customer, verb__startswith="ssh_key."
    ).order_by("created_at", "id")
    assert [(e.verb, e.object_id, e.data["name"]) for e in entries] == [
        ("ssh_key.added", created["id"], "laptop"),
        ("ssh_key.deleted", created["id"], "laptop"),
    ]
    assert {e.ip_address for e in entries} == {"127.0.0.1"}
    assert {e.actor_label for e in entries} == {"ada@example.com"}


def test_a_refused_ssh_key_logs_nothing(api, person):
    key = openssh_public_key()
    api.post("/api/v1/ssh-keys", {"name": "one", "public_key": key})

    response = api.post("/api/v1/ssh-keys", {"name": "two", "public_key": key})

    assert response.status_code == 409
    assert [verb for verb, *_ in log(person.customer)] == ["session.signed_in", "ssh_key.added"]


def test_revoking_another_session_is_logged(person):
    other = Client(REMOTE_ADDR="198.51.100.1")
    other.force_login(person)
    other.get("/accounts/settings/")
    here = Client(REMOTE_ADDR="203.0.113.9")
    here.force_login(person)
    here.get("/accounts/settings/")
    ActivityEntry.objects.all().delete()
    other_session = LoginSession.objects.get(ip_address="198.51.100.1")

    here.post(f"/accounts/sessions/{other_session.public_id}/revoke/")

    entry = ActivityEntry.objects.get()
    assert (entry.verb, entry.object_id, entry.ip_address) == (
        "session.revoked",
        other_session.public_id,
        "203.0.113.9",
    )


def test_customers_read_their_own_activity_newest_first_with_filters(api, person):
    key = SshKeyFactory(customer=person.customer, name="one")
    SshKeyFactory(customer=person.customer, name="two")
    SshKeyFactory(name="someone else's")

    ActivityEntry.objects.filter(verb="session.signed_in").delete()
    everything = api.get("/api/v1/activity").json()["results"]
    about_one = api.get("/api/v1/activity", {"object": key.public_id}).json()["results"]
    added = api.get("/api/v1/activity", {"verb": "ssh_key.added"}).json()["results"]

    assert [(e["verb"], e["details"]["name"]) for e in everything] == [
        ("ssh_key.added", "two"),
        ("ssh_key.added", "one"),
    ]
    assert everything[0]["actor"] == {"kind": "user", "name": "ada@example.com"}
    assert everything[0]["id"].startswith("act_")
    assert [e["object_id"] for e in about_one] == [key.public_id]
    assert len(added) == 2


def test_an_unknown_verb_filter_is_a_validation_problem(api):
    response = api.get("/api/v1/activity", {"verb": "ssh_key.stolen"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["verb"]


def test_staff_are_shown_to_customers_as_the_support_team(api, person):
    from accounts.activity import Actor
    from accounts.models import User
    from accounts.services import activity_record

    staff = User.objects.create_superuser("boss@example.com", PASSWORD)
    activity_record(
        customer=person.customer,
        verb="balance.adjusted",
        actor=Actor.staff(staff),
        data={"reason": "Goodwill credit"},
    )

    entry = api.get("/api/v1/activity").json()["results"][0]
    page = Client()
    page.force_login(person)
    html = page.get("/accounts/activity/").content.decode()

    assert entry["actor"] == {"kind": "staff", "name": "Support team"}
    assert "boss@example.com" not in html
    assert "Support team" in html
    assert "Goodwill credit" in html


def test_the_activity_page_lists_and_filters(person):
    SshKeyFactory(customer=person.customer, name="laptop")
    page = Client()
    page.force_login(person)

    html = page.get("/accounts/activity/").content.decode()
    filtered = page.get("/accounts/activity/", {"verb": "ssh_key.deleted"}).content.decode()

    assert "SSH key added" in html
    assert "(laptop)" in html
    assert "Nothing yet of this kind." in filtered
