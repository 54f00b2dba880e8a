"""GET /api/v1/billing/invoices (and receipts): the customer's own, with lines and PDFs."""

import io

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from billing import invoices
from billing.models import Receipt
from tests.billing.conftest import top_up
from tests.billing.invoicing import ISSUE_TIME, NOVEMBER, OCTOBER, at, november, paid

pytestmark = pytest.mark.usefixtures("ledger_verified")


@pytest.fixture
def client(api_client, customer):
    api_client.force_login(customer.user)
    return api_client


@pytest.fixture
def issued(customer):
    november(customer)
    with time_machine.travel(ISSUE_TIME, tick=False):
        invoices.invoices_issue_due()
    return list(customer.invoices.order_by("period_start"))


def test_invoices_list_newest_month_first_with_cursor_pages(client, issued):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/billing/invoices?limit=1")

    assert response.status_code == 200
    body = response.json()
    [november_invoice] = body["results"]
    assert november_invoice == {
        "id": issued[1].public_id,
        "number": "INV-2026-000002",
        "period": "2026-11",
        "currency": "USD",
        "total": "0.335656",
        "opening_balance": "99.916202",
        "payments_total": "20.000000",
        "other_total": "-3.000000",
        "closing_balance": "116.580546",
        "issued_at": "2026-12-01T02:15:00Z",
    }
    # One query for the page, whatever its size (the rest is the session's).
    assert len([query for query in queries if "billing_" in query["sql"]]) == 1
    assert body["previous"] is None
    second = client.get(body["next"]).json()
    assert [row["period"] for row in second["results"]] == ["2026-10"]
    assert second["next"] is None


def test_an_invoice_has_its_lines_and_both_parties(client, issued):
    response = client.get(f"/api/v1/billing/invoices/{issued[1].public_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["number"] == "INV-2026-000002"
    assert body["seller"]["name"] == "GPU Cloud"
    assert body["buyer"]["email"] == issued[1].customer.user.email
    assert len(body["lines"]) == 9
    assert body["lines"][0] == {
        "kind": "usage",
        "description": "trainer — compute",
        "deployment_id": "dep_A",
        "component": "compute",
        "quantity": "0.0333",
        "unit": "h",
        "rate": "2.500000",
        "amount": "0.083334",
        "transaction_id": "",
        "posted_at": None,
    }
    assert [(line["kind"], line["amount"]) for line in body["lines"][6:]] == [
        ("other", "-5.000000"),
        ("other", "2.000000"),
        ("payment", "20.000000"),
    ]


def test_the_invoice_pdf(client, issued):
    response = client.get(
        f"/api/v1/billing/invoices/{issued[0].public_id}/pdf", HTTP_ACCEPT="application/pdf"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="INV-2026-000001.pdf"'
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "INV-2026-000001" in text
    assert "October 2026" in text


def test_another_customers_invoice_is_not_found(api_client, other_customer, issued):
    api_client.force_login(other_customer.user)

    for path in ("", "/pdf"):
        response = api_client.get(
            f"/api/v1/billing/invoices/{issued[0].public_id}{path}",
            HTTP_ACCEPT="application/pdf" if path else "application/json",
        )
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert api_client.get("/api/v1/billing/invoices").json()["results"] == []


def test_receipts_list_one_per_top_up(client, customer, other_customer):
    paid(customer, 25_000_000, when=at(2026, 11, 3, 9), key="pi_1")
    paid(other_customer, 5_000_000, when=at(2026, 11, 3, 9), key="pi_2")

    response = client.get("/api/v1/billing/receipts")

    assert response.status_code == 200
    [receipt] = response.json()["results"]
    assert receipt["amount"] == "25.000000"
    assert receipt["payment_method"] == "Visa ending 4242"
    assert receipt["paid_at"] == "2026-11-03T09:00:00Z"
    pdf = client.get(f"/api/v1/billing/receipts/{receipt['id']}/pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    assert client.get(f"/api/v1/billing/receipts/{receipt['id']}").json() == receipt


def test_listing_receipts_only_reads(client, customer):
    top_up(customer, 25_000_000)  # credited before receipts came with the credit: none

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/billing/receipts")

    assert response.status_code == 200
    assert response.json()["results"] == []
    assert Receipt.objects.count() == 0
    # The session's bookkeeping aside, nothing is written.
    writes = [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]
    assert [sql for sql in writes if "billing_" in sql] == []


def test_issued_months_are_october_and_november(issued):
    assert [invoice.period_start for invoice in issued] == [OCTOBER, NOVEMBER]
