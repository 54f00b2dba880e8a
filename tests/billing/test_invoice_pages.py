"""Billing pages: invoices, the month's draft, receipts, the spend chart, billing details."""

import re

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import ActivityEntry, ActivityVerb
from billing import invoices
from billing.models import BillingDetails, Receipt
from tests.billing.conftest import top_up
from tests.billing.invoicing import ISSUE_TIME, at, november, paid, usage

pytestmark = pytest.mark.usefixtures("ledger_verified")


@pytest.fixture
def page_client(customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


def test_invoices_page_lists_issued_invoices_and_the_draft(page_client, customer):
    november(customer)
    with time_machine.travel(ISSUE_TIME, tick=False):
        invoices.invoices_issue_due()
    invoice = customer.invoices.get(period_start__month=11)

    with time_machine.travel(at(2026, 12, 1, 9), tick=False):
        listing = page_client.get("/billing/invoices/").content.decode()
        detail = page_client.get(f"/billing/invoices/{invoice.public_id}/").content.decode()
        draft = page_client.get("/billing/invoices/draft/").content.decode()

    assert "INV-2026-000001" in listing
    assert "INV-2026-000002" in listing
    assert "Draft" in listing
    assert "Invoice INV-2026-000002" in detail
    assert '<th class="numeric" data-figure="total">$0.34</th>' in detail
    assert '<td class="numeric" data-figure="closing">$116.58</td>' in detail
    assert f'href="/billing/invoices/{invoice.public_id}/pdf"' in detail
    assert "Draft — December 2026 so far" in draft
    assert "INV-" not in draft


def test_another_customers_invoice_page_is_not_found(page_client, other_customer):
    november(other_customer)
    with time_machine.travel(ISSUE_TIME, tick=False):
        invoices.invoices_issue_due()
    invoice = other_customer.invoices.first()

    assert page_client.get(f"/billing/invoices/{invoice.public_id}/").status_code == 404
    assert page_client.get(f"/billing/invoices/{invoice.public_id}/pdf").status_code == 404


def test_the_invoice_pdf_page_opens_inline(page_client, customer):
    november(customer)
    with time_machine.travel(ISSUE_TIME, tick=False):
        invoice = invoices.invoice_issue(customer=customer, period_start=at(2026, 11, 1))

    response = page_client.get(f"/billing/invoices/{invoice.public_id}/pdf")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'inline; filename="INV-2026-000001.pdf"'
    assert response.content.startswith(b"%PDF-")


def test_receipts_page_makes_out_a_receipt_per_top_up(page_client, customer):
    paid(customer, 25_000_000, when=at(2026, 11, 3, 9), key="pi_1")

    html = page_client.get("/billing/receipts/").content.decode()

    receipt = customer.receipts.get()
    assert receipt.public_id in html
    assert "Visa ending 4242" in html
    assert "$25.00" in html
    detail = page_client.get(f"/billing/receipts/{receipt.public_id}/").content.decode()
    assert "Top-up of your prepaid balance" in detail


def test_the_receipts_page_only_reads(page_client, customer):
    top_up(customer, 25_000_000)  # credited before receipts came with the credit: none

    with CaptureQueriesContext(connection) as queries:
        html = page_client.get("/billing/receipts/").content.decode()

    assert "No top-ups yet" in html
    assert Receipt.objects.count() == 0
    # The session's bookkeeping aside, nothing is written.
    writes = [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]
    assert [sql for sql in writes if "billing_" in sql] == []


def test_the_overview_draws_daily_spend_by_deployment_and_the_balance(page_client, customer):
    with time_machine.travel(at(2026, 11, 20, 9), tick=False):
        paid(customer, 10_000_000, when=at(2026, 11, 20, 9), key="pi_1")
    for subject, label, day in (("dep_A", "trainer", 21), ("dep_B", "render", 21)):
        usage(
            customer,
            subject=subject,
            label=label,
            component="compute",
            window=at(2026, 11, day, 12),
            amount=2_500_000,
        )
    usage(
        customer,
        subject="dep_A",
        label="trainer",
        component="compute",
        window=at(2026, 11, 22, 12),
        amount=1_250_000,
    )

    with time_machine.travel(at(2026, 11, 30, 9), tick=False):
        html = page_client.get("/billing/").content.decode()

    spend = re.search(r'<svg class="chart-svg" data-chart="spend".*?</svg>', html, re.S).group(0)
    assert 'viewBox="0 0 420 220"' in spend
    assert 'width="100%"' in spend
    titles = re.findall(r"<rect [^>]*><title>([^<]*)</title>", spend)
    assert titles == [
        "Nov 21: trainer $2.50",
        "Nov 21: render $2.50",
        "Nov 22: trainer $1.25",
    ]
    # The tallest day fills the plot; the legend names each deployment with its total.
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', spend)]
    assert heights[0] + heights[1] == pytest.approx(180, abs=0.05)
    assert 'trainer <span class="muted">$3.75</span>' in html
    balance = re.search(r'data-chart="balance".*?</svg>', html, re.S).group(0)
    assert "<polyline" in balance
    assert "Balance over the last 30 days, from $0.00 to $3.75." in balance
    assert "<script" not in spend + balance


def test_billing_details_are_saved_and_printed_on_new_documents(page_client, customer):
    response = page_client.post(
        "/billing/details/",
        {
            "name": "Acme GmbH",
            "address": "Street 1\r\n10115 Berlin",
            "country": "de",
            "tax_id": "DE123456789",
        },
    )

    assert response.status_code == 302
    details = BillingDetails.objects.get(customer=customer)
    assert (details.name, details.address, details.country, details.tax_id) == (
        "Acme GmbH",
        "Street 1\n10115 Berlin",
        "DE",
        "DE123456789",
    )
    assert ActivityEntry.objects.filter(
        customer=customer, verb=ActivityVerb.BILLING_DETAILS_UPDATED
    ).exists()
    assert invoices.buyer_snapshot(customer=customer)["tax_id"] == "DE123456789"


def test_a_bad_country_is_a_form_error_and_saves_nothing(page_client, customer):
    response = page_client.post(
        "/billing/details/", {"name": "Acme", "address": "", "country": "D1", "tax_id": ""}
    )

    assert response.status_code == 200
    assert "Use the two-letter country code" in response.content.decode()
    assert not BillingDetails.objects.exists()
