"""Billing pages: the overview (balance, held, available, the wallet's transactions)."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts import selectors as accounts_selectors
from accounts.models import User
from billing import selectors
from billing.models import TransactionKind

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
        },
    )
