"""A wallet change marks its customer; one queued drain pushes and checks every marked
customer once, however many postings came before it, and no change is lost."""

import logging
import time

import pytest
from django.conf import settings
from django.db import OperationalError

from deployments import events, tasks, wallet_reactions
from tests.accounts.factories import UserFactory
from tests.billing.conftest import ledger_assert_verified, top_up, use

pytestmark = pytest.mark.django_db


def queued_drains() -> int:
    """Drain tasks waiting in the broker (the test's Redis db, emptied before each test)."""
    return wallet_reactions._redis().llen("celery")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    def committed(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return committed


@pytest.fixture
def pushed(monkeypatch):
    """The customers each balance push was for (the push itself is test_consumers')."""
    calls: list[set[int]] = []
    original = events.publish_balances

    def publish_balances(*, customer_ids):
        calls.append(set(customer_ids))
        original(customer_ids=customer_ids)

    monkeypatch.setattr(events, "publish_balances", publish_balances)
    return calls


@pytest.fixture
def checked(monkeypatch):
    """The customers each drain asked low balance to check (the policy is test_low_balance's)."""
    calls: list[int] = []

    def low_balance_check_many(*, customer_ids, now=None):
        calls.extend(sorted(customer_ids))
        return len(customer_ids)

    monkeypatch.setattr(
        wallet_reactions.low_balance, "low_balance_check_many", low_balance_check_many
    )
    return calls


def test_a_burst_of_postings_queues_one_drain_that_pushes_and_checks_each_customer_once(
    committed, pushed, checked
):
    first, second = UserFactory().customer, UserFactory().customer
    for n in range(10):
        committed(top_up, first, 1_000_000, key=f"test:burst:first:{n}")
        committed(top_up, second, 2_000_000, key=f"test:burst:second:{n}")

    assert queued_drains() == 1
    tasks.wallet_reactions_drain_task()  # as the worker would

    assert pushed == [{first.pk, second.pk}]
    assert sorted(checked) == sorted([first.pk, second.pk])
    # Drained: nothing is left to do, and the next change queues the next drain.
    assert wallet_reactions.wallet_reactions_drain() == (0, 0)
    committed(top_up, first, 1_000_000, key="test:burst:after")
    assert queued_drains() == 2
    ledger_assert_verified()


def test_a_change_while_a_drain_runs_queues_the_next_drain(committed, pushed, monkeypatch):
    first, second = UserFactory().customer, UserFactory().customer
    committed(top_up, first, 1_000_000, key="test:during:first")
    checked = []

    def low_balance_check_many(*, customer_ids, now=None):
        checked.extend(customer_ids)
        if first.pk in customer_ids:  # a posting lands while the drain works
            committed(top_up, second, 1_000_000, key="test:during:second")
        return len(customer_ids)

    monkeypatch.setattr(
        wallet_reactions.low_balance, "low_balance_check_many", low_balance_check_many
    )
    assert wallet_reactions.wallet_reactions_drain() == (1, 1)
    assert queued_drains() == 2  # the first drain, and the one the second posting queued

    assert wallet_reactions.wallet_reactions_drain() == (1, 1)
    assert pushed == [{first.pk}, {second.pk}]
    assert checked == [first.pk, second.pk]


def test_metering_usage_is_checked_but_not_pushed(committed, pushed, checked):
    customer = UserFactory().customer
    committed(top_up, customer, 5_000_000, key="test:usage:funds")
    wallet_reactions.wallet_reactions_drain()
    pushed.clear(), checked.clear()

    committed(use, customer, 1_000_000, key="test:usage:spent")  # not metering: pushed
    assert wallet_reactions.wallet_reactions_drain() == (1, 1)

    wallet_reactions.wallet_reaction_mark(customer_id=customer.pk, push=False)  # metering's
    assert wallet_reactions.wallet_reactions_drain() == (0, 1)
    assert pushed == [{customer.pk}]
    assert checked == [customer.pk, customer.pk]


def test_the_posting_stands_when_redis_is_down(committed, monkeypatch, unused_tcp_port, caplog):
    customer = UserFactory().customer
    monkeypatch.setattr(settings, "REDIS_URL", f"redis://127.0.0.1:{unused_tcp_port}/0")

    with caplog.at_level(logging.ERROR, logger="deployments.receivers"):
        posted = committed(top_up, customer, 1_000_000, key="test:redis-down")

    assert posted.pk is not None
    assert "wallet_reactions.not_marked" in caplog.text
    ledger_assert_verified()


def test_a_drain_that_cannot_check_puts_the_marks_back(committed, monkeypatch):
    customer = UserFactory().customer
    committed(top_up, customer, 1_000_000, key="test:db-away")

    def database_away(*, customer_ids, now=None):
        raise OperationalError("the database is away")

    monkeypatch.setattr(wallet_reactions.low_balance, "low_balance_check_many", database_away)
    with pytest.raises(OperationalError):
        wallet_reactions.wallet_reactions_drain()

    monkeypatch.undo()
    checked = []
    monkeypatch.setattr(
        wallet_reactions.low_balance,
        "low_balance_check_many",
        lambda *, customer_ids, now=None: checked.extend(customer_ids) or len(customer_ids),
    )
    assert wallet_reactions.wallet_reactions_drain() == (0, 1)
    assert checked == [customer.pk]


def wait_until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_a_process_sends_the_marks_of_a_linger_in_one_round_trip(
    settings, committed, pushed, checked, monkeypatch
):
    settings.WALLET_REACTIONS_LINGER_SECONDS = 3.0  # longer than nine postings take
    trips: list[set[int]] = []
    send = wallet_reactions._marks_send

    def counted(*, check, push):
        trips.append(set(check))
        send(check=check, push=push)

    monkeypatch.setattr(wallet_reactions, "_marks_send", counted)
    customers = [UserFactory().customer for _ in range(3)]
    for n, customer in enumerate(customers * 3):
        committed(top_up, customer, 1_000_000, key=f"test:linger:{n}")

    assert queued_drains() == 0  # kept for the linger, not sent posting by posting
    assert wait_until(lambda: queued_drains() == 1, seconds=10)  # the process's own thread
    assert trips == [{customer.pk for customer in customers}]
    assert wallet_reactions.wallet_reactions_drain() == (3, 3)
    assert pushed == [{customer.pk for customer in customers}]
    ledger_assert_verified()


def test_marks_the_thread_could_not_send_are_kept_for_the_next_try(
    settings, committed, unused_tcp_port, caplog, monkeypatch
):
    settings.WALLET_REACTIONS_LINGER_SECONDS = 0.05
    monkeypatch.setattr(wallet_reactions, "RETRY_SECONDS", 30)  # the test sends them itself
    reachable = settings.REDIS_URL
    customer = UserFactory().customer
    settings.REDIS_URL = f"redis://127.0.0.1:{unused_tcp_port}/0"

    with caplog.at_level(logging.ERROR, logger="deployments.wallet_reactions"):
        posted = committed(top_up, customer, 1_000_000, key="test:linger:redis-down")
        assert wait_until(lambda: "wallet_reactions.not_marked" in caplog.text)

    assert posted.pk is not None  # the posting stands
    settings.REDIS_URL = reachable
    assert wallet_reactions.marks_flush() == 1  # still there when Redis is back
    assert queued_drains() == 1
    assert wallet_reactions.wallet_reactions_drain() == (1, 1)


def test_the_thread_sends_its_kept_marks_once_redis_is_back(
    settings, committed, unused_tcp_port, caplog, monkeypatch
):
    settings.WALLET_REACTIONS_LINGER_SECONDS = 0.05
    monkeypatch.setattr(wallet_reactions, "RETRY_SECONDS", 0.1)
    reachable = settings.REDIS_URL
    customer = UserFactory().customer
    settings.REDIS_URL = f"redis://127.0.0.1:{unused_tcp_port}/0"

    with caplog.at_level(logging.ERROR, logger="deployments.wallet_reactions"):
        committed(top_up, customer, 1_000_000, key="test:linger:redis-back")
        assert wait_until(lambda: "wallet_reactions.not_marked" in caplog.text)

    settings.REDIS_URL = reachable  # and no further change comes to wake the thread
    assert wait_until(lambda: queued_drains() == 1)
    assert wallet_reactions.wallet_reactions_drain() == (1, 1)
