"""Invoices, credit notes and receipts as documents: the HTML a page includes, the same
template rendered to PDF (WeasyPrint, with the machine's Pango), and the emails that
carry the PDF."""

import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse

from billing.invoices import InvoiceBuild
from billing.models import CreditNote, Invoice, InvoiceLine, Receipt

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "[GPU Cloud] "
Document = Invoice | CreditNote | Receipt


def invoice_context(build: InvoiceBuild, *, draft: bool = False) -> dict[str, Any]:
    """What `billing/documents/invoice.html` shows; `build` is an issued invoice with its
    stored lines (`invoice_build_of`) or the live draft."""
    invoice = build.invoice
    credit_notes = [] if draft or invoice.pk is None else list(invoice.credit_notes.all())
    return {
        "invoice": invoice,
        "draft": draft,
        "usage_lines": build.lines_of(InvoiceLine.Kind.USAGE),
        "other_lines": build.lines_of(InvoiceLine.Kind.OTHER),
        "payment_lines": build.lines_of(InvoiceLine.Kind.PAYMENT),
        "credit_notes": credit_notes,
    }


def invoice_build_of(invoice: Invoice) -> InvoiceBuild:
    """An issued invoice with its stored lines, as the templates take it."""
    return InvoiceBuild(invoice=invoice, lines=list(invoice.lines.all()))


def document_context(document: Document) -> tuple[str, dict[str, Any]]:
    """The document's template (under billing/documents/) and its context."""
    if isinstance(document, Invoice):
        return "invoice", invoice_context(invoice_build_of(document))
    if isinstance(document, CreditNote):
        return "credit_note", {"credit_note": document, "invoice": document.invoice}
    return "receipt", {"receipt": document}


def document_title(document: Document) -> str:
    if isinstance(document, Invoice):
        return f"Invoice {document.number}"
    if isinstance(document, CreditNote):
        return f"Credit note {document.number}"
    return f"Receipt {document.public_id}"


def document_filename(document: Document) -> str:
    if isinstance(document, Invoice | CreditNote):
        return f"{document.number}.pdf"
    return f"{document.public_id}.pdf"


def document_pdf(document: Document) -> bytes:
    """The PDF of the document: the page's own template in a print wrapper."""
    import weasyprint  # loads Pango: only the PDF paths pay for it

    template, context = document_context(document)
    html = render_to_string(
        "billing/documents/pdf.html",
        {
            **context,
            "document_template": f"billing/documents/{template}.html",
            "title": document_title(document),
        },
    )
    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf


def pdf_response(document: Document, *, download: bool = False) -> HttpResponse:
    """The document's PDF for a page or the API; `download` makes browsers save it."""
    response = HttpResponse(document_pdf(document), content_type="application/pdf")
    disposition = "attachment" if download else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{document_filename(document)}"'
    return response


def document_email_send(*, kind: str, object_id: int) -> None:
    """Email the customer an issued invoice or credit note with its PDF attached."""
    document: Document
    if kind == "invoice":
        document = Invoice.objects.select_related("customer__user").get(pk=object_id)
        url = reverse("billing:invoice-detail", kwargs={"invoice_id": document.public_id})
        subject = f"Invoice {document.number} for {document.period_start:%B %Y}"
    elif kind == "credit_note":
        document = CreditNote.objects.select_related("customer__user", "invoice").get(pk=object_id)
        url = reverse("billing:invoice-detail", kwargs={"invoice_id": document.invoice.public_id})
        subject = f"Credit note {document.number} for invoice {document.invoice.number}"
    else:
        raise ValueError(f"Unknown billing document {kind!r}")
    body = render_to_string(
        f"billing/email/{kind}.txt",
        {"document": document, "url": settings.PORTAL_BASE_URL + url},
    )
    email = EmailMessage(
        subject=SUBJECT_PREFIX + subject,
        body=body,
        to=[document.customer.user.email],
        headers={"X-Billing-Document": document.public_id},
    )
    email.attach(document_filename(document), document_pdf(document), "application/pdf")
    email.send()
    logger.info("billing.document_emailed", extra={"document": document.public_id})
