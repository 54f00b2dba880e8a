"""Card top-ups against devstripe: credited exactly once, whatever brings the news."""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection

from accounts.activity import Actor
from accounts.models import ActivityEntry, ActivityVerb
from billing import invoices, payments, selectors
from billing.exceptions import PaymentProviderError, TopUpInvalid, TopUpRequestKeyReused
from billing.models import (
    LedgerTransaction,
    PaymentCursor,
    Receipt,
    StripeCustomer,
    TopUp,
    TransactionKind,
    WebhookEvent,
)
from tests.billing.conftest import ledger_assert_verified
from tests.billing.stripe_sim import inbox_process

BASE = "http://testserver"


def create(customer, amount=5000, **kwargs):
    return payments.topup_create(
        customer=customer,
        amount=amount,
        actor=Actor.user(customer.user),
        return_url_base=BASE,
        **kwargs,
    )


def credits(topup):
    return LedgerTransaction.objects.filter(
        kind=TransactionKind.TOPUP, metadata__topup=topup.public_id
    )


def posted(customer):
    return selectors.wallet_balance(customer=customer).posted


def test_paying_with_4242_credits_the_wallet_once(customer, stripe_sim, ledger_verified):
    topup = create(customer)
    assert topup.status == TopUp.Status.PENDING
    assert topup.checkout_url == f"{stripe_sim.url}/checkout/{topup.checkout_session_id}"

    assert stripe_sim.pay(topup)["outcome"] == "succeeded"
    assert stripe_sim.deliver_and_process() == [200, 200, 200]

    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    assert (topup.amount_paid, topup.card_brand, topup.card_last4) == (5000, "visa", "4242")
    assert posted(customer) == 50_000_000
    [credit] = credits(topup)
    assert credit.idempotency_key == f"stripe:pi:{topup.payment_intent_id}"
    assert credit.metadata == {
        "topup": topup.public_id,
        "provider": "stripe",
        "payment_intent": topup.payment_intent_id,
        "card_brand": "visa",
        "card_last4": "4242",
    }
    verbs = set(ActivityEntry.objects.filter(customer=customer).values_list("verb", flat=True))
    assert {ActivityVerb.TOPUP_CREATED, ActivityVerb.TOPUP_SUCCEEDED} <= verbs


def details_set(customer, *, name, country):
    invoices.billing_details_update(
        customer=customer,
        actor=Actor.user(customer.user),
        name=name,
        address=f"{name}\nStreet 1",
        country=country,
        tax_id=f"{country}123",
    )


def test_a_paid_topup_has_its_receipt_at_once_with_the_details_of_that_moment(
    customer, stripe_sim, api_client, ledger_verified
):
    details_set(customer, name="Acme GmbH", country="DE")
    topup = create(customer)
    stripe_sim.pay(topup)
    stripe_sim.deliver_and_process()

    # Nobody has listed receipts: the receipt is there all the same.
    topup.refresh_from_db()
    receipt = Receipt.objects.get(customer=customer)
    assert receipt.transaction_id == topup.credit_id
    assert (receipt.amount, receipt.payment_method) == (50_000_000, "Visa ending 4242")
    assert receipt.paid_at == topup.credit.created_at
    details_set(customer, name="Other Ltd", country="FR")
    api_client.force_login(customer.user)
    [listed] = api_client.get("/api/v1/billing/receipts").json()["results"]
    assert listed["id"] == receipt.public_id
    assert listed["buyer"] == {
        "name": "Acme GmbH",
        "address": "Acme GmbH\nStreet 1",
        "country": "DE",
        "tax_id": "DE123",
        "email": customer.user.email,
    }


def test_a_payment_reported_again_and_again_has_one_receipt(customer, stripe_sim, ledger_verified):
    stripe_sim.faults(duplicate=2)
    topup = create(customer)
    stripe_sim.pay(topup)

    assert stripe_sim.deliver_and_process() == [200] * 6
    topup.refresh_from_db()
    payments.topup_fulfil(payment_intent_id=topup.payment_intent_id)  # a task retried
    payments.topup_session_sync(session_id=topup.checkout_session_id)  # the customer's return

    assert [(r.transaction_id, r.amount) for r in Receipt.objects.all()] == [
        (topup.credit_id, 50_000_000)
    ]


def test_every_event_three_times_in_reverse_order_credits_once(
    customer, stripe_sim, ledger_verified
):
    stripe_sim.faults(duplicate=3, reorder=True)
    topup = create(customer)
    stripe_sim.pay(topup)
    stripe_sim.control("POST", "flush")

    statuses = stripe_sim.deliver_and_process()

    assert statuses == [200] * 9
    assert WebhookEvent.objects.count() == 3
    assert credits(topup).count() == 1
    assert posted(customer) == 50_000_000


def test_a_dropped_webhook_is_credited_by_the_pull_job(
    customer, stripe_sim, settings, ledger_verified
):
    stripe_sim.faults(drop=True)
    settings.TOPUP_PULL_AFTER = 3600  # the event walk alone must find it
    topup = create(customer)
    stripe_sim.pay(topup)
    assert stripe_sim.deliver() == []

    result = payments.payments_pull()

    assert result["events"] == 3
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    assert posted(customer) == 50_000_000
    assert PaymentCursor.objects.get().last_event_id == stripe_sim.store.events[-1]["id"]
    assert payments.payments_pull() == {"refreshed": 0, "events": 0}
    assert credits(topup).count() == 1


def test_the_pull_job_rereads_a_topup_waiting_too_long(customer, stripe_sim, settings):
    stripe_sim.faults(drop=True)
    topup = create(customer)
    stripe_sim.pay(topup)
    PaymentCursor.objects.create(provider="stripe", last_event_id=stripe_sim.store.events[-1]["id"])
    settings.TOPUP_PULL_AFTER = 0

    assert payments.payments_pull()["refreshed"] == 1

    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    assert posted(customer) == 50_000_000
    ledger_assert_verified()


@pytest.mark.django_db(transaction=True)
def test_webhook_and_return_page_at_the_same_moment_credit_once(stripe_sim):
    from tests.accounts.factories import UserFactory

    customer = UserFactory().customer
    topup = create(customer)
    stripe_sim.pay(topup)
    stripe_sim.deliver()  # stored in the inbox, not processed yet
    start = threading.Barrier(2)
    errors = []

    def run(work):
        try:
            start.wait(timeout=10)
            work()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(inbox_process,)),
        threading.Thread(target=run, args=(lambda: payments.topup_refresh(topup=topup),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert credits(topup).count() == 1
    assert posted(customer) == 50_000_000
    ledger_assert_verified()


def test_a_paid_amount_that_differs_is_credited_as_paid_and_flagged(
    customer, stripe_sim, ledger_verified
):
    topup = create(customer)
    stripe_sim.pay(topup, amount=4000)
    stripe_sim.deliver_and_process()

    topup.refresh_from_db()
    assert topup.status == TopUp.Status.NEEDS_REVIEW
    assert topup.needs_review
    assert "4000" in topup.review_reason
    assert posted(customer) == 40_000_000
    assert ActivityEntry.objects.filter(verb=ActivityVerb.TOPUP_NEEDS_REVIEW).count() == 1


def test_another_currency_is_not_credited_and_flagged(customer, stripe_sim, ledger_verified):
    topup = create(customer)
    stripe_sim.pay(topup, currency="eur")
    stripe_sim.deliver_and_process()

    topup.refresh_from_db()
    assert (topup.status, topup.needs_review) == (TopUp.Status.NEEDS_REVIEW, True)
    assert posted(customer) == 0
    assert credits(topup).count() == 0


def test_a_declined_card_fails_the_topup_and_credits_nothing(customer, stripe_sim):
    topup = create(customer)

    assert stripe_sim.pay(topup, card="4000 0000 0000 0002")["outcome"] == "declined"
    stripe_sim.deliver_and_process()

    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED
    assert topup.failure_message == "Your card was declined."
    assert posted(customer) == 0

    # The customer tries again on the same page with a good card: paid after all.
    stripe_sim.pay(topup)
    stripe_sim.deliver_and_process()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    assert posted(customer) == 50_000_000
    ledger_assert_verified()


def test_an_expired_checkout_expires_the_topup(customer, stripe_sim):
    topup = create(customer)
    stripe_sim.control("POST", f"checkout/{topup.checkout_session_id}/expire")
    stripe_sim.deliver_and_process()

    topup.refresh_from_db()
    assert topup.status == TopUp.Status.EXPIRED


@pytest.mark.parametrize("amount", [499, 500_001])
def test_amounts_outside_the_limits_are_refused(customer, stripe_sim, amount):
    with pytest.raises(TopUpInvalid):
        create(customer, amount=amount)
    assert not TopUp.objects.exists()
    assert stripe_sim.store.objects == {}


def test_the_same_request_key_gives_the_same_topup(customer, stripe_sim):
    first = create(customer, request_key="k-1")
    second = create(customer, request_key="k-1")

    assert first.pk == second.pk
    assert first.checkout_session_id == second.checkout_session_id
    assert TopUp.objects.count() == 1


def test_a_request_key_reused_for_another_amount_is_refused(customer, stripe_sim):
    create(customer, request_key="k-2")

    with pytest.raises(TopUpRequestKeyReused):
        create(customer, amount=6000, request_key="k-2")
    assert TopUp.objects.count() == 1


def stripe_customers(stripe_sim) -> list[str]:
    return [key for key, obj in stripe_sim.store.objects.items() if obj["object"] == "customer"]


def test_a_stripe_customer_stripe_no_longer_knows_is_replaced_and_the_topup_goes_through(
    customer, stripe_sim, caplog, ledger_verified
):
    # Keys moved to another Stripe account, or devstripe restarted: the stored id is gone.
    StripeCustomer.objects.create(customer=customer, stripe_id="cus_gone")

    with caplog.at_level(logging.WARNING, logger="billing.payments.topups"):
        topup = create(customer)

    assert topup.status == TopUp.Status.PENDING
    [replacement] = stripe_customers(stripe_sim)
    assert StripeCustomer.objects.get(customer=customer).stripe_id == replacement
    assert stripe_sim.store.objects[topup.checkout_session_id]["customer"] == replacement
    [logged] = [record for record in caplog.records if record.msg == "stripe_customer.replaced"]
    assert (logged.customer, logged.stale, logged.replacement, logged.topup) == (
        customer.public_id,
        "cus_gone",
        replacement,
        topup.public_id,
    )
    stripe_sim.pay(topup)
    stripe_sim.deliver_and_process()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    assert posted(customer) == 50_000_000

    second = create(customer)  # the new id is kept: no other customer at Stripe

    assert second.status == TopUp.Status.PENDING
    assert stripe_sim.store.objects[second.checkout_session_id]["customer"] == replacement
    assert stripe_customers(stripe_sim) == [replacement]


def test_a_stripe_customer_forgotten_after_its_creation_is_replaced_by_another(
    customer, stripe_sim
):
    first = create(customer)
    forgotten = StripeCustomer.objects.get(customer=customer).stripe_id
    # Stripe no longer has it, but still remembers the request that created it (its
    # idempotency key customer:<id>): a replacement made with that key would be it again.
    del stripe_sim.store.objects[forgotten]

    topup = create(customer)

    assert (first.status, topup.status) == (TopUp.Status.PENDING, TopUp.Status.PENDING)
    [replacement] = stripe_customers(stripe_sim)
    assert replacement != forgotten
    assert StripeCustomer.objects.get(customer=customer).stripe_id == replacement


def test_a_topup_fails_when_the_replacement_customer_cannot_be_made(customer, stripe_sim):
    StripeCustomer.objects.create(customer=customer, stripe_id="cus_gone")
    stripe_sim.faults(http=[{"method": "POST", "path": "/v1/customers", "status": 400}])

    with pytest.raises(PaymentProviderError):
        create(customer)

    topup = TopUp.objects.get()
    assert (topup.status, topup.checkout_url) == (TopUp.Status.FAILED, "")
    assert StripeCustomer.objects.get(customer=customer).stripe_id == "cus_gone"
    assert stripe_customers(stripe_sim) == []


def test_a_cursor_stripe_no_longer_knows_starts_over(customer, stripe_sim, ledger_verified):
    stripe_sim.faults(drop=True)
    topup = create(customer)
    stripe_sim.pay(topup)
    PaymentCursor.objects.create(provider="stripe", last_event_id="evt_forgotten")

    payments.payments_pull()  # forgets the cursor
    payments.payments_pull()

    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    assert PaymentCursor.objects.get().last_event_id == stripe_sim.store.events[-1]["id"]


@pytest.mark.parametrize(
    ("intent_status", "failure", "expected"),
    [
        ("processing", "", TopUp.Status.PROCESSING),
        ("canceled", "", TopUp.Status.CANCELED),
        ("requires_payment_method", "Your card has insufficient funds.", TopUp.Status.FAILED),
        ("requires_action", "", TopUp.Status.PENDING),
    ],
)
def test_a_payment_not_yet_succeeded_moves_the_status_and_credits_nothing(
    customer, stripe_sim, intent_status, failure, expected
):
    from billing.stripe_gateway import Payment

    topup = create(customer)
    payment = Payment(
        id="pi_async",
        status=intent_status,
        amount=5000,
        amount_received=0,
        currency="USD",
        customer_id="",
        metadata={"topup": topup.public_id},
        card_brand="",
        card_last4="",
        failure_message=failure,
    )

    payments.topup_payment_apply(payment=payment)

    topup.refresh_from_db()
    assert (topup.status, topup.payment_intent_id) == (expected, "pi_async")
    assert posted(customer) == 0


def checkout_without_topup(stripe_sim, customer_id):
    """A Checkout Session made outside the portal (say, in Stripe's dashboard)."""
    import stripe

    client = stripe.StripeClient("sk_test_portal", base_addresses={"api": stripe_sim.url})
    params = {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 2000}}],
        "success_url": "http://elsewhere/ok",
        "cancel_url": "http://elsewhere/no",
    }
    if customer_id:
        params["customer"] = customer_id
    return client.v1.checkout.sessions.create(params=params)


def test_a_payment_for_no_known_topup_of_a_known_customer_is_credited_and_flagged(
    customer, stripe_sim, ledger_verified
):
    create(customer)  # gives the customer their Stripe customer
    session = checkout_without_topup(stripe_sim, customer.stripe_customer.stripe_id)
    stripe_sim.control("POST", f"checkout/{session.id}/pay", {"card": "4242424242424242"})

    stripe_sim.deliver_and_process()

    found = TopUp.objects.get(needs_review=True)
    assert (found.customer, found.amount_paid) == (customer, 2000)
    assert found.review_reason == "a payment for no known top-up"
    assert posted(customer) == 20_000_000


def test_a_payment_for_no_known_customer_is_not_credited_and_noted_for_staff(
    customer, stripe_sim, ledger_verified
):
    session = checkout_without_topup(stripe_sim, None)
    stripe_sim.control("POST", f"checkout/{session.id}/pay", {"card": "4242424242424242"})

    stripe_sim.deliver_and_process()

    assert not TopUp.objects.exists()
    assert not LedgerTransaction.objects.exists()
    noted = WebhookEvent.objects.filter(error__startswith="Needs review")
    assert set(noted.values_list("type", flat=True)) == {
        "payment_intent.succeeded",
        "checkout.session.completed",
    }


def test_the_pull_job_rereads_a_waiting_topup_once_per_interval(customer, stripe_sim, settings):
    topup = create(customer)
    TopUp.objects.filter(pk=topup.pk).update(
        created_at=topup.created_at - timedelta(minutes=10),
        updated_at=topup.created_at - timedelta(minutes=10),
    )
    settings.TOPUP_PULL_AFTER = 300

    assert payments.payments_pull()["refreshed"] == 1
    assert payments.payments_pull()["refreshed"] == 0  # not again before 5 minutes
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PENDING


def test_a_second_payment_for_a_credited_topup_is_credited_as_its_own_and_flagged(
    customer, stripe_sim, ledger_verified
):
    topup = create(customer, amount=2000)
    stripe_sim.pay(topup)
    stripe_sim.deliver_and_process()
    # The same top-up paid again through another Checkout Session (a second tab, say).
    session = checkout_without_topup(stripe_sim, customer.stripe_customer.stripe_id)
    stripe_sim.store.objects[session.id]["_intent_metadata"] = {"topup": topup.public_id}
    stripe_sim.control("POST", f"checkout/{session.id}/pay", {"card": "4242424242424242"})

    stripe_sim.deliver_and_process()

    second = TopUp.objects.get(needs_review=True)
    assert second.pk != topup.pk
    assert (second.amount_paid, second.review_reason) == (2000, "a second payment for one top-up")
    assert posted(customer) == 40_000_000  # both payments are in the wallet


def test_an_event_the_pull_job_cannot_process_does_not_hold_up_the_rest(
    customer, stripe_sim, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from billing.payments import inbox

    stripe_sim.faults(drop=True)
    settings.TOPUP_PULL_AFTER = 3600
    topup = create(customer)
    stripe_sim.pay(topup)
    process = inbox.webhook_event_process
    first = stripe_sim.store.events[0]["id"]

    def fails_on_the_first(*, event_pk):
        if WebhookEvent.objects.get(pk=event_pk).event_id == first:
            raise RuntimeError("a bug in one handler")
        return process(event_pk=event_pk)

    monkeypatch.setattr(inbox, "webhook_event_process", fails_on_the_first)
    with django_capture_on_commit_callbacks() as queued:
        payments.payments_pull()

    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED  # the later events went through
    assert PaymentCursor.objects.get().last_event_id == stripe_sim.store.events[-1]["id"]
    # The one that failed is queued to be retried like a webhook.
    assert [c for c in queued if "_process_later" in c.__qualname__] != []


def test_an_event_stripe_refuses_for_good_is_not_queued_again_by_the_pull_job(
    customer, stripe_sim, settings, django_capture_on_commit_callbacks
):
    stripe_sim.faults(drop=True)
    settings.TOPUP_PULL_AFTER = 3600
    topup = create(customer)
    stripe_sim.pay(topup)
    stripe_sim.faults(
        http=[{"method": "GET", "path": "/v1/payment_intents", "status": 400, "count": 50}]
    )

    with django_capture_on_commit_callbacks() as queued:
        payments.payments_pull()

    failed = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED)
    assert set(failed.values_list("type", flat=True)) == {
        "checkout.session.completed",
        "payment_intent.succeeded",
    }
    assert all(event.error.startswith("Not retried:") for event in failed)
    assert [c for c in queued if "_process_later" in c.__qualname__] == []
    assert PaymentCursor.objects.get().last_event_id == stripe_sim.store.events[-1]["id"]
    assert posted(customer) == 0
