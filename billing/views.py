"""Billing pages: the overview (balance, charts, transactions), invoices and the month's
live draft, receipts, their PDFs, and the billing details form."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import selectors as accounts_selectors
from accounts.activity import actor_from_request
from accounts.models import Customer, User
from billing import charts, documents, invoices, selectors
from billing.exceptions import BillingDetailsInvalid
from billing.models import BillingDetails, TransactionKind

ENTRIES_PAGE_SIZE = 50
DOCUMENTS_PAGE_SIZE = 24


def _customer(request: HttpRequest) -> Customer:
    assert isinstance(request.user, User)  # login_required ran first
    return accounts_selectors.customer_for_user(user=request.user)


@login_required
def overview_page(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    kind = request.GET.get("kind") or None
    if kind not in TransactionKind.values:
        kind = None
    entries = selectors.wallet_entry_list(customer=customer, kind=kind)
    page = Paginator(entries, ENTRIES_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/overview.html",
        {
            "balance": selectors.wallet_balance(customer=customer),
            "holds": selectors.hold_list(customer=customer),
            "page": page,
            "kind": kind,
            "kinds": TransactionKind.choices,
            "spend_chart": charts.spend_chart(customer=customer),
            "balance_chart": charts.balance_chart(customer=customer),
        },
    )


@login_required
def invoice_list_page(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    draft = invoices.invoice_draft(customer=customer)
    page = Paginator(selectors.invoice_list(customer=customer), DOCUMENTS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "billing/invoice_list.html", {"draft": draft, "page": page})


@login_required
def invoice_draft_page(request: HttpRequest) -> HttpResponse:
    build = invoices.invoice_draft(customer=_customer(request))
    context = documents.invoice_context(build, draft=True)
    return render(request, "billing/invoice_detail.html", context)


@login_required
def invoice_detail_page(request: HttpRequest, invoice_id: str) -> HttpResponse:
    invoice = selectors.invoice_get(customer=_customer(request), public_id=invoice_id)
    context = documents.invoice_context(documents.invoice_build_of(invoice))
    return render(request, "billing/invoice_detail.html", context)


@login_required
def invoice_pdf_page(request: HttpRequest, invoice_id: str) -> HttpResponse:
    invoice = selectors.invoice_get(customer=_customer(request), public_id=invoice_id)
    return documents.pdf_response(invoice)


@login_required
def credit_note_pdf_page(request: HttpRequest, credit_note_id: str) -> HttpResponse:
    note = selectors.credit_note_get(customer=_customer(request), public_id=credit_note_id)
    return documents.pdf_response(note)


@login_required
def receipt_list_page(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    invoices.receipts_issue_missing(customer=customer)
    page = Paginator(selectors.receipt_list(customer=customer), DOCUMENTS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "billing/receipt_list.html", {"page": page})


@login_required
def receipt_detail_page(request: HttpRequest, receipt_id: str) -> HttpResponse:
    receipt = selectors.receipt_get(customer=_customer(request), public_id=receipt_id)
    return render(request, "billing/receipt_detail.html", {"receipt": receipt})


@login_required
def receipt_pdf_page(request: HttpRequest, receipt_id: str) -> HttpResponse:
    receipt = selectors.receipt_get(customer=_customer(request), public_id=receipt_id)
    return documents.pdf_response(receipt)


class BillingDetailsForm(forms.Form):
    name = forms.CharField(
        max_length=200, required=False, help_text="A person or company; your email if empty."
    )
    address = forms.CharField(max_length=1000, required=False, widget=forms.Textarea)
    country = forms.CharField(max_length=2, required=False, help_text="Two letters, e.g. DE or US.")
    tax_id = forms.CharField(max_length=50, required=False, label="Tax id (VAT number)")


@login_required
@require_http_methods(["GET", "POST"])
def billing_details_page(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    details = selectors.billing_details_get(customer=customer) or BillingDetails()
    initial = {field: getattr(details, field) for field in ("name", "address", "country")}
    form = BillingDetailsForm(request.POST or None, initial=initial | {"tax_id": details.tax_id})
    if request.method == "POST" and form.is_valid():
        try:
            invoices.billing_details_update(
                customer=customer, actor=actor_from_request(request), **form.cleaned_data
            )
        except BillingDetailsInvalid as error:
            for field, errors in (error.errors or {}).items():
                for message in errors:
                    form.add_error(field, message)
        else:
            messages.success(request, "Billing details saved. They apply to new invoices.")
            return redirect("billing:details")
    return render(request, "billing/details.html", {"form": form})
