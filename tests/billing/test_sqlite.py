"""`make run`'s zero-setup SQLite database posts, replays and guards the ledger too."""

from tests.sqlite import run_on_sqlite

SCRIPT = """
from django.db import IntegrityError, connection
from accounts.models import User
from billing import selectors, services
from billing.models import LedgerEntry, SystemAccount
from billing.services import Line

customer = User.objects.create_user("a@example.com", "pw").customer
card = SystemAccount.CLEARING_STRIPE_CARD
lines = [Line.wallet(customer, 5_000_000), Line.system(card, -5_000_000)]
first = services.ledger_post(key="k1", kind="topup", memo="", lines=lines)
again = services.ledger_post(key="k1", kind="topup", memo="", lines=lines)
print(first.pk == again.pk, selectors.wallet_balance(customer=customer).posted)
try:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM billing_ledgerentry")
except IntegrityError as error:
    print("refused:", error)
print(LedgerEntry.objects.count(), selectors.ledger_verify().problems)
"""


def test_the_ledger_works_on_sqlite(tmp_path):
    assert run_on_sqlite(tmp_path, SCRIPT, app="billing") == [
        "True 5000000",
        "refused: The ledger is append-only: DELETE on billing_ledgerentry is refused",
        "2 []",
    ]
