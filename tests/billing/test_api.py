from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from billing import services
from billing.models import TransactionKind
from tests.billing.conftest import top_up, use

pytestmark = pytest.mark.usefixtures("ledger_verified")


@pytest.fixture
def client(api_client, customer):
    api_client.force_login(customer.user)
    return api_client


def test_the_balance_of_a_new_customer_is_zero(client):
    response = client.get("/api/v1/billing/balance")

    assert response.status_code == 200
    assert response.json() == {
        "currency": "USD",
        "posted": "0.000000",
        "held": "0.000000",
        "available": "0.000000",
        "hourly_cost": "0.000000",
        "runway_hours": None,
    }


def test_the_balance_shows_posted_held_and_available_as_decimal_strings(client, customer):
    top_up(customer, 25_000_000)
    use(customer, 2_310_001, key="usage:1")
    services.hold_place(customer=customer, key="hold:1", amount=4_620_000)

    assert client.get("/api/v1/billing/balance").json() == {
        "currency": "USD",
        "posted": "22.689999",
        "held": "4.620000",
        "available": "18.069999",
        "hourly_cost": "0.000000",
        "runway_hours": None,
    }


def test_the_balance_needs_a_login(api_client):
    response = api_client.get("/api/v1/billing/balance")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_transactions_list_the_wallet_newest_first(client, customer, other_customer):
    first = top_up(customer, 10_000_000)
    second = use(customer, 1_500_000, key="usage:1")
    top_up(other_customer, 99_000_000)

    response = client.get("/api/v1/billing/transactions")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [
        (r["id"], r["kind"], r["amount"], r["balance_after"], r["sequence"]) for r in results
    ] == [
        (second.public_id, "usage", "-1.500000", "8.500000", 2),
        (first.public_id, "topup", "10.000000", "10.000000", 1),
    ]
    assert results[0]["memo"] == "GPU time"
    assert results[0]["currency"] == "USD"


def test_transactions_filter_by_kind_and_date(client, customer):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        top_up(customer, 10_000_000)
    with time_machine.travel(start + timedelta(days=2), tick=False):
        use(customer, 1_000_000, key="usage:1")
        use(customer, 2_000_000, key="usage:2")

    by_kind = client.get("/api/v1/billing/transactions", {"kind": TransactionKind.TOPUP})
    since = client.get(
        "/api/v1/billing/transactions", {"since": (start + timedelta(days=1)).isoformat()}
    )
    until = client.get(
        "/api/v1/billing/transactions", {"until": (start + timedelta(days=1)).isoformat()}
    )

    assert [r["amount"] for r in by_kind.json()["results"]] == ["10.000000"]
    assert [r["amount"] for r in since.json()["results"]] == ["-2.000000", "-1.000000"]
    assert [r["amount"] for r in until.json()["results"]] == ["10.000000"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "gift"}, "kind"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
    ],
)
def test_a_bad_filter_is_a_validation_problem(client, params, field):
    response = client.get("/api/v1/billing/transactions", params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == [field]


def test_transactions_are_paged_with_a_cursor(client, customer):
    for n in range(5):
        top_up(customer, 1_000_000, key=f"topup:{n}")

    first = client.get("/api/v1/billing/transactions", {"limit": 3}).json()
    second = client.get(first["next"]).json()

    assert [r["sequence"] for r in first["results"]] == [5, 4, 3]
    assert [r["sequence"] for r in second["results"]] == [2, 1]
    assert second["next"] is None


def test_the_transaction_list_runs_a_fixed_number_of_queries(
    client, customer, django_assert_num_queries
):
    for n in range(10):
        top_up(customer, 1_000_000, key=f"topup:{n}")

    client.get("/api/v1/billing/transactions")  # the login session's first touch
    # session, user, customer, entries (with their transactions)
    with django_assert_num_queries(4):
        response = client.get("/api/v1/billing/transactions")
    assert len(response.json()["results"]) == 10


def test_one_transaction_by_id(client, customer):
    txn = top_up(customer, 3_000_000)

    response = client.get(f"/api/v1/billing/transactions/{txn.public_id}")

    assert response.status_code == 200
    assert response.json()["id"] == txn.public_id
    assert response.json()["amount"] == "3.000000"


def test_another_customers_transaction_answers_404(client, other_customer):
    theirs = top_up(other_customer, 3_000_000)

    response = client.get(f"/api/v1/billing/transactions/{theirs.public_id}")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
