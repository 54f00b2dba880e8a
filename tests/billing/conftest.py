import re
from contextlib import contextmanager

import pytest
from django.core.management import call_command

from billing import services
from billing.models import SystemAccount, TransactionKind
from billing.services import Line
from cloudportal.celery import app as celery_app
from tests.accounts.factories import UserFactory


def ledger_assert_verified():
    """Money tests end with this: `manage.py ledger_verify` passes (it raises otherwise)."""
    call_command("ledger_verify", stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture
def ledger_verified(db):
    """Use in a money test: after the test body, the ledger must verify."""
    yield
    ledger_assert_verified()


@pytest.fixture
def customer(db):
    return UserFactory().customer


@pytest.fixture
def other_customer(db):
    return UserFactory().customer


def top_up(customer, micros, *, key=None):
    """Credit the wallet as a card payment would."""
    return services.ledger_post(
        key=key or f"test:topup:{customer.public_id}:{micros}",
        kind=TransactionKind.TOPUP,
        memo="Card top-up",
        lines=[
            Line.wallet(customer, micros),
            Line.system(SystemAccount.CLEARING_STRIPE_CARD, -micros),
        ],
    )


FUNDS = 1_000_000_000  # $1,000: an hour of any machine the catalog offers, many times over


def fund(customer, micros=FUNDS):
    """A launch reserves an hour of the machine's price: tests that launch need money."""
    return top_up(customer, micros, key=f"test:fund:{customer.public_id}")


def drain(customer):
    """Bring the wallet's available balance to exactly zero (usage may take it there), for
    tests about a customer short of money; what is held stays held."""
    from billing import selectors

    available = selectors.wallet_balance(customer=customer).available
    if available > 0:
        use(customer, available, key=f"test:drain:{customer.public_id}:{available}")


def use(customer, micros, *, key):
    return services.ledger_post(
        key=key,
        kind=TransactionKind.USAGE,
        memo="GPU time",
        lines=[Line.wallet(customer, -micros), Line.system(SystemAccount.REVENUE_COMPUTE, micros)],
    )


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Runs what a block schedules after commit, with its Celery tasks executed in-process
    (the invoice emails), as a worker would (tests/support/conftest.py has the same)."""

    @contextmanager
    def run():
        celery_app.conf.task_always_eager = True
        celery_app.conf.task_eager_propagates = True
        try:
            with django_capture_on_commit_callbacks(execute=True):
                yield
        finally:
            celery_app.conf.task_always_eager = False
            celery_app.conf.task_eager_propagates = False

    return run


def form_submission(client, url) -> str:
    """The submission key a staff money form is shown with (its hidden input), as the
    browser sends it back."""
    page = client.get(url).content.decode()
    match = re.search(r'name="submission" value="([0-9a-f-]{36})"', page)
    assert match, "the form carries no submission key"
    return match.group(1)
