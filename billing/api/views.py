from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as accounts_selectors
from accounts.models import Customer, User
from billing import selectors
from billing.api.serializers import (
    BalanceOutput,
    WalletTransactionFilter,
    WalletTransactionOutput,
)
from billing.runway import customer_hourly_cost
from cloudportal.api.pagination import CursorPagination


def request_customer(request: Request) -> Customer:
    assert isinstance(request.user, User)  # IsAuthenticated ran first
    return accounts_selectors.customer_for_user(user=request.user)


class WalletEntryPagination(CursorPagination):
    ordering = "-account_seq"


class BalanceApi(APIView):
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
