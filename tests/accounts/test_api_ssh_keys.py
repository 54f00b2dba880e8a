import pytest
from rest_framework.test import APIClient

from accounts.models import SshKey
from tests.accounts.factories import (
    SshKeyFactory,
    UserFactory,
    VerifiedUserFactory,
    openssh_private_key,
    openssh_public_key,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def verified_client() -> APIClient:
    client = APIClient()
    client.force_login(VerifiedUserFactory())
    return client


def test_add_list_and_delete_a_key(verified_client):
    text = openssh_public_key("ed25519", comment="ada@laptop")

    created = verified_client.post("/api/v1/ssh-keys", {"name": "laptop", "public_key": text})

    assert created.status_code == 201
    key = created.json()
    assert key["id"].startswith("ssh_")
    assert len(key["id"]) == 30
    assert key["name"] == "laptop"
    assert key["key_type"] == "ssh-ed25519"
    assert key["bits"] == 256
    assert key["fingerprint"].startswith("SHA256:")
    assert key["public_key"] == text

    listed = verified_client.get("/api/v1/ssh-keys").json()
    assert [item["id"] for item in listed["results"]] == [key["id"]]
    assert verified_client.get(f"/api/v1/ssh-keys/{key['id']}").json() == key

    deleted = verified_client.delete(f"/api/v1/ssh-keys/{key['id']}")
    assert deleted.status_code == 204
    assert not SshKey.objects.exists()


def test_list_costs_a_fixed_number_of_queries(django_assert_num_queries):
    user = VerifiedUserFactory()
    client = APIClient()
    client.force_login(user)
    for _ in range(3):
        SshKeyFactory(customer=user.customer)
    client.get("/api/v1/ssh-keys")  # the first request records the session's last-seen time

    # session, user, customer, keys
    with django_assert_num_queries(4):
        response = client.get("/api/v1/ssh-keys")

    assert len(response.json()["results"]) == 3


def test_unverified_user_cannot_add_a_key():
    client = APIClient()
    client.force_login(UserFactory())

    response = client.post(
        "/api/v1/ssh-keys", {"name": "laptop", "public_key": openssh_public_key()}
    )

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "email_unverified"
    assert not SshKey.objects.exists()


@pytest.mark.parametrize(
    ("public_key", "message"),
    [
        ("not a key", "Key type 'not' is not supported."),
        (None, "This is a private key"),
        ("short-rsa", "This RSA key has 1024 bits; at least 2048 are required."),
    ],
)
def test_bad_keys_are_refused_with_a_field_error(verified_client, public_key, message):
    if public_key is None:
        public_key = openssh_private_key()
    elif public_key == "short-rsa":
        public_key = openssh_public_key("rsa", bits=1024)

    response = verified_client.post("/api/v1/ssh-keys", {"name": "k", "public_key": public_key})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "ssh_key_invalid"
    assert body["errors"]["public_key"][0].startswith(message)
    assert not SshKey.objects.exists()


def test_same_key_twice_is_refused_naming_the_first(verified_client):
    text = openssh_public_key()
    verified_client.post("/api/v1/ssh-keys", {"name": "laptop", "public_key": text})

    response = verified_client.post("/api/v1/ssh-keys", {"name": "again", "public_key": text})

    assert response.status_code == 409
    assert response.json()["code"] == "ssh_key_duplicate"
    assert response.json()["errors"] == {
        "public_key": ["You have already added this key as 'laptop'."]
    }
    assert SshKey.objects.count() == 1


def test_same_name_twice_is_refused(verified_client):
    verified_client.post("/api/v1/ssh-keys", {"name": "laptop", "public_key": openssh_public_key()})

    response = verified_client.post(
        "/api/v1/ssh-keys", {"name": "laptop", "public_key": openssh_public_key()}
    )

    assert response.status_code == 409
    assert response.json()["errors"] == {"name": ["You already have a key named 'laptop'."]}


def test_the_same_key_may_belong_to_two_customers(verified_client):
    text = openssh_public_key()
    other = APIClient()
    other.force_login(VerifiedUserFactory())

    assert (
        verified_client.post("/api/v1/ssh-keys", {"name": "a", "public_key": text}).status_code
        == 201
    )
    assert other.post("/api/v1/ssh-keys", {"name": "a", "public_key": text}).status_code == 201


def test_another_customers_key_is_not_found(verified_client):
    someone_elses = SshKeyFactory()

    assert verified_client.get(f"/api/v1/ssh-keys/{someone_elses.public_id}").status_code == 404
    assert verified_client.delete(f"/api/v1/ssh-keys/{someone_elses.public_id}").status_code == 404
    assert verified_client.get("/api/v1/ssh-keys").json()["results"] == []
    assert SshKey.objects.filter(pk=someone_elses.pk).exists()


def test_missing_fields_are_named(verified_client):
    response = verified_client.post("/api/v1/ssh-keys", {})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "public_key"}


def test_anonymous_cannot_list_keys():
    assert APIClient().get("/api/v1/ssh-keys").status_code == 401


SAME_NAME_ON_SQLITE = """
from allauth.account.models import EmailAddress
from accounts import services
from accounts.exceptions import SshKeyDuplicate
from accounts.models import User
from tests.accounts.factories import openssh_public_key
user = User.objects.create_user("sqlite@example.com")
EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
services.ssh_key_create(customer=user.customer, name="laptop", public_key=openssh_public_key())
try:
    services.ssh_key_create(customer=user.customer, name="laptop", public_key=openssh_public_key())
except SshKeyDuplicate as error:
    print(sorted(error.errors), error.errors[sorted(error.errors)[0]][0])
"""


def test_same_name_twice_names_the_name_on_sqlite_too(tmp_path):
    """SQLite's constraint error names no constraint: `make run` once blamed the key."""
    from tests.sqlite import run_on_sqlite

    assert run_on_sqlite(tmp_path, SAME_NAME_ON_SQLITE)[-1] == (
        "['name'] You already have a key named 'laptop'."
    )
