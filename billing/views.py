"""Billing pages: the overview (balance, held, available, the wallet's transactions,
top-ups), topping up by card and coming back from Stripe; Stripe's webhook endpoint."""

import contextlib
import logging
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import selectors as accounts_selectors
from accounts.activity import actor_from_request
from accounts.models import User
from billing import payments, selectors
from billing.exceptions import PaymentProviderError, TopUpInvalid
from billing.models import MICROS_PER_UNIT, TopUp, TransactionKind
from billing.runway import customer_hourly_cost

logger = logging.getLogger(__name__)

ENTRIES_PAGE_SIZE = 50


@login_required
def overview_page(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)  # login_required ran first
    customer = accounts_selectors.customer_for_user(user=request.user)
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
