"""Migration 0013: a receipt for each top-up credited before receipts came with the credit."""

import importlib

from django.db import connection
from django.db.migrations.loader import MigrationLoader

from accounts.activity import Actor
from billing import invoices, services
from billing.models import Receipt
from tests.billing.conftest import top_up
from tests.billing.invoicing import at, paid
from tests.sqlite import run_on_sqlite

MIGRATION = "0013_receipts_backfill"


def backfill():
    """Run the migration's function as `migrate` would, on the models as they stood then."""
    migration = importlib.import_module(f"billing.migrations.{MIGRATION}")
    apps = MigrationLoader(connection).project_state(("billing", MIGRATION)).apps
    with connection.schema_editor() as schema_editor:
        migration.receipts_backfill(apps, schema_editor)


def test_the_backfill_issues_the_missing_receipts_once(
    api_client, customer, other_customer, ledger_verified
):
    invoices.billing_details_update(
        customer=customer,
        actor=Actor.user(customer.user),
        name="Acme GmbH",
        address="Street 1\n10115 Berlin",
        country="DE",
        tax_id="DE123",
    )
    old = paid(customer, 25_000_000, when=at(2026, 11, 3, 9), key="pi_1", receipt=False)
    recent = paid(customer, 10_000_000, when=at(2026, 11, 4, 9), key="pi_2", brand="mastercard")
    issued = Receipt.objects.get(transaction=recent)
    other = top_up(other_customer, 5_000_000)
    services.wallet_adjust(
        customer=customer, amount=1_000_000, reason="Goodwill", actor=Actor.system()
    )

    backfill()
    backfill()

    receipts = {receipt.transaction_id: receipt for receipt in Receipt.objects.all()}
    assert sorted(receipts) == sorted([old.pk, recent.pk, other.pk])
    assert receipts[recent.pk].public_id == issued.public_id
    made = receipts[old.pk]
    assert (made.customer_id, made.amount, made.currency) == (customer.pk, 25_000_000, "USD")
    assert (made.paid_at, made.payment_method) == (at(2026, 11, 3, 9), "Visa ending 4242")
    # As the top-up service would have made it out (with the details as they stand now).
    assert made.buyer == invoices.buyer_snapshot(customer=customer)
    assert made.buyer["name"] == "Acme GmbH"
    assert made.seller == invoices.seller_snapshot()
    assert (receipts[other.pk].customer_id, receipts[other.pk].payment_method) == (
        other_customer.pk,
        "Card",
    )
    api_client.force_login(customer.user)
    listed = api_client.get("/api/v1/billing/receipts").json()["results"]
    assert [(row["id"], row["amount"]) for row in listed] == [
        (issued.public_id, "10.000000"),
        (made.public_id, "25.000000"),
    ]


SQLITE_SCRIPT = f"""
import importlib
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from accounts.models import User
from billing import services
from billing.models import Receipt, SystemAccount
from billing.services import Line

customer = User.objects.create_user("a@example.com", "pw").customer
card = SystemAccount.CLEARING_STRIPE_CARD
visa = {{"card_brand": "visa", "card_last4": "4242"}}
for key in ("k1", "k2"):
    lines = [Line.wallet(customer, 5_000_000), Line.system(card, -5_000_000)]
    services.ledger_post(key=key, kind="topup", memo="", lines=lines, metadata=visa)
migration = importlib.import_module("billing.migrations.{MIGRATION}")
apps = MigrationLoader(connection).project_state(("billing", "{MIGRATION}")).apps
for _ in range(2):
    with connection.schema_editor() as schema_editor:
        migration.receipts_backfill(apps, schema_editor)
print(sorted(Receipt.objects.values_list("payment_method", "amount")))
print(Receipt.objects.filter(buyer__email="a@example.com").count())
"""


def test_the_backfill_works_on_sqlite(tmp_path):
    assert run_on_sqlite(tmp_path, SQLITE_SCRIPT, app="billing") == [
        "[('Visa ending 4242', 5000000), ('Visa ending 4242', 5000000)]",
        "2",
    ]
