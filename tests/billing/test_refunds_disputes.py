"""Refunds (staff and Stripe's dashboard) and disputes on paid top-ups, against devstripe."""

import pytest

from accounts.activity import Actor
from billing import payments, selectors, stripe_gateway
from billing.exceptions import RefundInvalid
from billing.models import Hold, LedgerTransaction, TopUp, TopUpRefund, TransactionKind
from tests.accounts.factories import UserFactory
from tests.billing.conftest import use

BASE = "http://testserver"


@pytest.fixture
def staff(db):
    return Actor.staff(UserFactory(is_staff=True))


@pytest.fixture
def paid(customer, stripe_sim):
    """A $50 top-up, paid and credited."""
    topup = payments.topup_create(
        customer=customer, amount=5000, actor=Actor.user(customer.user), return_url_base=BASE
    )
    stripe_sim.pay(topup)
    stripe_sim.deliver_and_process()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    return topup


def balance(customer):
    return selectors.wallet_balance(customer=customer)


def refunds_posted():
    return LedgerTransaction.objects.filter(kind=TransactionKind.REFUND)


def test_a_partial_then_the_rest_refunds_the_whole_topup(
    customer, paid, stripe_sim, staff, ledger_verified
):
    first = payments.topup_refund(topup=paid, amount=2000, reason="Asked by phone", actor=staff)
    stripe_sim.deliver_and_process()  # refund.created comes back: nothing more

    paid.refresh_from_db()
    assert first.status == TopUpRefund.Status.SUCCEEDED
    assert (paid.status, paid.amount_refunded) == (TopUp.Status.PARTIALLY_REFUNDED, 2000)
    assert balance(customer).posted == 30_000_000
    assert balance(customer).held == 0
    assert refunds_posted().get().idempotency_key == f"stripe:re:{first.stripe_id}"

    payments.topup_refund(topup=paid, amount=3000, reason="The rest", actor=staff)
    stripe_sim.deliver_and_process()
    paid.refresh_from_db()
    assert (paid.status, paid.refundable) == (TopUp.Status.REFUNDED, 0)
    assert balance(customer).posted == 0
    assert refunds_posted().count() == 2


def test_a_refund_of_more_than_is_left_is_refused_and_changes_nothing(
    customer, paid, stripe_sim, staff, ledger_verified
):
    payments.topup_refund(topup=paid, amount=4000, reason="Most", actor=staff)
    events_before = len(stripe_sim.store.events)

    with pytest.raises(RefundInvalid) as refused:
        payments.topup_refund(topup=paid, amount=1001, reason="Too much", actor=staff)

    assert refused.value.errors == {
        "amount": ["Refund between $0.01 and $10.00, what is left of it."]
    }
    assert TopUpRefund.objects.count() == 1
    assert len(stripe_sim.store.events) == events_before
    assert balance(customer).posted == 10_000_000


def test_a_refund_of_more_than_the_wallet_has_available_is_refused(
    customer, paid, stripe_sim, staff, ledger_verified
):
    use(customer, 45_000_000, key="usage:test:1")  # $45 of the $50 spent on machines

    with pytest.raises(RefundInvalid, match=r"\$5.00 available"):
        payments.topup_refund(topup=paid, amount=1000, reason="Unused part", actor=staff)

    assert not TopUpRefund.objects.exists()
    assert not Hold.objects.exists()
    assert balance(customer).posted == 5_000_000
    assert not refunds_posted().exists()


def test_a_dashboard_refund_delivered_three_times_debits_once(
    customer, paid, stripe_sim, ledger_verified
):
    stripe_sim.faults(duplicate=3)
    stripe_sim.control(
        "POST", "refunds", {"payment_intent": paid.payment_intent_id, "amount": 1500}
    )

    stripe_sim.deliver_and_process()

    refund = TopUpRefund.objects.get()
    assert (refund.amount, refund.requested_by) == (1500, "Stripe dashboard")
    assert refunds_posted().count() == 1
    assert balance(customer).posted == 35_000_000


def test_a_failed_refund_is_credited_back_once(customer, paid, stripe_sim, staff, ledger_verified):
    refund = payments.topup_refund(topup=paid, amount=2000, reason="Asked", actor=staff)
    assert balance(customer).posted == 30_000_000
    stripe_sim.faults(duplicate=2)
    stripe_sim.control("POST", f"refunds/{refund.stripe_id}/fail")

    stripe_sim.deliver_and_process()

    refund.refresh_from_db()
    paid.refresh_from_db()
    assert refund.status == TopUpRefund.Status.FAILED
    assert refund.reversal.idempotency_key == f"stripe:re:{refund.stripe_id}:failed"
    assert (paid.status, paid.amount_refunded) == (TopUp.Status.SUCCEEDED, 0)
    assert balance(customer).posted == 50_000_000


def test_a_dispute_holds_the_amount_then_lost_posts_the_loss(
    customer, paid, stripe_sim, ledger_verified
):
    dispute = stripe_sim.control("POST", "disputes", {"payment_intent": paid.payment_intent_id})
    stripe_sim.deliver_and_process()

    paid.refresh_from_db()
    assert (paid.status, paid.needs_review) == (TopUp.Status.DISPUTED, True)
    assert (balance(customer).posted, balance(customer).held) == (50_000_000, 50_000_000)

    stripe_sim.control("POST", f"disputes/{dispute['id']}/close", {"status": "lost"})
    stripe_sim.deliver_and_process()

    assert (balance(customer).posted, balance(customer).held) == (0, 0)
    loss = LedgerTransaction.objects.get(kind=TransactionKind.DISPUTE)
    assert loss.idempotency_key == f"stripe:dp:{dispute['id']}:lost"


def test_a_dispute_won_releases_the_amount(customer, paid, stripe_sim, ledger_verified):
    dispute = stripe_sim.control("POST", "disputes", {"payment_intent": paid.payment_intent_id})
    stripe_sim.deliver_and_process()
    assert balance(customer).held == 50_000_000

    stripe_sim.control("POST", f"disputes/{dispute['id']}/close", {"status": "won"})
    stripe_sim.deliver_and_process()

    paid.refresh_from_db()
    assert paid.status == TopUp.Status.SUCCEEDED
    assert (balance(customer).posted, balance(customer).held) == (50_000_000, 0)
    assert not LedgerTransaction.objects.filter(kind=TransactionKind.DISPUTE).exists()


def test_a_dispute_lost_before_its_creation_arrives_posts_the_loss_once(
    customer, paid, stripe_sim, ledger_verified
):
    stripe_sim.faults(reorder=True)
    dispute = stripe_sim.control("POST", "disputes", {"payment_intent": paid.payment_intent_id})
    stripe_sim.control("POST", f"disputes/{dispute['id']}/close", {"status": "lost"})
    stripe_sim.control("POST", "flush")  # closed arrives first, then created

    stripe_sim.deliver_and_process()

    assert (balance(customer).posted, balance(customer).held) == (0, 0)
    assert LedgerTransaction.objects.filter(kind=TransactionKind.DISPUTE).count() == 1


def test_a_pending_refund_that_succeeds_later_reads_succeeded(customer, paid, ledger_verified):
    def stripe_says(status):
        return payments.refund_apply(
            refund=stripe_gateway.Refund(
                id="re_slow",
                amount=1000,
                currency="usd",
                status=status,
                payment_intent_id=paid.payment_intent_id,
                metadata={},
            )
        )

    assert stripe_says("pending").status == TopUpRefund.Status.PENDING
    assert stripe_says("succeeded").status == TopUpRefund.Status.SUCCEEDED
    assert refunds_posted().count() == 1  # debited once, when it went out
    assert balance(customer).posted == 40_000_000
