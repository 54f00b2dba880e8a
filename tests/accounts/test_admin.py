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
