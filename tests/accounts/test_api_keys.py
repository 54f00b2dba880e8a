"""API keys: creation (secret once, hash at rest), bearer authentication, scopes,
session-only operations, the IP allow-list and proxies, expiry, revoke, throttling, pages."""

import hashlib
import logging
import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ActivityEntry, ActivityVerb, ApiKey
from cloudportal.api.scopes import Scope
from tests.accounts.factories import VerifiedUserFactory, api_key_for, bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    return VerifiedUserFactory().customer


@pytest.fixture
def session(customer) -> APIClient:
    client = APIClient()
    client.force_login(customer.user)
    return client


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


def test_a_key_created_through_the_api_shows_its_secret_once_and_keeps_only_a_hash(session):
    created = session.post(
        "/api/v1/api-keys",
        {"name": "ci", "scopes": ["deployments:read", "ssh_keys:read"], "monthly_spend_cap": "50"},
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("cpk_")
    assert len(secret) == 47
    assert body["id"].startswith("key_")
    assert body["scopes"] == ["deployments:read", "ssh_keys:read"]
    assert body["monthly_spend_cap"] == "50.000000"
    assert body["month_spend"] == "0.000000"
    assert body["prefix"] == secret[:16]
    row = ApiKey.objects.get(public_id=body["id"])
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apikey")
        assert secret not in repr(cursor.fetchall())
    listed = session.get("/api/v1/api-keys")
    one = session.get(f"/api/v1/api-keys/{body['id']}")
    assert secret not in listed.content.decode()
    assert secret[16:] not in one.content.decode()
    assert "secret" not in one.json()
    entry = ActivityEntry.objects.get(verb=ActivityVerb.API_KEY_CREATED)
    assert entry.object_id == body["id"]
    assert secret not in repr(entry.data)


def test_a_key_reads_what_its_scope_allows_and_records_where_it_was_used(customer, anonymous):
    api_key, secret = api_key_for(customer, scopes=[Scope.SSH_KEYS_READ])

    response = anonymous.get("/api/v1/ssh-keys", REMOTE_ADDR="198.51.100.9", **bearer(secret))

    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_ip == "198.51.100.9"
    assert api_key.last_used_at is not None


def _scoped_operations():
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            scope = operation.get("x-api-key-scope")
            if scope in Scope.values:
                # A well-formed id that names nothing: ids are matched by their shape in URLs.
                yield method.upper(), re.sub(r"\{[^}]+\}", f"xx_{'0' * 26}", path), scope


def test_every_scoped_operation_refuses_a_key_without_its_scope(customer, anonymous):
    operations = list(_scoped_operations())
    assert {scope for _, _, scope in operations} >= set(Scope.values) - {Scope.BILLING_TOPUP}
    keys = {
        scope: api_key_for(customer, scopes=[s for s in Scope.values if s != scope])[1]
        for scope in Scope.values
    }

    for method, path, scope in operations:
        response = anonymous.generic(method, path, "{}", "application/json", **bearer(keys[scope]))

        assert response.status_code == 403, (method, path)
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "insufficient_scope"
        assert scope in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/api-keys"),
        ("POST", "/api/v1/api-keys"),
        ("DELETE", "/api/v1/api-keys/key_01JAAAAAAAAAAAAAAAAAAAAAAA"),
        ("GET", "/api/v1/account/sessions"),
        ("POST", "/api/v1/account/sessions/revoke-others"),
        ("PATCH", "/api/v1/account"),
    ],
)
def test_keys_never_manage_keys_sessions_or_the_account(customer, anonymous, method, path):
    _, secret = api_key_for(customer)

    response = anonymous.generic(
        method, path, '{"name": "x", "scopes": ["account:read"]}', "application/json",
        **bearer(secret),
    )  # fmt: skip

    assert response.status_code == 403
    assert response.json()["code"] == "session_only"
    assert ApiKey.objects.count() == 1


def test_a_wrong_or_unknown_key_is_401_with_a_bearer_challenge(customer, anonymous):
    _, secret = api_key_for(customer)
    forged = secret[:16] + "x" * (len(secret) - 16)

    for presented in (forged, "cpk_nothing", "not-a-key"):
        response = anonymous.get("/api/v1/ssh-keys", **bearer(presented))
        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"
    assert response["WWW-Authenticate"]  # a 401, not a 403: the client may retry with a key


def test_an_expired_key_is_refused(customer, anonymous):
    _, secret = api_key_for(customer, expires_at=timezone.now() + timedelta(days=1))
    assert anonymous.get("/api/v1/ssh-keys", **bearer(secret)).status_code == 200

    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        response = anonymous.get("/api/v1/ssh-keys", **bearer(secret))

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_expired"


def test_a_revoked_key_fails_on_its_very_next_request(customer, session, anonymous):
    api_key, secret = api_key_for(customer)
    assert anonymous.get("/api/v1/ssh-keys", **bearer(secret)).status_code == 200

    revoked = session.delete(f"/api/v1/api-keys/{api_key.public_id}")
    response = anonymous.get("/api/v1/ssh-keys", **bearer(secret))

    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"
    assert ActivityEntry.objects.filter(
        verb=ActivityVerb.API_KEY_REVOKED, object_id=api_key.public_id
    ).exists()
    again = session.delete(f"/api/v1/api-keys/{api_key.public_id}")
    assert again.status_code == 409
    assert ActivityEntry.objects.filter(verb=ActivityVerb.API_KEY_REVOKED).count() == 1


def test_another_customers_key_is_a_404(customer, session):
    other_key, _ = api_key_for(VerifiedUserFactory().customer)

    assert session.get(f"/api/v1/api-keys/{other_key.public_id}").status_code == 404
    assert session.delete(f"/api/v1/api-keys/{other_key.public_id}").status_code == 404
    other_key.refresh_from_db()
    assert other_key.revoked_at is None
    assert session.get("/api/v1/api-keys").json()["results"] == []


@pytest.mark.parametrize(
    ("allowed", "address", "status"),
    [
        (["203.0.113.0/24"], "203.0.113.77", 200),
        (["203.0.113.0/24"], "198.51.100.1", 403),
        (["2001:db8:1::/48"], "2001:db8:1:2::9", 200),
        (["2001:db8:1::/48"], "2001:db8:2::9", 403),
        (["2001:db8::7"], "2001:db8::7", 200),
        (["203.0.113.5"], "::ffff:203.0.113.5", 200),
    ],
)
def test_the_allow_list_admits_ipv4_and_ipv6_addresses_and_ranges(
    customer, anonymous, allowed, address, status
):
    api_key, secret = api_key_for(customer, allowed_ips=allowed)

    response = anonymous.get("/api/v1/ssh-keys", REMOTE_ADDR=address, **bearer(secret))

    assert response.status_code == status
    refused = ActivityEntry.objects.filter(verb=ActivityVerb.API_KEY_IP_REFUSED)
    if status == 403:
        assert response.json()["code"] == "ip_not_allowed"
        assert allowed[0].split("/")[0] not in response.content.decode()  # the list stays secret
        assert [(e.object_id, e.ip_address) for e in refused] == [(api_key.public_id, address)]
    else:
        assert not refused.exists()


def test_the_allow_list_rejects_what_is_not_an_address(session):
    response = session.post(
        "/api/v1/api-keys",
        {"name": "ci", "scopes": ["deployments:read"], "allowed_ips": ["10.0.0.0/8", "nope"]},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "api_key_invalid"
    assert "allowed_ips" in response.json()["errors"]
    assert not ApiKey.objects.exists()


def test_a_spoofed_forwarded_header_changes_nothing_without_proxies(customer, anonymous, settings):
    settings.TRUSTED_PROXY_HOPS = 0
    _, secret = api_key_for(customer, allowed_ips=["203.0.113.5"])

    response = anonymous.get(
        "/api/v1/ssh-keys",
        REMOTE_ADDR="198.51.100.1",
        HTTP_X_FORWARDED_FOR="203.0.113.5",
        **bearer(secret),
    )

    assert response.status_code == 403
    assert response.json()["code"] == "ip_not_allowed"


def test_behind_one_proxy_the_client_is_the_address_the_proxy_appended(
    customer, anonymous, settings
):
    settings.TRUSTED_PROXY_HOPS = 1
    _, secret = api_key_for(customer, allowed_ips=["203.0.113.5"])
    proxy = {"REMOTE_ADDR": "10.0.0.2"}

    through_proxy = anonymous.get(
        "/api/v1/ssh-keys", HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy, **bearer(secret)
    )
    spoofed = anonymous.get(
        "/api/v1/ssh-keys",
        HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.1",  # the client wrote the first one
        **proxy,
        **bearer(secret),
    )

    assert through_proxy.status_code == 200
    assert spoofed.status_code == 403
    assert spoofed.json()["code"] == "ip_not_allowed"


def test_each_key_is_throttled_on_its_own(customer, anonymous, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "api_key": "2/min",
        },
    }
    _, first = api_key_for(customer)
    _, second = api_key_for(customer)

    statuses = [anonymous.get("/api/v1/ssh-keys", **bearer(first)).status_code for _ in range(3)]
    other = anonymous.get("/api/v1/ssh-keys", **bearer(second))

    assert statuses == [200, 200, 429]
    assert other.status_code == 200


def test_key_secrets_never_reach_the_logs(customer, session, anonymous, caplog):
    caplog.set_level(logging.DEBUG)

    created = session.post("/api/v1/api-keys", {"name": "ci", "scopes": ["ssh_keys:read"]})
    secret = created.json()["secret"]
    anonymous.get("/api/v1/ssh-keys", **bearer(secret))
    anonymous.get("/api/v1/ssh-keys", **bearer(secret[:-1] + "Z"))
    session.delete(f"/api/v1/api-keys/{created.json()['id']}")
    anonymous.get("/api/v1/ssh-keys", **bearer(secret))

    assert caplog.records
    for record in caplog.records:
        assert secret[16:] not in repr(record.__dict__)
        assert secret[16:] not in record.getMessage()


def test_a_key_is_accepted_on_public_operations_and_refused_there_once_revoked(customer, anonymous):
    api_key, secret = api_key_for(customer, scopes=[Scope.ACCOUNT_READ])
    assert anonymous.get("/api/v1/", **bearer(secret)).status_code == 200

    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])

    assert anonymous.get("/api/v1/", **bearer(secret)).status_code == 401


def test_keys_page_creates_a_key_shows_the_secret_once_and_revokes(customer):
    from django.test import Client

    browser = Client()
    browser.force_login(customer.user)

    page = browser.post(
        "/accounts/api-keys/",
        {
            "name": "nightly",
            "scopes": ["deployments:read", "deployments:write"],
            "allowed_ips": "203.0.113.0/24\n2001:db8::/32",
            "monthly_spend_cap": "25.00",
        },
    )

    api_key = ApiKey.objects.get()
    html = page.content.decode()
    secret = html.split("data-secret>")[1].split("<")[0]
    assert api_key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert api_key.allowed_ips == ["203.0.113.0/24", "2001:db8::/32"]
    assert api_key.monthly_spend_cap == 25_000_000
    again = browser.get("/accounts/api-keys/").content.decode()
    assert secret[16:] not in again
    assert "0.00 USD of 25.00 USD" in again

    browser.post(f"/accounts/api-keys/{api_key.public_id}/revoke/")
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert "revoked" in browser.get("/accounts/api-keys/").content.decode()


def test_a_key_sees_only_its_own_customers_objects(customer, anonymous):
    from tests.accounts.factories import SshKeyFactory

    others = SshKeyFactory(customer=VerifiedUserFactory().customer)
    mine = SshKeyFactory(customer=customer)
    _, secret = api_key_for(customer, scopes=[Scope.SSH_KEYS_READ, Scope.SSH_KEYS_WRITE])

    assert (
        anonymous.get(f"/api/v1/ssh-keys/{others.public_id}", **bearer(secret)).status_code == 404
    )
    assert (
        anonymous.delete(f"/api/v1/ssh-keys/{others.public_id}", **bearer(secret)).status_code
        == 404
    )
    listed = anonymous.get("/api/v1/ssh-keys", **bearer(secret)).json()["results"]
    assert [item["id"] for item in listed] == [mine.public_id]
    others.refresh_from_db()  # still there


def test_a_refused_address_hammering_a_key_is_logged_once_a_minute(customer, anonymous):
    _, secret = api_key_for(customer, allowed_ips=["203.0.113.0/24"])
    start = timezone.now()

    for _ in range(3):
        response = anonymous.get("/api/v1/ssh-keys", REMOTE_ADDR="198.51.100.1", **bearer(secret))
        assert response.status_code == 403
    anonymous.get("/api/v1/ssh-keys", REMOTE_ADDR="198.51.100.2", **bearer(secret))

    entries = ActivityEntry.objects.filter(verb=ActivityVerb.API_KEY_IP_REFUSED)
    assert sorted(entry.ip_address for entry in entries) == ["198.51.100.1", "198.51.100.2"]
    assert all(entry.created_at >= start for entry in entries)


def test_revoking_a_key_revoked_a_moment_before_says_it_is_revoked(customer, monkeypatch):
    """A second click or another tab: the page read the key before the other revoke landed."""
    from django.test import Client

    from accounts import api_keys

    api_key, _ = api_key_for(customer)
    stale = ApiKey.objects.get(pk=api_key.pk)  # read before the other revoke
    api_keys.api_key_revoke(api_key=api_key)
    monkeypatch.setattr(api_keys, "api_key_get", lambda **kwargs: stale)
    browser = Client()
    browser.force_login(customer.user)

    response = browser.post(f"/accounts/api-keys/{api_key.public_id}/revoke/")

    assert response.status_code == 302
    assert ActivityEntry.objects.filter(verb=ActivityVerb.API_KEY_REVOKED).count() == 1


def test_an_expiry_in_the_past_is_said_under_the_expiry_field(customer):
    from django.test import Client

    browser = Client()
    browser.force_login(customer.user)

    page = browser.post(
        "/accounts/api-keys/",
        {"name": "old", "scopes": ["deployments:read"], "expires_on": "2020-01-01"},
    )

    assert page.status_code == 200
    assert page.context["form"].errors["expires_on"] == ["The expiry must be in the future."]
    assert not ApiKey.objects.exists()
