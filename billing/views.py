"""Billing pages: the overview (balance, charts, transactions, top-ups), topping up by card
and coming back from Stripe, Stripe's webhook endpoint, invoices and the month's live
draft, receipts, their PDFs, and the billing details form."""

import contextlib
import logging
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors as accounts_selectors
from accounts.activity import actor_from_request
from accounts.models import Customer, User
from billing import charts, documents, invoices, payments, selectors
from billing.exceptions import BillingDetailsInvalid, PaymentProviderError, TopUpInvalid
from billing.models import MICROS_PER_UNIT, BillingDetails, TopUp, TransactionKind
from billing.runway import customer_hourly_cost
from cloudportal.forms import form_add_domain_error

logger = logging.getLogger(__name__)

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
            "topups": selectors.topup_list(customer=customer)[:10],
        },
    )


# --- Top-ups ------------------------------------------------------------------------------

TOPUP_PRESETS = (10, 25, 50, 100, 250, 500)


def _hours(micros: int, hourly_cost: int) -> Decimal | None:
    if hourly_cost <= 0:
        return None
    return (Decimal(micros) / hourly_cost).quantize(Decimal("0.1"), rounding=ROUND_DOWN)


@login_required
def topup_page(request: HttpRequest) -> HttpResponse:
    """Choose an amount (what it buys in hours of what runs now), then pay on Stripe's page."""
    assert isinstance(request.user, User)
    customer = accounts_selectors.customer_for_user(user=request.user)
    minimum, maximum = payments.topup_limits()
    error = None
    if request.method == "POST":
        raw = request.POST.get("custom") or request.POST.get("amount") or ""
        try:
            dollars = Decimal(raw.replace("$", "").replace(",", "").strip())
            if dollars != dollars.quantize(Decimal("0.01")):
                raise InvalidOperation
            topup = payments.topup_create(
                customer=customer,
                amount=int(dollars * 100),
                actor=actor_from_request(request),
                return_url_base=request.build_absolute_uri("/").rstrip("/"),
            )
        except (InvalidOperation, ValueError):
            error = "Enter an amount in dollars, such as 50 or 75.50."
        except TopUpInvalid as invalid:
            error = invalid.detail
        except PaymentProviderError:
            error = "The payment service is not answering; nothing was charged. Try again soon."
        else:
            return redirect(topup.checkout_url)
    hourly_cost = customer_hourly_cost(customer=customer)
    presets = [
        {"dollars": dollars, "hours": _hours(dollars * MICROS_PER_UNIT, hourly_cost)}
        for dollars in TOPUP_PRESETS
        if minimum <= dollars * 100 <= maximum
    ]
    return render(
        request,
        "billing/topup.html",
        {
            "presets": presets,
            "minimum": minimum // 100,
            "maximum": maximum // 100,
            "hourly_cost": hourly_cost,
            "balance": selectors.wallet_balance(customer=customer),
            "error": error,
        },
        status=400 if error else 200,
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
            form_add_domain_error(form, error)
        else:
            messages.success(request, "Billing details saved. They apply to new invoices.")
            return redirect("billing:details")
    return render(request, "billing/details.html", {"form": form})


@login_required
def topup_return_page(request: HttpRequest, topup_id: str) -> HttpResponse:
    """Where Stripe sends the customer back: ask Stripe once (a webhook may be slower), then
    the page follows the status by polling the API (static/js/topup.js)."""
    assert isinstance(request.user, User)
    customer = accounts_selectors.customer_for_user(user=request.user)
    topup = selectors.topup_get(customer=customer, public_id=topup_id)
    if "canceled" not in request.GET:
        with contextlib.suppress(PaymentProviderError):  # the webhook or pull job will tell
            payments.topup_refresh(topup=topup)
        topup = selectors.topup_get(customer=customer, public_id=topup_id)
    return render(
        request,
        "billing/topup_return.html",
        {"topup": topup, "canceled": "canceled" in request.GET, "open": TopUp.OPEN},
    )


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's events: verified on the raw body, stored once, answered at once."""
    try:
        inbox = payments.webhook_receive(
            payload=request.body, signature_header=request.headers.get("Stripe-Signature")
        )
    except payments.WebhookRejected as rejected:
        logger.warning(
            "webhook.rejected",
            extra={"reason": str(rejected), "ip": request.META.get("REMOTE_ADDR")},
        )
        return HttpResponse(status=400)
    return JsonResponse({"received": inbox.event_id})
