"""Sign-up, verification, login, reset, password and email change on the pages."""

import re
from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.test import Client
from django.utils import timezone

from accounts.models import Customer, User
from tests.accounts.factories import PASSWORD, UserFactory, VerifiedUserFactory, openssh_public_key

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 42"


def link_in(message) -> str:
    [url] = re.findall(r"http://testserver(/accounts/\S+/)", message.body)
    return url


def sign_up(client: Client, email: str, password: str = PASSWORD):
    return client.post(
        "/accounts/signup/", {"email": email, "password1": password, "password2": password}
    )


def test_sign_up_creates_user_and_customer_and_asks_to_verify(client, mailoutbox):
    response = sign_up(client, "Ada@Example.com")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get()
    assert user.email == "ada@example.com"
    assert Customer.objects.get(user=user).public_id.startswith("cus_")
    [message] = mailoutbox
    assert message.to == ["ada@example.com"]
    assert "/accounts/confirm-email/" in message.body
    # Not logged in until the link is followed.
    assert client.get("/api/v1/account").status_code == 401


def test_sign_up_with_a_taken_email_answers_the_same(client, mailoutbox):
    UserFactory(email="taken@example.com")

    taken = sign_up(Client(), "taken@example.com")
    fresh = sign_up(Client(), "fresh@example.com")

    assert (taken.status_code, taken["Location"]) == (fresh.status_code, fresh["Location"])
    assert User.objects.filter(email="taken@example.com").count() == 1
    # The owner of the taken address is told, privately, in their inbox.
    assert [m.to for m in mailoutbox] == [["taken@example.com"], ["fresh@example.com"]]
    assert "already" in mailoutbox[0].body.lower()


def test_weak_password_is_refused_on_the_form(client):
    response = sign_up(client, "ada@example.com", password="123456")

    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()
    assert not User.objects.exists()


def test_following_the_link_verifies_and_logs_in(client, mailoutbox):
    sign_up(client, "ada@example.com")
    link = link_in(mailoutbox[0])

    assert client.get(link).status_code == 200
    confirmed = client.post(link)

    assert confirmed.status_code == 302
    assert EmailAddress.objects.get(email="ada@example.com").verified is True
    assert client.get("/api/v1/account").json()["email_verified"] is True


def test_unverified_user_can_log_in_and_look_around_but_not_create(client):
    UserFactory(email="new@example.com")

    response = client.post("/accounts/login/", {"login": "new@example.com", "password": PASSWORD})

    assert response.status_code == 302
    page = client.get("/accounts/ssh-keys/")
    html = page.content.decode()
    assert "Verify your email address to launch machines" in html
    assert "Resend the link" in html
    added = client.post(
        "/accounts/ssh-keys/", {"name": "laptop", "public_key": openssh_public_key()}
    )
    assert "Verify your email address first" in added.content.decode()


def test_resend_link_sends_a_new_verification_email(client, mailoutbox):
    user = UserFactory(email="new@example.com")
    client.force_login(user)

    client.post("/accounts/email/", {"email": "new@example.com", "action_send": ""})

    [message] = mailoutbox
    assert message.to == ["new@example.com"]
    assert "/accounts/confirm-email/" in message.body


def messages_on(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_resend_within_the_cooldown_says_one_was_just_sent_and_when_another_can_be(
    client, mailoutbox
):
    user = UserFactory(email="new@example.com")
    client.force_login(user)
    resend = {"email": "new@example.com", "action_send": ""}
    start = timezone.now().replace(microsecond=0)

    with time_machine.travel(start, tick=False):
        first = client.post("/accounts/email/", resend, follow=True)
    with time_machine.travel(start + timedelta(seconds=50), tick=False):
        again = client.post("/accounts/email/", resend, follow=True)
    with time_machine.travel(start + timedelta(seconds=150), tick=False):
        last_seconds = client.post("/accounts/email/", resend, follow=True)
    with time_machine.travel(start + timedelta(seconds=181), tick=False):
        after = client.post("/accounts/email/", resend, follow=True)

    at = (start + timedelta(minutes=3)).strftime("%H:%M")
    assert messages_on(first) == ["Confirmation email sent to new@example.com."]
    assert messages_on(again) == [
        "We just sent a verification link to new@example.com: check your inbox and spam "
        f"folder. You can ask for another in 3 minutes (at {at} UTC)."
    ]
    assert messages_on(last_seconds) == [
        "We just sent a verification link to new@example.com: check your inbox and spam "
        f"folder. You can ask for another in 30 seconds (at {at} UTC)."
    ]
    assert "You can ask for another" in again.content.decode()
    assert messages_on(after) == ["Confirmation email sent to new@example.com."]
    assert len(mailoutbox) == 2


def test_a_used_verification_link_says_the_address_is_already_verified(client, mailoutbox):
    sign_up(client, "ada@example.com")
    link = link_in(mailoutbox[0])
    client.post(link)

    for browser in (client, Client()):
        shown = browser.get(link)
        posted = browser.post(link)

        for response in (shown, posted):
            assert response.status_code == 200
            html = response.content.decode()
            assert "<strong>ada@example.com</strong> is already verified" in html
            assert "expired or is invalid" not in html
    assert 'href="/deployments/">Go to your deployments</a>' in client.get(link).content.decode()
    assert 'href="/accounts/login/">Log in</a>' in Client().get(link).content.decode()


def test_a_forged_verification_link_is_still_invalid(client):
    user = UserFactory(email="ada@example.com")
    EmailAddress.objects.filter(user=user).update(verified=True)

    response = client.get("/accounts/confirm-email/MQ:1tAAAA:forged/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "expired or is invalid" in html
    assert "already verified" not in html
    assert client.post("/accounts/confirm-email/MQ:1tAAAA:forged/").status_code == 404


def test_wrong_password_is_refused_on_the_form(client):
    UserFactory(email="ada@example.com")

    response = client.post("/accounts/login/", {"login": "ada@example.com", "password": "nope"})

    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in (
        response.content.decode()
    )
    assert client.get("/api/v1/account").status_code == 401


def test_repeated_failed_logins_are_rate_limited(client):
    UserFactory(email="ada@example.com")
    for _ in range(5):
        client.post("/accounts/login/", {"login": "ada@example.com", "password": "nope"})

    response = client.post("/accounts/login/", {"login": "ada@example.com", "password": PASSWORD})

    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()


def test_logout_ends_the_session(client):
    client.post("/accounts/login/", {"login": UserFactory().email, "password": PASSWORD})

    client.post("/accounts/logout/")

    assert client.get("/api/v1/account").status_code == 401


def reset_link(client: Client, email: str, mailoutbox) -> str:
    client.post("/accounts/password/reset/", {"email": email})
    return link_in(mailoutbox[-1])


def test_password_reset_by_emailed_link(client, mailoutbox):
    UserFactory(email="ada@example.com")
    link = reset_link(client, "ada@example.com", mailoutbox)

    form_page = client.get(link, follow=True)
    set_password_url = form_page.redirect_chain[-1][0]
    done = client.post(set_password_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert done.status_code == 302
    assert User.objects.get().check_password(NEW_PASSWORD)


def test_a_used_reset_link_is_refused(client, mailoutbox):
    UserFactory(email="ada@example.com")
    link = reset_link(client, "ada@example.com", mailoutbox)
    set_password_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(set_password_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    again = Client().get(link, follow=True)

    assert "Bad Token" in again.content.decode()
    assert User.objects.get().check_password(NEW_PASSWORD)


def test_an_expired_reset_link_is_refused(client, mailoutbox, settings):
    UserFactory(email="ada@example.com")
    link = reset_link(client, "ada@example.com", mailoutbox)

    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    ):
        response = Client().get(link, follow=True)

    assert "Bad Token" in response.content.decode()
    assert User.objects.get().check_password(PASSWORD)


def test_reset_answers_the_same_for_unknown_addresses(mailoutbox):
    UserFactory(email="ada@example.com")

    known = Client().post("/accounts/password/reset/", {"email": "ada@example.com"})
    unknown = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"})

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    # The unknown address is told there is no account, so nothing tells a third party either.
    assert [m.to for m in mailoutbox] == [["ada@example.com"], ["nobody@example.com"]]


def test_password_change_ends_the_other_sessions():
    user = VerifiedUserFactory()
    laptop, phone = Client(), Client()
    for client in (laptop, phone):
        client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})

    response = laptop.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert laptop.get("/api/v1/account").status_code == 200
    assert phone.get("/api/v1/account").status_code == 401
    assert len(laptop.get("/api/v1/account/sessions").json()["results"]) == 1


def test_email_change_takes_effect_once_the_new_address_is_verified(client, mailoutbox):
    user = VerifiedUserFactory(email="old@example.com")
    client.force_login(user)

    client.post("/accounts/email/", {"email": "new@example.com", "action_add": ""})

    user.refresh_from_db()
    assert user.email == "old@example.com"
    [message] = [m for m in mailoutbox if m.to == ["new@example.com"]]
    client.post(link_in(message))
    user.refresh_from_db()
    assert user.email == "new@example.com"


def test_account_pages_need_login(client):
    for path in ("/accounts/settings/", "/accounts/ssh-keys/", "/accounts/sessions/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_settings_page_saves_and_shows_errors(client):
    user = VerifiedUserFactory()
    client.force_login(user)

    saved = client.post(
        "/accounts/settings/",
        {
            "display_name": "Ada",
            "company": "",
            "time_zone": "Europe/Paris",
            "notify_low_balance": "on",
        },
    )
    bad = client.post("/accounts/settings/", {"display_name": "Ada", "time_zone": "Mars/Base"})

    assert saved.status_code == 302
    customer = Customer.objects.get(user=user)
    assert (customer.display_name, customer.time_zone) == ("Ada", "Europe/Paris")
    assert (customer.notify_low_balance, customer.notify_deployment_failed) == (True, False)
    assert bad.status_code == 200
    assert "Select a valid choice" in bad.content.decode()


def test_ssh_keys_page_adds_shows_and_deletes_a_key(client):
    user = VerifiedUserFactory()
    client.force_login(user)

    client.post("/accounts/ssh-keys/", {"name": "laptop", "public_key": openssh_public_key()})
    page = client.get("/accounts/ssh-keys/").content.decode()
    key = user.customer.ssh_keys.get()
    assert key.fingerprint in page
    assert client.get(f"/accounts/ssh-keys/{key.public_id}/delete/").status_code == 200
    client.post(f"/accounts/ssh-keys/{key.public_id}/delete/")

    assert not user.customer.ssh_keys.exists()


def test_ssh_keys_page_shows_why_a_key_is_refused(client):
    client.force_login(VerifiedUserFactory())

    response = client.post("/accounts/ssh-keys/", {"name": "x", "public_key": "garbage data"})

    assert response.status_code == 200
    assert "Key type &#x27;garbage&#x27; is not supported." in response.content.decode()


def test_sessions_page_lists_and_revokes(client):
    user = VerifiedUserFactory()
    other = Client(
        HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
    )
    other.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})

    page = client.get("/accounts/sessions/").content.decode()
    assert "Firefox 133 on Linux" in page
    assert "This device" in page

    client.post("/accounts/sessions/revoke-others/")

    assert other.get("/api/v1/account").status_code == 401
    assert client.get("/api/v1/account").status_code == 200


def test_another_users_session_cannot_be_revoked_from_the_page(client):
    victim = Client()
    victim_user = UserFactory()
    victim.post("/accounts/login/", {"login": victim_user.email, "password": PASSWORD})
    victim_session = victim_user.login_sessions.get()
    client.force_login(UserFactory())

    response = client.post(f"/accounts/sessions/{victim_session.public_id}/revoke/")

    assert response.status_code == 404
    assert victim.get("/api/v1/account").status_code == 200
