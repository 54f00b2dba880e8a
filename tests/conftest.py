import pytest
from django.core.cache import cache
from django.db.backends.signals import connection_created
from rest_framework.test import APIClient

pytest_plugins = ["tests.devcloud", "tests.billing.stripe_sim"]


def _ledger_truncate_allowed(sender, connection, **kwargs):
    """Transactional tests end by TRUNCATE-ing every table, which the ledger's append-only
    trigger refuses unless the session allows it (tests/billing/test_triggers.py turns it off)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET billing.allow_truncate = 'on'")


connection_created.connect(_ledger_truncate_allowed)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty Redis cache (throttle counters, cached reads)."""
    cache.clear()


@pytest.fixture(autouse=True)
def _consumers_keep_the_test_connection(monkeypatch):
    """Channels closes "old" database connections before every consumer handler
    (`channels.db.close_old_connections`). The test's connection is inside the test's
    transaction (autocommit off), which Django reads as obsolete, so a handler that ran
    while the test awaited anything but its communicator (which patches this only inside
    send_input/receive_output) closed it, and the test's next query failed: the flaky
    503s of the WebSocket tests. A server's connections are never in a test transaction."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


@pytest.fixture(autouse=True)
def _wallet_marks_sent_at_once(settings):
    """A posting's balance-change mark goes to Redis before the test goes on, not from a
    thread a moment later (into the next test's emptied Redis); test_wallet_reactions
    covers the linger."""
    settings.WALLET_REACTIONS_LINGER_SECONDS = 0


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 takes a third of a second on purpose; tests hash hundreds of passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    from tests.accounts.factories import UserFactory

    return UserFactory()


@pytest.fixture
def logged_in_client(api_client, user) -> APIClient:
    api_client.force_login(user)
    return api_client


@pytest.fixture
def unused_tcp_port() -> int:
    """A port nothing listens on: pointing a dependency here makes it unreachable."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
