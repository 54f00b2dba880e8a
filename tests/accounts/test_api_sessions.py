import pytest
from django.test import Client

from accounts.models import LoginSession
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def logged_in(user, user_agent=FIREFOX_LINUX, ip="203.0.113.7") -> Client:
    """Logs in through the login page, as a browser does."""
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def test_sessions_list_shows_devices_and_marks_this_one():
    user = UserFactory()
    laptop = logged_in(user)
    logged_in(user, SAFARI_IPHONE, "198.51.100.9")

    body = laptop.get("/api/v1/account/sessions").json()

    sessions = body["results"]
    assert [
        (s["browser"], s["operating_system"], s["ip_address"], s["current"]) for s in sessions
    ] == [
        ("Mobile Safari 17", "iOS", "198.51.100.9", False),
        ("Firefox 133", "Ubuntu", "203.0.113.7", True),
    ]
    assert all(s["id"].startswith("ses_") for s in sessions)
    assert "session_key" not in sessions[0]
    keys = set(LoginSession.objects.values_list("session_key", flat=True))
    assert not any(key in str(body) for key in keys)


def test_revoked_session_is_refused_on_its_next_request():
    user = UserFactory()
    laptop = logged_in(user)
    phone = logged_in(user, SAFARI_IPHONE)
    phone_session = next(
        s for s in laptop.get("/api/v1/account/sessions").json()["results"] if not s["current"]
    )

    response = laptop.delete(f"/api/v1/account/sessions/{phone_session['id']}")

    assert response.status_code == 204
    assert phone.get("/api/v1/account").status_code == 401
    assert laptop.get("/api/v1/account").status_code == 200
    assert [s["current"] for s in laptop.get("/api/v1/account/sessions").json()["results"]] == [
        True
    ]


def test_revoking_this_session_logs_out():
    user = UserFactory()
    laptop = logged_in(user)
    [mine] = laptop.get("/api/v1/account/sessions").json()["results"]

    assert laptop.delete(f"/api/v1/account/sessions/{mine['id']}").status_code == 204

    assert laptop.get("/api/v1/account").status_code == 401
    assert not LoginSession.objects.exists()


def test_revoke_others_keeps_only_this_session():
    user = UserFactory()
    laptop = logged_in(user)
    others = [logged_in(user, SAFARI_IPHONE) for _ in range(2)]

    response = laptop.post("/api/v1/account/sessions/revoke-others")

    assert response.json() == {"revoked": 2}
    assert [c.get("/api/v1/account").status_code for c in others] == [401, 401]
    assert laptop.get("/api/v1/account").status_code == 200


def test_another_customers_session_is_not_found_and_survives():
    mallory = logged_in(UserFactory())
    alice = logged_in(UserFactory())
    [alices] = alice.get("/api/v1/account/sessions").json()["results"]

    assert mallory.delete(f"/api/v1/account/sessions/{alices['id']}").status_code == 404
    assert [s["id"] for s in mallory.get("/api/v1/account/sessions").json()["results"]] != [
        alices["id"]
    ]
    assert alice.get("/api/v1/account").status_code == 200
    # The inequality above holds whatever happens (Mallory lists her own session); this
    # is the check that says something: Alice's session is still hers and still listed.
    assert alices["id"] not in [
        s["id"] for s in mallory.get("/api/v1/account/sessions").json()["results"]
    ]
    assert [s["id"] for s in alice.get("/api/v1/account/sessions").json()["results"]] == [
        alices["id"]
    ]


def test_logout_removes_the_session_from_the_list():
    user = UserFactory()
    laptop = logged_in(user)
    phone = logged_in(user, SAFARI_IPHONE)

    phone.post("/accounts/logout/")

    assert len(laptop.get("/api/v1/account/sessions").json()["results"]) == 1


def test_logging_out_other_sessions_costs_the_same_for_two_or_five():
    """A password change ends all other sessions inside the user's own request."""
    from django.db import connection

    def revoke_others_queries(others: int) -> int:
        user = UserFactory()
        laptop = logged_in(user)
        phones = [logged_in(user, SAFARI_IPHONE) for _ in range(others)]
        executed: list[str] = []

        def count(execute, sql, params, many, context):
            executed.append(sql)
            return execute(sql, params, many, context)

        # An execute wrapper, not CaptureQueriesContext: each request resets the query log.
        with connection.execute_wrapper(count):
            assert laptop.post("/api/v1/account/sessions/revoke-others").json() == {
                "revoked": others
            }
        assert [phone.get("/api/v1/account").status_code for phone in phones] == [401] * others
        return len(executed)

    assert revoke_others_queries(5) == revoke_others_queries(2)
