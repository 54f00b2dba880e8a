import json
import time
import uuid

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.activity import Actor
from accounts.models import ActivityEntry, User
from billing import payments, selectors
from billing.devstripe.store import sign
from billing.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TopUp,
    TransactionKind,
    WebhookEvent,
)
from tests.accounts.factories import PASSWORD, UserFactory
from tests.billing.conftest import form_submission, ledger_assert_verified, top_up
from tests.billing.stripe_sim import SECRET

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


# --- Webhook events: process a failed one again ---------------------------------------


def paid_topup_with_a_failed_event(customer, stripe_sim, committed):
    """A top-up paid at Stripe whose `checkout.session.completed` event failed for good:
    Stripe refused the read once (400), so the event is FAILED and nothing was credited."""
    topup = payments.topup_create(
        customer=customer, amount=5000, actor=Actor.system(), return_url_base="http://testserver"
    )
    stripe_sim.pay(topup)
    stripe_sim.faults(
        http=[{"method": "GET", "path": "/v1/checkout/sessions", "status": 400, "count": 1}]
    )
    body = json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "data": {"object": {"id": topup.checkout_session_id}},
        }
    ).encode()
    with committed():
        response = Client().post(
            "/webhooks/stripe/",
            data=body,
            content_type="application/json",
            headers={"stripe-signature": sign(body, SECRET, int(time.time()))},
        )
    assert response.status_code == 200
    event = WebhookEvent.objects.get(event_id="evt_1")
    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)
    assert event.error.startswith("Not retried: Stripe refused it for good")
    assert selectors.wallet_balance(customer=customer).posted == 0
    return topup, event


def process_again(client, *events, follow=False):
    return client.post(
        "/admin/billing/webhookevent/",
        {"action": "process_again", "_selected_action": [event.pk for event in events]},
        follow=follow,
    )


def said(response) -> list[str]:
    """The messages the changelist shows after the action's redirect."""
    assert response.redirect_chain == [("/admin/billing/webhookevent/", 302)]
    return [str(message) for message in response.context["messages"]]


def topup_credits():
    return LedgerTransaction.objects.filter(kind=TransactionKind.TOPUP)


def test_staff_process_a_failed_event_again_once_its_cause_is_gone_and_it_credits_once(
    staff_client, staff_user, customer, stripe_sim, committed
):
    topup, event = paid_topup_with_a_failed_event(customer, stripe_sim, committed)

    with committed():
        response = process_again(staff_client, event, follow=True)

    assert said(response) == ["Queued to be processed again: 1 event(s)."]
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == (WebhookEvent.Status.PROCESSED, 2, "")
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    assert selectors.wallet_balance(customer=customer).posted == 50_000_000
    assert topup_credits().count() == 1
    [logged] = LogEntry.objects.all()
    assert (logged.user_id, logged.object_id, logged.get_change_message()) == (
        staff_user.pk,
        str(event.pk),
        "Queued to be processed again.",
    )

    with committed():
        again = process_again(staff_client, event, follow=True)  # now PROCESSED

    assert said(again) == [
        "Skipped: evt_1 (It is processed: only a failed event is processed again.)"
    ]
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.PROCESSED, 2)
    assert selectors.wallet_balance(customer=customer).posted == 50_000_000
    assert topup_credits().count() == 1
    assert LogEntry.objects.count() == 1
    ledger_assert_verified()


def test_a_failed_event_whose_payment_was_credited_meanwhile_changes_no_money_again(
    staff_client, customer, stripe_sim, committed
):
    topup, event = paid_topup_with_a_failed_event(customer, stripe_sim, committed)
    payments.topup_refresh(topup=topup)  # the customer's return page credited it
    assert selectors.wallet_balance(customer=customer).posted == 50_000_000

    with committed():
        response = process_again(staff_client, event, follow=True)

    assert said(response) == ["Queued to be processed again: 1 event(s)."]
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert selectors.wallet_balance(customer=customer).posted == 50_000_000
    assert topup_credits().count() == 1
    ledger_assert_verified()


def test_the_process_again_button_on_a_failed_event_queues_it(
    staff_client, customer, stripe_sim, committed
):
    topup, event = paid_topup_with_a_failed_event(customer, stripe_sim, committed)
    change = f"/admin/billing/webhookevent/{event.pk}/change/"
    url = f"/admin/billing/webhookevent/{event.pk}/process-again/"
    assert url in staff_client.get(change).content.decode()
    assert staff_client.get(url).status_code == 200

    with committed():
        response = staff_client.post(url)

    assert (response.status_code, response["Location"]) == (302, change)
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    assert selectors.wallet_balance(customer=customer).posted == 50_000_000
    assert url not in staff_client.get(change).content.decode()  # for failed events only


def test_a_customer_cannot_process_an_event_again(customer, stripe_sim, committed):
    _, event = paid_topup_with_a_failed_event(customer, stripe_sim, committed)
    client = Client()
    client.force_login(UserFactory())

    with committed():
        action = process_again(client, event)
        button = client.post(f"/admin/billing/webhookevent/{event.pk}/process-again/")

    assert (action.status_code, button.status_code) == (302, 302)
    assert action["Location"].startswith("/admin/login/")
    assert button["Location"].startswith("/admin/login/")
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)
    assert selectors.wallet_balance(customer=customer).posted == 0
    assert not LogEntry.objects.exists()


def test_staff_without_the_permission_cannot_process_an_event_again(
    customer, stripe_sim, committed
):
    _, event = paid_topup_with_a_failed_event(customer, stripe_sim, committed)
    clerk = User.objects.create_user("clerk@example.com", PASSWORD, is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client = Client()
    client.force_login(clerk)

    with committed():
        action = process_again(client, event)
        button = client.post(f"/admin/billing/webhookevent/{event.pk}/process-again/")

    assert action.status_code == 200  # the list, without the action
    assert 'value="process_again"' not in action.content.decode()
    assert button.status_code == 403
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)
    assert selectors.wallet_balance(customer=customer).posted == 0
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/billing/customerbalance/not-a-number/adjust/",
        "/admin/billing/invoice/not-a-number/credit-note/",
        "/admin/billing/topup/not-a-number/refund/",
        "/admin/billing/webhookevent/not-a-number/process-again/",
    ],
)
def test_a_staff_page_for_an_id_that_is_not_one_answers_without_an_error(staff_client, path):
    response = staff_client.get(path)

    assert response.status_code in (302, 404)  # the admin's "does not exist", never a 500
