from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as accounts_selectors
from accounts.activity import actor_from_request
from accounts.models import Customer, User
from billing import documents, payments, selectors
from billing.api.serializers import (
    BalanceOutput,
    InvoiceDetailOutput,
    InvoiceOutput,
    ReceiptOutput,
    TopUpCreateInput,
    TopUpOutput,
    WalletTransactionFilter,
    WalletTransactionOutput,
)
from billing.runway import customer_hourly_cost
from cloudportal.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotency_key_from
from cloudportal.api.pagination import CursorPagination
from cloudportal.api.scopes import Scope, scopes


def request_customer(request: Request) -> Customer:
    assert isinstance(request.user, User)  # IsAuthenticated ran first
    return accounts_selectors.customer_for_user(user=request.user)


class WalletEntryPagination(CursorPagination):
    ordering = "-account_seq"


class BalanceApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_TOPUP)

    @extend_schema(
        operation_id="billing_balance_retrieve",
        summary="Your balance: posted, held, available, and how long it lasts",
        responses=BalanceOutput,
    )
    def get(self, request: Request) -> Response:
        customer = request_customer(request)
        balance = selectors.wallet_balance(customer=customer)
        hourly_cost = customer_hourly_cost(customer=customer)
        return Response(BalanceOutput(balance, context={"hourly_cost": hourly_cost}).data)


class WalletTransactionListApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_TOPUP)
    pagination_class = WalletEntryPagination  # spectacular documents the page from it

    @extend_schema(
        operation_id="billing_transactions_list",
        summary="Money in and out of your balance, newest first",
        parameters=[WalletTransactionFilter],
        responses=WalletTransactionOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = WalletTransactionFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        entries = selectors.wallet_entry_list(
            customer=request_customer(request), **filters.validated_data
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(WalletTransactionOutput(page, many=True).data)


class WalletTransactionDetailApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_TOPUP)

    @extend_schema(
        operation_id="billing_transactions_retrieve",
        summary="One transaction on your balance",
        responses=WalletTransactionOutput,
    )
    def get(self, request: Request, transaction_id: str) -> Response:
        entry = selectors.wallet_entry_get(
            customer=request_customer(request), transaction_public_id=transaction_id
        )
        return Response(WalletTransactionOutput(entry).data)


class InvoicePagination(CursorPagination):
    ordering = "-period_start"  # one invoice per customer and month


class InvoiceListApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_READ)  # read-only
    pagination_class = InvoicePagination

    @extend_schema(
        operation_id="billing_invoices_list",
        summary="Your issued invoices, newest month first (the current month is not issued)",
        responses=InvoiceOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        invoices = selectors.invoice_list(customer=request_customer(request))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(invoices, request, view=self)
        return paginator.get_paginated_response(InvoiceOutput(page, many=True).data)


class InvoiceDetailApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_READ)  # read-only

    @extend_schema(
        operation_id="billing_invoices_retrieve",
        summary="One invoice with its lines",
        responses=InvoiceDetailOutput,
    )
    def get(self, request: Request, invoice_id: str) -> Response:
        invoice = selectors.invoice_get(customer=request_customer(request), public_id=invoice_id)
        return Response(InvoiceDetailOutput(invoice).data)


class PdfRenderer(renderers.BaseRenderer):
    """Lets a client send `Accept: application/pdf` (DRF answers 406 to a type no renderer
    offers); the PDF itself is an HttpResponse, and a problem still goes out as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return renderers.JSONRenderer().render(data)


PDF_RENDERERS = [renderers.JSONRenderer, PdfRenderer]
PDF_RESPONSES = {
    (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF."),
    404: OpenApiResponse(),
}


class InvoicePdfApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_READ)  # read-only
    renderer_classes = PDF_RENDERERS

    @extend_schema(
        operation_id="billing_invoices_pdf",
        summary="One invoice as a PDF",
        responses=PDF_RESPONSES,
        # Two renderers make spectacular offer ?format=; the PDF is the one answer.
        parameters=[OpenApiParameter("format", exclude=True)],
    )
    def get(self, request: Request, invoice_id: str) -> HttpResponse:
        invoice = selectors.invoice_get(customer=request_customer(request), public_id=invoice_id)
        return documents.pdf_response(invoice, download=True)


class ReceiptPagination(CursorPagination):
    ordering = "-paid_at"


class ReceiptListApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_READ)  # read-only
    pagination_class = ReceiptPagination

    @extend_schema(
        operation_id="billing_receipts_list",
        summary="The receipts of your top-ups, newest first",
        responses=ReceiptOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        customer = request_customer(request)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.receipt_list(customer=customer), request, view=self
        )
        return paginator.get_paginated_response(ReceiptOutput(page, many=True).data)


class ReceiptDetailApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_READ)  # read-only

    @extend_schema(
        operation_id="billing_receipts_retrieve",
        summary="The receipt of one top-up",
        responses=ReceiptOutput,
    )
    def get(self, request: Request, receipt_id: str) -> Response:
        receipt = selectors.receipt_get(customer=request_customer(request), public_id=receipt_id)
        return Response(ReceiptOutput(receipt).data)


class ReceiptPdfApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_READ)  # read-only
    renderer_classes = PDF_RENDERERS

    @extend_schema(
        operation_id="billing_receipts_pdf",
        summary="The receipt of one top-up as a PDF",
        responses=PDF_RESPONSES,
        # Two renderers make spectacular offer ?format=; the PDF is the one answer.
        parameters=[OpenApiParameter("format", exclude=True)],
    )
    def get(self, request: Request, receipt_id: str) -> HttpResponse:
        receipt = selectors.receipt_get(customer=request_customer(request), public_id=receipt_id)
        return documents.pdf_response(receipt, download=True)


class TopUpPagination(CursorPagination):
    ordering = "-created_at"


class TopUpListApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_TOPUP)
    pagination_class = TopUpPagination  # spectacular documents the page from it

    @extend_schema(
        operation_id="billing_topups_list",
        summary="Your card top-ups, newest first",
        responses=TopUpOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        topups = selectors.topup_list(customer=request_customer(request))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(topups, request, view=self)
        return paginator.get_paginated_response(TopUpOutput(page, many=True).data)

    @extend_schema(
        operation_id="billing_topups_create",
        summary="Top up your balance by card",
        description=(
            "Creates a top-up and its Stripe Checkout page: send the customer to "
            "`checkout_url`. The balance is credited once the payment succeeds (watch "
            "`status` go pending → succeeded). With an `Idempotency-Key`, a retry answers "
            "the same top-up. If the Checkout page could not be made (a 502 "
            "`payment_provider_error`; the top-up is stored as failed), a retry with the "
            "same key tries again: the same problem while it still cannot, else 201 with "
            "the top-up pending and its `checkout_url`."
        ),
        request=TopUpCreateInput,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: TopUpOutput},
    )
    def post(self, request: Request) -> Response:
        data = TopUpCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        # The key is the top-up's own (`request_key`), not `@idempotent`'s: that one holds a
        # transaction around the view, and the Checkout Session is made outside any.
        key = idempotency_key_from(request)
        topup = payments.topup_create(
            customer=request_customer(request),
            amount=int(data.validated_data["amount"] * 100),
            actor=actor_from_request(request),
            return_url_base=request.build_absolute_uri("/").rstrip("/"),
            request_key=key or "",
        )
        return Response(TopUpOutput(topup).data, status=status.HTTP_201_CREATED)


class TopUpDetailApi(APIView):
    api_key_scopes = scopes(read=Scope.BILLING_READ, write=Scope.BILLING_TOPUP)

    @extend_schema(
        operation_id="billing_topups_retrieve", summary="One top-up", responses=TopUpOutput
    )
    def get(self, request: Request, topup_id: str) -> Response:
        topup = selectors.topup_get(customer=request_customer(request), public_id=topup_id)
        return Response(TopUpOutput(topup).data)
