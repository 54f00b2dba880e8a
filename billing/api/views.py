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
        summary="Your balance: posted, held and available",
        responses=BalanceOutput,
    )
    def get(self, request: Request) -> Response:
        balance = selectors.wallet_balance(customer=request_customer(request))
        return Response(BalanceOutput(balance).data)


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
