"""`Idempotency-Key` on a creating POST (SSH keys are the first user of the mechanism)."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import SshKey
from cloudportal.models import IdempotencyKey
from tests.accounts.factories import VerifiedUserFactory, openssh_public_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return VerifiedUserFactory()


@pytest.fixture
def client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def add_key(client, body, key="key-1"):
    return client.post("/api/v1/ssh-keys", body, headers={"Idempotency-Key": key})


def test_retry_with_the_same_key_replays_the_first_response(client):
    body = {"name": "laptop", "public_key": openssh_public_key()}

    first = add_key(client, body)
    retry = add_key(client, body)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert SshKey.objects.count() == 1


def test_same_key_with_another_body_is_422_and_creates_nothing(client):
    add_key(client, {"name": "laptop", "public_key": openssh_public_key()})

    response = add_key(client, {"name": "desktop", "public_key": openssh_public_key()})

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert list(SshKey.objects.values_list("name", flat=True)) == ["laptop"]


@pytest.mark.django_db(transaction=True)
def test_duplicate_while_the_first_is_still_running_is_409(client, user):
    body = {"name": "laptop", "public_key": openssh_public_key()}
    record = IdempotencyKey.objects.create(
        customer=user.customer, key="key-1", request_fingerprint="whatever"
    )
    locked, release = threading.Event(), threading.Event()

    def first_request_still_running():
        with transaction.atomic():
            IdempotencyKey.objects.select_for_update().get(pk=record.pk)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=first_request_still_running)
    holder.start()
    try:
        assert locked.wait(10)
        response = add_key(client, body)
    finally:
        release.set()
        holder.join()

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_flight"
    assert not SshKey.objects.exists()


def fingerprint_of(client, body):
    """The fingerprint the server stores for this request, read back from a throwaway key."""
    add_key(client, body, key="probe")
    probe = IdempotencyKey.objects.get(key="probe")
    SshKey.objects.all().delete()
    probe.delete()
    return probe.request_fingerprint


def test_claimed_key_inside_its_lease_is_409(client, user):
    body = {"name": "laptop", "public_key": openssh_public_key()}
    IdempotencyKey.objects.create(
        customer=user.customer, key="key-1", request_fingerprint=fingerprint_of(client, body)
    )

    response = add_key(client, body)

    assert response.status_code == 409
    assert not SshKey.objects.exists()


def test_key_abandoned_by_a_dead_process_is_taken_over(client, user):
    body = {"name": "laptop", "public_key": openssh_public_key()}
    IdempotencyKey.objects.create(
        customer=user.customer,
        key="key-1",
        request_fingerprint=fingerprint_of(client, body),
        locked_at=timezone.now() - timedelta(minutes=5),
    )

    response = add_key(client, body)

    assert response.status_code == 201
    assert SshKey.objects.count() == 1
    assert IdempotencyKey.objects.get().status == "completed"


def test_key_of_a_request_whose_process_died_is_free_again_within_seconds(client, user):
    body = {"name": "laptop", "public_key": openssh_public_key()}
    # What a web process killed mid-POST leaves: the claim, and no lock (its connection died).
    IdempotencyKey.objects.create(
        customer=user.customer, key="key-1", request_fingerprint=fingerprint_of(client, body)
    )
    assert add_key(client, body).status_code == 409  # it might still be about to lock it

    with time_machine.travel(timezone.now() + timedelta(seconds=6)):
        response = add_key(client, body)

    assert response.status_code == 201
    assert SshKey.objects.count() == 1


def test_failed_request_is_not_remembered(client):
    bad = add_key(client, {"name": "laptop", "public_key": "not a key"})
    good = add_key(client, {"name": "laptop", "public_key": openssh_public_key()})

    assert bad.status_code == 400
    assert good.status_code == 201
    assert "Idempotent-Replayed" not in good


def test_keys_expire_after_24_hours(client):
    add_key(client, {"name": "laptop", "public_key": openssh_public_key()})

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        response = add_key(client, {"name": "desktop", "public_key": openssh_public_key()})

    assert response.status_code == 201
    assert SshKey.objects.count() == 2


def test_keys_belong_to_one_customer(client):
    other = APIClient()
    other.force_login(VerifiedUserFactory())

    mine = add_key(client, {"name": "laptop", "public_key": openssh_public_key()})
    theirs = add_key(other, {"name": "laptop", "public_key": openssh_public_key()})

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs


def test_unusable_key_is_a_400(client):
    response = add_key(client, {"name": "x", "public_key": openssh_public_key()}, key="x" * 256)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert not SshKey.objects.exists()


def test_expired_keys_are_purged():
    from cloudportal.tasks import idempotency_keys_purge_task

    customer = VerifiedUserFactory().customer
    IdempotencyKey.objects.create(
        customer=customer, key="old", request_fingerprint="x",
        created_at=timezone.now() - timedelta(hours=25),
    )  # fmt: skip
    IdempotencyKey.objects.create(customer=customer, key="new", request_fingerprint="x")

    assert idempotency_keys_purge_task() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_a_database_failure_on_a_known_key_is_503_not_in_progress(client, monkeypatch):
    """Only a held lock means "another request is running"; a lost database is a 503."""
    from django.db import OperationalError

    body = {"name": "laptop", "public_key": openssh_public_key()}
    add_key(client, body)

    class LostConnection:
        def get(self, **kwargs):
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(
        IdempotencyKey.objects, "select_for_update", lambda **kwargs: LostConnection()
    )
    response = add_key(client, body)

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
