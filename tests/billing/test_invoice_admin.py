"""Staff console: invoices are read-only; a correction is a credit note with a reason."""

import pytest
import time_machine
from django.test import Client

from accounts.models import User
from billing import invoices, selectors
from billing.models import CreditNote, Invoice
from tests.accounts.factories import PASSWORD
from tests.billing.conftest import form_submission
from tests.billing.invoicing import ISSUE_TIME, NOVEMBER, november

pytestmark = pytest.mark.usefixtures("ledger_verified")


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("finance@example.com", PASSWORD))
    return client


@pytest.fixture
def invoice(customer) -> Invoice:
    november(customer)
    with time_machine.travel(ISSUE_TIME, tick=False):
        issued = invoices.invoice_issue(customer=customer, period_start=NOVEMBER)
    assert issued is not None
    return issued


def test_invoices_are_read_only_even_for_a_superuser(staff_client, invoice):
    change = staff_client.get(f"/admin/billing/invoice/{invoice.pk}/change/")

    assert change.status_code == 200
    assert "INV-2026-000001" in change.content.decode()
    assert "Issue a credit note" in change.content.decode()
    assert staff_client.get("/admin/billing/invoice/?q=INV-2026").status_code == 200
    assert staff_client.get("/admin/billing/invoice/add/").status_code == 403
    assert staff_client.post(f"/admin/billing/invoice/{invoice.pk}/delete/").status_code == 403
    assert Invoice.objects.filter(pk=invoice.pk).exists()


def test_staff_issue_a_credit_note_with_a_reason(
    staff_client, invoice, customer, committed, mailoutbox
):
    before = selectors.wallet_balance(customer=customer).posted
    url = f"/admin/billing/invoice/{invoice.pk}/credit-note/"

    submission = form_submission(staff_client, url)
    with committed():
        refused = staff_client.post(url, {"amount": "0.10", "reason": "", "submission": submission})
        response = staff_client.post(
            url, {"amount": "0.10", "reason": "Render ran slow", "submission": submission}
        )
        again = staff_client.post(  # sent twice: the first credit note is the answer
            url, {"amount": "0.10", "reason": "Render ran slow", "submission": submission}
        )

    assert refused.status_code == 200
    assert (response.status_code, again.status_code) == (302, 302)
    note = CreditNote.objects.get()
    assert (note.number, note.amount, note.issued_by) == (
        "CN-2026-000001",
        100_000,
        "finance@example.com",
    )
    assert selectors.wallet_balance(customer=customer).posted == before + 100_000
    # The customer is emailed the credit note's PDF.
    [email] = mailoutbox
    assert email.to == [customer.user.email]
    assert email.subject == ("[GPU Cloud] Credit note CN-2026-000001 for invoice INV-2026-000001")
    assert "Reason: Render ran slow" in email.body
    assert email.attachments[0][0] == "CN-2026-000001.pdf"
