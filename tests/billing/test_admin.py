import uuid

import pytest
from django.test import Client

from accounts.models import ActivityEntry, User
from billing import selectors
from billing.models import LedgerAccount, LedgerEntry, LedgerTransaction
from tests.accounts.factories import PASSWORD
from tests.billing.conftest import form_submission, ledger_assert_verified, top_up

pytestmark = pytest.mark.usefixtures("ledger_verified")


@pytest.fixture
def staff_user(db):
    return User.objects.create_superuser("staff@example.com", PASSWORD)


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/billing/ledgeraccount/?q=wallet",
        "/admin/billing/ledgertransaction/?q=txn_",
        "/admin/billing/ledgerentry/?q=txn_",
        "/admin/billing/hold/",
        "/admin/billing/customerbalance/?q=cus_",
        "/admin/accounts/activityentry/?q=cus_",
    ],
)
def test_staff_can_read_every_billing_list(staff_client, customer, path):
    top_up(customer, 1_000_000)

    assert staff_client.get(path).status_code == 200


def test_the_ledger_cannot_be_added_to_changed_or_deleted_even_by_a_superuser(
    staff_client, customer
):
    txn = top_up(customer, 1_000_000)
    entry = LedgerEntry.objects.filter(transaction=txn).first()
    account = LedgerAccount.objects.get(customer=customer)

    assert staff_client.get("/admin/billing/ledgertransaction/add/").status_code == 403
    assert staff_client.get("/admin/billing/ledgerentry/add/").status_code == 403
    assert (
        staff_client.post(f"/admin/billing/ledgertransaction/{txn.pk}/delete/").status_code == 403
    )
    assert staff_client.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/").status_code == 403
    change = staff_client.post(
        f"/admin/billing/ledgeraccount/{account.pk}/change/", {"posted_balance": 5}
    )
    assert change.status_code == 403
    assert LedgerTransaction.objects.count() == 1
    assert LedgerAccount.objects.get(customer=customer).posted_balance == 1_000_000


def test_staff_credit_a_balance_with_a_reason_and_the_log_names_them(
    staff_client, staff_user, customer
):
    response = staff_client.post(
        f"/admin/billing/customerbalance/{customer.pk}/adjust/",
        {
            "direction": "credit",
            "amount": "12.50",
            "reason": "Compensation for outage #42",
            "submission": adjust_form(staff_client, customer),
        },
    )

    assert response.status_code == 302
    assert selectors.wallet_balance(customer=customer).posted == 12_500_000
    txn = LedgerTransaction.objects.get()
    assert (txn.kind, txn.memo) == ("adjustment", "Compensation for outage #42")
    entry = ActivityEntry.objects.get(customer=customer)
    assert (entry.verb, entry.actor_kind, entry.actor_user_id, entry.actor_label) == (
        "balance.adjusted",
        "staff",
        staff_user.pk,
        "staff@example.com",
    )
    assert entry.object_id == txn.public_id
    assert entry.data == {
        "amount": "12.500000",
        "currency": "USD",
        "reason": "Compensation for outage #42",
    }
    assert entry.ip_address == "127.0.0.1"


def test_a_debit_beyond_the_available_balance_is_refused_and_nothing_is_posted(
    staff_client, customer
):
    top_up(customer, 5_000_000)

    response = staff_client.post(
        f"/admin/billing/customerbalance/{customer.pk}/adjust/",
        {
            "direction": "debit",
            "amount": "5.000001",
            "reason": "Correction",
            "submission": adjust_form(staff_client, customer),
        },
    )

    assert response.status_code == 200
    assert "The balance available does not cover this payment." in response.content.decode()
    assert selectors.wallet_balance(customer=customer).posted == 5_000_000
    assert LedgerTransaction.objects.count() == 1
    assert not ActivityEntry.objects.filter(verb="balance.adjusted").exists()


def test_an_adjustment_without_a_reason_is_refused(staff_client, customer):
    response = staff_client.post(
        f"/admin/billing/customerbalance/{customer.pk}/adjust/",
        {
            "direction": "credit",
            "amount": "1",
            "reason": "",
            "submission": adjust_form(staff_client, customer),
        },
    )

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not LedgerTransaction.objects.exists()


def test_staff_without_the_permission_cannot_adjust(customer):
    clerk = User.objects.create_user("clerk@example.com", PASSWORD, is_staff=True)
    client = Client()
    client.force_login(clerk)

    response = client.post(
        f"/admin/billing/customerbalance/{customer.pk}/adjust/",
        {
            "direction": "credit",
            "amount": "1",
            "reason": "Because",
            "submission": str(uuid.uuid4()),
        },
    )

    assert response.status_code == 403
    assert not LedgerTransaction.objects.exists()


def adjust_form(staff_client, customer) -> str:
    return form_submission(staff_client, f"/admin/billing/customerbalance/{customer.pk}/adjust/")


def test_an_adjustment_sent_twice_posts_once(staff_client, customer):
    url = f"/admin/billing/customerbalance/{customer.pk}/adjust/"
    data = {
        "direction": "credit",
        "amount": "12.50",
        "reason": "Compensation",
        "submission": adjust_form(staff_client, customer),
    }

    first = staff_client.post(url, data)
    again = staff_client.post(url, data)  # a double click, or the browser resending

    assert (first.status_code, again.status_code) == (302, 302)
    assert selectors.wallet_balance(customer=customer).posted == 12_500_000
    assert LedgerTransaction.objects.count() == 1
    assert ActivityEntry.objects.filter(verb="balance.adjusted").count() == 1
    # A new form is a new adjustment.
    staff_client.post(url, {**data, "submission": adjust_form(staff_client, customer)})
    assert selectors.wallet_balance(customer=customer).posted == 25_000_000
    ledger_assert_verified()
