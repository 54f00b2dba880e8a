import pytest

from billing import selectors, services
from billing.exceptions import HoldNotActive, InsufficientFunds
from billing.models import Hold, LedgerAccount
from tests.billing.conftest import top_up

pytestmark = pytest.mark.usefixtures("ledger_verified")


def balance_of(customer):
    balance = selectors.wallet_balance(customer=customer)
    return balance.posted, balance.held, balance.available


def test_a_hold_makes_money_unavailable_but_leaves_it_posted(customer):
    top_up(customer, 10_000_000)

    hold = services.hold_place(
        customer=customer, key="hold:dep_1", amount=2_310_000, subject="dep_1", memo="Next hour"
    )

    assert hold.public_id.startswith("hld_")
    assert (hold.status, hold.amount, hold.subject) == ("active", 2_310_000, "dep_1")
    assert balance_of(customer) == (10_000_000, 2_310_000, 7_690_000)


def test_placing_a_hold_twice_with_one_key_reserves_once(customer):
    top_up(customer, 10_000_000)

    first = services.hold_place(customer=customer, key="hold:dep_1", amount=1_000_000)
    again = services.hold_place(customer=customer, key="hold:dep_1", amount=1_000_000)

    assert again.pk == first.pk
    assert balance_of(customer) == (10_000_000, 1_000_000, 9_000_000)


def test_a_hold_larger_than_the_available_balance_is_refused(customer):
    top_up(customer, 1_000_000)

    with pytest.raises(InsufficientFunds) as raised:
        services.hold_place(customer=customer, key="hold:1", amount=1_000_001)

    assert raised.value.shortfall == 1
    assert not Hold.objects.exists()
    assert balance_of(customer) == (1_000_000, 0, 1_000_000)


def test_a_running_machine_may_hold_more_than_is_left(customer):
    top_up(customer, 1_000_000)

    services.hold_place(customer=customer, key="hold:1", amount=1_500_000, allow_short=True)

    assert balance_of(customer) == (1_000_000, 1_500_000, -500_000)


def test_a_hold_on_a_customer_without_a_wallet_is_refused_and_creates_only_the_wallet(customer):
    with pytest.raises(InsufficientFunds):
        services.hold_place(customer=customer, key="hold:1", amount=1)

    assert balance_of(customer) == (0, 0, 0)


def test_changing_a_hold_moves_the_held_amount_by_the_difference(customer):
    top_up(customer, 10_000_000)
    hold = services.hold_place(customer=customer, key="hold:1", amount=2_000_000)

    services.hold_change(hold=hold, amount=5_000_000)
    assert balance_of(customer) == (10_000_000, 5_000_000, 5_000_000)

    services.hold_change(hold=hold, amount=500_000)
    assert balance_of(customer) == (10_000_000, 500_000, 9_500_000)
    assert Hold.objects.get().amount == 500_000


def test_growing_a_hold_past_the_available_balance_is_refused(customer):
    top_up(customer, 3_000_000)
    hold = services.hold_place(customer=customer, key="hold:1", amount=2_000_000)

    with pytest.raises(InsufficientFunds) as raised:
        services.hold_change(hold=hold, amount=3_500_000)

    assert raised.value.shortfall == 500_000
    assert Hold.objects.get().amount == 2_000_000
    assert balance_of(customer) == (3_000_000, 2_000_000, 1_000_000)


def test_releasing_a_hold_frees_its_amount_once(customer):
    top_up(customer, 3_000_000)
    hold = services.hold_place(customer=customer, key="hold:1", amount=2_000_000)

    released = services.hold_release(hold=hold)
    services.hold_release(hold=hold)

    assert (released.status, released.released_at is not None) == ("released", True)
    assert balance_of(customer) == (3_000_000, 0, 3_000_000)
    with pytest.raises(HoldNotActive):
        services.hold_change(hold=hold, amount=1)
    assert LedgerAccount.objects.get(customer=customer).held_amount == 0
