import pytest
from django.db import IntegrityError

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_email_is_the_login_and_is_stored_lowercase():
    user = User.objects.create_user("Ada.Lovelace@Example.COM", "correct horse battery staple")

    assert user.email == "ada.lovelace@example.com"
    assert User.USERNAME_FIELD == "email"
    assert user.check_password("correct horse battery staple")
    assert user.is_staff is False


def test_two_accounts_cannot_share_an_email_in_any_case():
    User.objects.create_user("ada@example.com", "pw-one-two-three")

    with pytest.raises(IntegrityError):
        User.objects.bulk_create([User(email="ADA@example.com")])


def test_superuser_is_staff():
    admin = User.objects.create_superuser("root@example.com", "pw-one-two-three")

    assert admin.is_staff is True
    assert admin.is_superuser is True
