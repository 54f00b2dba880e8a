import pytest
from django.test import Client

from accounts.models import Customer, LoginSession, User
from tests.accounts.factories import PASSWORD, SshKeyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("staff@example.com", PASSWORD))
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/accounts/user/?q=ada",
        "/admin/accounts/customer/?q=cus_",
        "/admin/accounts/loginsession/?q=203.0",
        "/admin/accounts/sshkey/?q=SHA256",
    ],
)
def test_staff_can_search_every_list(staff_client, path):
    UserFactory(email="ada@example.com")
    SshKeyFactory()

    assert staff_client.get(path).status_code == 200


def test_staff_can_log_a_customers_session_out(staff_client):
    user = UserFactory()
    customer_browser = Client()
    customer_browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    login_session = LoginSession.objects.get(user=user)

    staff_client.post(
        "/admin/accounts/loginsession/",
        {"action": "revoke_sessions", "_selected_action": [login_session.pk]},
    )

    assert customer_browser.get("/api/v1/account").status_code == 401
    assert not LoginSession.objects.filter(user=user).exists()


def test_user_added_in_admin_gets_a_customer(staff_client):
    staff_client.post(
        "/admin/accounts/user/add/",
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert Customer.objects.get(user__email="new@example.com").public_id.startswith("cus_")


def test_staff_can_revoke_a_customers_api_key(staff_client):
    from accounts.models import ActivityEntry, ActivityVerb
    from tests.accounts.factories import VerifiedUserFactory, api_key_for

    api_key, _ = api_key_for(VerifiedUserFactory().customer)

    listed = staff_client.get("/admin/accounts/apikey/?q=key_")
    detail = staff_client.get(f"/admin/accounts/apikey/{api_key.pk}/change/")
    staff_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_keys", "_selected_action": [api_key.pk]},
    )

    assert listed.status_code == 200
    assert detail.status_code == 200
    assert api_key.secret_hash not in detail.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    entry = ActivityEntry.objects.get(verb=ActivityVerb.API_KEY_REVOKED)
    assert (entry.actor_kind, entry.actor_label) == ("staff", "staff@example.com")
