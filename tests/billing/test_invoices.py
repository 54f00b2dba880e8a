"""Monthly invoices: built from the ledger, issued once, numbered without gaps."""

import io
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from pypdf import PdfReader

from accounts.activity import Actor
from accounts.models import ActivityEntry, ActivityVerb
from billing import documents, invoices, selectors, services
from billing.exceptions import CreditNoteInvalid, InvoicePeriodOpen, InvoiceUsagePending
from billing.models import (
    AccountKind,
    CreditNote,
    DocumentCounter,
    Invoice,
    InvoiceLine,
    LedgerEntry,
    LedgerTransaction,
    Receipt,
    TransactionKind,
)
from billing.tasks import invoices_issue_due_task
from cloudportal.celery import app as celery_app
from tests.accounts.factories import UserFactory
from tests.billing.conftest import ledger_assert_verified, top_up
from tests.billing.invoicing import (
    COMPUTE_RATE,
    ISSUE_TIME,
    NOVEMBER,
    OCTOBER,
    at,
    november,
    paid,
    usage,
)

pytestmark = pytest.mark.usefixtures("ledger_verified")


def wallet_entries(customer):
    return LedgerEntry.objects.filter(account__customer=customer, account__kind=AccountKind.WALLET)


def issue(customer, period=NOVEMBER):
    with time_machine.travel(ISSUE_TIME, tick=False):
        return invoices.invoice_issue(customer=customer, period_start=period)


def test_a_month_is_one_line_per_deployment_and_component_and_matches_the_ledger(customer):
    november(customer)

    invoice = issue(customer)

    lines = list(invoice.lines.all())
    usage_lines = [
        (line.subject, line.component, line.quantity, line.unit, line.rate, line.amount)
        for line in lines
        if line.kind == InvoiceLine.Kind.USAGE
    ]
    # trainer's October minutes are October's; nightly's December minute is December's.
    assert usage_lines == [
        ("dep_A", "compute", Decimal("0.0333"), "h", Decimal("2.500000"), 2 * 41_667),
        ("dep_A", "storage", Decimal("3.3333"), "GB-h", Decimal("0.000139"), 2 * 232),
        ("dep_B", "compute", Decimal("0.0833"), "h", Decimal("2.500000"), 5 * 41_667),
        ("dep_B", "storage", Decimal("11.6667"), "GB-h", Decimal("0.000139"), 7 * 232),
        ("dep_C", "compute", Decimal("0.0167"), "h", Decimal("2.500000"), 41_667),
        ("dep_C", "storage", Decimal("1.6667"), "GB-h", Decimal("0.000139"), 232),
    ]
    assert [line.description for line in lines if line.kind == "usage"][:2] == [
        "trainer — compute",
        "trainer — storage",
    ]
    # The total is the month's usage postings on the wallet, to the micro-unit, found
    # by the windows the postings name (the last one was posted on December 1st).
    posted = wallet_entries(customer).filter(
        transaction__kind=TransactionKind.USAGE,
        transaction__metadata__window_start__startswith="2026-11-",
    )
    assert posted.count() == 18
    assert invoice.total == -posted.aggregate(total=Sum("amount"))["total"] == 335_656
    assert [(line.kind, line.amount) for line in lines if line.kind != "usage"] == [
        ("other", -5_000_000),
        ("other", 2_000_000),
        ("payment", 20_000_000),
    ]
    assert lines[6].description == "Refund: Refund to card"
    assert lines[7].description == "Adjustment: Goodwill for the outage"
    october_usage = 2 * 41_667 + 2 * 232
    assert invoice.opening_balance == 100_000_000 - october_usage
    assert invoice.other_total == -3_000_000
    assert invoice.payments_total == 20_000_000
    assert invoice.closing_balance == 116_580_546
    # Closing = every wallet posting that belongs to November or before: all but
    # nightly's December window.
    december = wallet_entries(customer).filter(
        transaction__metadata__window_start__startswith="2026-12-"
    )
    assert invoice.closing_balance == (
        selectors.wallet_balance(customer=customer).posted
        - december.aggregate(total=Sum("amount"))["total"]
    )


def test_issuing_numbers_records_and_snapshots_the_invoice(
    customer, django_capture_on_commit_callbacks
):
    november(customer)

    with django_capture_on_commit_callbacks() as callbacks:
        invoice = issue(customer)

    assert invoice.number == "INV-2026-000001"
    assert invoice.period_start == NOVEMBER
    assert invoice.buyer["email"] == customer.user.email
    assert invoice.seller["name"] == "GPU Cloud"
    assert len(callbacks) == 1  # the email, after commit
    entry = ActivityEntry.objects.get(customer=customer, verb=ActivityVerb.INVOICE_ISSUED)
    assert entry.object_id == invoice.public_id
    assert entry.data["number"] == "INV-2026-000001"
    assert entry.data["total"] == "0.335656"


def test_a_rerun_issues_nothing_twice(customer, other_customer):
    november(customer)
    november(other_customer, suffix="-other")

    with time_machine.travel(ISSUE_TIME, tick=False):
        first = invoices.invoices_issue_due()
        again = invoices.invoices_issue_due()
        same = invoices.invoice_issue(customer=customer, period_start=NOVEMBER)

    # October (both customers topped up and ran) and November, oldest month first.
    assert (first, again) == (4, 0)
    numbers = list(
        Invoice.objects.order_by("number").values_list("number", "customer", "period_start")
    )
    assert numbers == [
        ("INV-2026-000001", customer.pk, OCTOBER),
        ("INV-2026-000002", other_customer.pk, OCTOBER),
        ("INV-2026-000003", customer.pk, NOVEMBER),
        ("INV-2026-000004", other_customer.pk, NOVEMBER),
    ]
    assert same.number == "INV-2026-000003"
    assert DocumentCounter.objects.get(series="INV", year=2026).last_number == 4


def test_the_job_catches_up_months_missed_while_it_was_down(customer):
    november(customer)

    # Down from November 1st to December 3rd: the first run issues both months.
    with time_machine.travel(at(2026, 12, 3, 2, 15), tick=False):
        assert invoices.invoices_issue_due() == 2
    assert list(Invoice.objects.order_by("number").values_list("period_start", flat=True)) == [
        OCTOBER,
        NOVEMBER,
    ]
    # Consecutive months chain: each opening balance is the previous closing balance.
    october, november_invoice = Invoice.objects.order_by("period_start")
    assert november_invoice.opening_balance == october.closing_balance


def test_a_month_without_activity_is_not_invoiced(customer):
    with time_machine.travel(ISSUE_TIME, tick=False):
        assert invoices.invoice_issue(customer=customer, period_start=NOVEMBER) is None
        assert invoices.invoices_issue_due() == 0
    assert not Invoice.objects.exists()
    # Nor did asking use up a number.
    assert DocumentCounter.objects.filter(last_number__gt=0).count() == 0


def test_the_current_month_is_a_draft_never_numbered(customer):
    november(customer)

    with time_machine.travel(at(2026, 12, 1, 9), tick=False):
        draft = invoices.invoice_draft(customer=customer)
        with pytest.raises(InvoicePeriodOpen) as error:
            invoices.invoice_issue(customer=customer, period_start=date(2026, 12, 1))

    assert error.value.code == "invoice_period_open"
    assert draft.invoice.number == ""
    assert draft.invoice.pk is None
    assert [(line.subject, line.amount) for line in draft.lines] == [
        ("dep_C", 41_667),
        ("dep_C", 232),
    ]
    assert draft.invoice.opening_balance == 116_580_546
    assert not Invoice.objects.exists()


def test_an_issued_invoice_does_not_change_when_the_ledger_moves_on(customer):
    november(customer)
    invoice = issue(customer)
    # Billing details change, and a usage window of November is metered very late.
    invoices.billing_details_update(
        customer=customer,
        actor=Actor.user(customer.user),
        name="Acme GmbH",
        address="Street 1",
        country="de",
        tax_id="DE1",
    )
    usage(
        customer,
        subject="dep_B",
        label="render",
        component="compute",
        window=at(2026, 11, 10, 13),
        amount=41_667,
    )

    stored = Invoice.objects.get(pk=invoice.pk)
    assert stored.total == 335_656
    assert stored.lines.count() == 9
    assert stored.buyer["name"] == customer.user.email
    assert invoices.buyer_snapshot(customer=customer)["name"] == "Acme GmbH"


@pytest.mark.django_db(transaction=True)
def test_concurrent_issuance_numbers_without_gap_or_duplicate():
    customers = [UserFactory().customer for _ in range(6)]
    for index, customer in enumerate(customers):
        usage(
            customer,
            subject=f"dep_{index}",
            label="trainer",
            component="compute",
            window=at(2026, 11, 10, 12, index),
            amount=41_667,
        )
    errors = []
    barrier = threading.Barrier(4)

    def issue_all(order):
        try:
            barrier.wait()
            for customer in order:
                invoices.invoice_issue(customer=customer, period_start=NOVEMBER)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    orders = [customers, customers[::-1], customers[2:] + customers[:2], customers[::2]]
    with time_machine.travel(ISSUE_TIME, tick=False):
        threads = [threading.Thread(target=issue_all, args=(order,)) for order in orders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 7)]
    assert Invoice.objects.values("customer").distinct().count() == 6
    assert DocumentCounter.objects.get(series="INV", year=2026).last_number == 6
    ledger_assert_verified()


def test_the_pdf_is_a_pdf_with_the_number_and_the_total(customer):
    november(customer)
    invoice = issue(customer)

    pdf = documents.document_pdf(invoice)

    assert pdf.startswith(b"%PDF-")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Invoice INV-2026-000001" in text
    assert "$0.34" in text  # 335_656 micro-units, rounded once
    assert "render — compute" in text
    assert "$116.58" in text  # the closing balance


def test_the_customer_is_emailed_the_pdf_when_an_invoice_is_issued(customer, mailoutbox, committed):
    november(customer)

    with committed():
        invoice = issue(customer)

    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == [customer.user.email]
    assert email.subject == "[GPU Cloud] Invoice INV-2026-000001 for November 2026"
    assert "Usage in the month: $0.34" in email.body
    assert f"/billing/invoices/{invoice.public_id}/" in email.body
    [(name, content, mimetype)] = email.attachments
    assert (name, mimetype) == ("INV-2026-000001.pdf", "application/pdf")
    assert "INV-2026-000001" in PdfReader(io.BytesIO(content)).pages[0].extract_text()


def test_a_credit_note_credits_the_wallet_and_refers_to_the_invoice(customer, django_user_model):
    staff = django_user_model.objects.create_superuser("finance@example.com", "x")
    november(customer)
    invoice = issue(customer)
    before = selectors.wallet_balance(customer=customer).posted

    note = invoices.credit_note_issue(
        invoice=invoice, amount=100_000, reason="Render ran slow", actor=Actor.staff(staff)
    )

    assert note.number == "CN-2026-000001"
    assert note.invoice == invoice
    txn = LedgerTransaction.objects.get(idempotency_key=f"creditnote:{note.public_id}")
    assert note.transaction == txn
    assert txn.memo == "Credit note CN-2026-000001 for INV-2026-000001: Render ran slow"
    assert selectors.wallet_balance(customer=customer).posted == before + 100_000
    entry = ActivityEntry.objects.get(verb=ActivityVerb.CREDIT_NOTE_ISSUED)
    assert (entry.actor_label, entry.data["invoice"]) == ("finance@example.com", invoice.number)
    # The invoice itself is unchanged.
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.total, stored.closing_balance) == (invoice.total, invoice.closing_balance)
    text = PdfReader(io.BytesIO(documents.document_pdf(note))).pages[0].extract_text()
    assert "CN-2026-000001" in text
    assert "INV-2026-000001" in text


def test_credit_notes_cannot_exceed_the_invoice_or_lack_a_reason(customer):
    november(customer)
    invoice = issue(customer)
    invoices.credit_note_issue(
        invoice=invoice, amount=335_000, reason="Most of it", actor=Actor.system()
    )

    with pytest.raises(CreditNoteInvalid) as too_much:
        invoices.credit_note_issue(invoice=invoice, amount=657, reason="More", actor=Actor.system())
    with pytest.raises(CreditNoteInvalid) as no_reason:
        invoices.credit_note_issue(invoice=invoice, amount=1, reason="  ", actor=Actor.system())

    assert too_much.value.errors == {
        "amount": ["At most 0.000656 USD of INV-2026-000001 is left to credit."]
    }
    assert no_reason.value.errors == {"reason": ["Give a reason."]}
    assert CreditNote.objects.count() == 1
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="creditnote:").count() == 1
    assert DocumentCounter.objects.get(series="CN").last_number == 1


def test_a_receipt_per_top_up_keeps_the_details_it_was_issued_with(customer):
    invoices.billing_details_update(
        customer=customer,
        actor=Actor.user(customer.user),
        name="Acme GmbH",
        address="Street 1\n10115 Berlin",
        country="de",
        tax_id="DE123",
    )
    first = paid(customer, 25_000_000, when=at(2026, 11, 3, 9), key="pi_1", brand="visa")
    paid(customer, 10_000_000, when=at(2026, 11, 4, 9), key="pi_2", brand="mastercard")
    invoices.billing_details_update(
        customer=customer,
        actor=Actor.user(customer.user),
        name="",
        address="",
        country="",
        tax_id="",
    )

    assert invoices.receipt_issue(txn=first) == Receipt.objects.get(transaction=first)
    receipts = list(selectors.receipt_list(customer=customer))
    assert [(r.amount, r.payment_method) for r in receipts] == [
        (10_000_000, "Mastercard ending 4242"),
        (25_000_000, "Visa ending 4242"),
    ]
    assert receipts[0].buyer["name"] == "Acme GmbH"
    assert receipts[0].buyer["country"] == "DE"
    text = PdfReader(io.BytesIO(documents.document_pdf(receipts[1]))).pages[0].extract_text()
    assert "$25.00" in text
    assert "Acme GmbH" in text
    assert "Visa ending 4242" in text


def test_the_database_refuses_to_change_an_issued_invoice(customer):
    november(customer)
    invoice = issue(customer)

    for statement in (
        "UPDATE billing_invoice SET usage_total = 0 WHERE id = %s",
        "DELETE FROM billing_invoiceline WHERE invoice_id = %s",
    ):
        with (
            pytest.raises(IntegrityError, match="Issued documents never change"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [invoice.pk])

    assert Invoice.objects.get(pk=invoice.pk).usage_total == 335_656
    assert invoice.lines.count() == 9


def test_the_invoice_page_lists_credit_notes_but_its_pdf_stays_as_issued(customer):
    november(customer)
    invoice = issue(customer)
    before = documents.document_pdf(invoice)

    invoices.credit_note_issue(invoice=invoice, amount=1_000, reason="Late", actor=Actor.system())

    text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(documents.document_pdf(invoice))).pages
    )
    assert "CN-2026-000001" not in text
    assert text == "".join(page.extract_text() for page in PdfReader(io.BytesIO(before)).pages)


def test_a_month_with_only_a_top_up_is_invoiced_with_its_payment(customer, other_customer):
    paid(customer, 25_000_000, when=at(2026, 9, 14, 9), key="pi_september")
    usage(
        other_customer,
        subject="dep_O",
        label="other",
        component="compute",
        window=at(2026, 9, 30, 23, 59),
        amount=41_667,
    )

    with time_machine.travel(ISSUE_TIME, tick=False):
        assert invoices.invoices_issue_due() == 2

    invoice = customer.invoices.get()
    assert (invoice.period_start, invoice.total, invoice.payments_total) == (
        date(2026, 9, 1),
        0,
        25_000_000,
    )
    assert invoice.closing_balance == 25_000_000
    assert other_customer.invoices.get().period_start == date(2026, 9, 1)


@pytest.fixture
def eager_tasks():
    """Tasks run in-process as a worker would (their emails stay uncommitted, unsent)."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_eager_propagates = False


def test_the_daily_task_queues_one_issue_task_per_invoice_due(
    customer, other_customer, eager_tasks
):
    november(customer)
    november(other_customer, suffix="-other")

    with time_machine.travel(ISSUE_TIME, tick=False):
        queued = invoices_issue_due_task.delay().get()
        again = invoices_issue_due_task.delay().get()

    assert (queued, again) == (4, 0)
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [
        f"INV-2026-{n:06d}" for n in range(1, 5)
    ]


def test_a_longest_reason_still_fits_its_invoice_line(customer):
    with time_machine.travel(at(2026, 11, 20, 9), tick=False):
        services.wallet_adjust(
            customer=customer, amount=1_000_000, reason="x" * 500, actor=Actor.system()
        )

    invoice = issue(customer)

    [line] = invoice.lines.all()
    assert line.description == ("Adjustment: " + "x" * 500)[:500]


def test_usage_metered_as_one_posting_per_window_opens_the_next_month_once(customer):
    """Metering posts one transaction for all of a customer's charges of a window: the next
    month opens at the month's closing balance, each debit counted once."""
    with time_machine.travel(at(2026, 10, 1, 12), tick=False):
        top_up(customer, 100_000_000, key="test:grouped:funds")
    window = at(2026, 10, 20, 10, 0)
    lines = [
        services.UsageLine(
            customer_id=customer.pk,
            customer_public_id=customer.public_id,
            subject=f"dep_{n}",
            label=f"machine {n}",
            component=component,
            window_start=window,
            seconds=60,
            rate=COMPUTE_RATE,
            amount=1_000,
        )
        for n in range(2)
        for component in ("compute", "storage")
    ]
    with time_machine.travel(window + timedelta(seconds=90), tick=False):
        posted = services.usage_charges_post_many(lines=lines)
    assert (posted.charges, posted.postings) == (4, 1)

    october = invoices.invoice_build(customer=customer, period_start=OCTOBER)
    november = invoices.invoice_build(customer=customer, period_start=NOVEMBER)

    assert october.invoice.closing_balance == 100_000_000 - 4_000
    assert november.invoice.opening_balance == october.invoice.closing_balance
    ledger_assert_verified()


def test_a_month_whose_usage_is_not_all_posted_waits_and_changes_nothing(customer, caplog):
    november(customer)
    # Usage is posted up to 23:40 on November 30th: nightly's last minutes are not yet.
    services.usage_watermark_advance(posted_until=at(2026, 11, 30, 23, 40))

    with time_machine.travel(ISSUE_TIME, tick=False), caplog.at_level("INFO", "billing.invoices"):
        issued = invoices.invoices_issue_due()
        with pytest.raises(InvoiceUsagePending) as refused:
            invoices.invoice_issue(customer=customer, period_start=NOVEMBER)

    # October is complete and issued; November waits.
    assert issued == 1
    assert list(Invoice.objects.values_list("period_start", flat=True)) == [OCTOBER]
    assert refused.value.code == "invoice_usage_pending"
    assert DocumentCounter.objects.get(series="INV", year=2026).last_number == 1
    assert not ActivityEntry.objects.filter(
        verb=ActivityVerb.INVOICE_ISSUED, data__period="2026-11"
    ).exists()
    waiting = [r for r in caplog.records if r.msg == "invoices.waiting_for_metering"]
    assert [(r.period, r.metered_until, r.invoices) for r in waiting] == [
        ("2026-11", at(2026, 11, 30, 23, 40), 1)
    ]

    # Metering catches up: the next run issues November, once.
    services.usage_watermark_advance(posted_until=at(2026, 12, 1, 3, 0))
    with time_machine.travel(ISSUE_TIME + timedelta(hours=1), tick=False):
        assert invoices.invoices_issue_due() == 1
        assert invoices.invoices_issue_due() == 0
    assert Invoice.objects.get(period_start=NOVEMBER).total == 335_656


def test_the_usage_watermark_never_moves_back(db):
    services.usage_watermark_advance(posted_until=at(2026, 12, 1, 1, 0))
    services.usage_watermark_advance(posted_until=at(2026, 11, 30, 23, 0))

    assert selectors.usage_posted_until() == at(2026, 12, 1, 1, 0)
