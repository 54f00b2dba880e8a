from django.urls import path

from billing.api import views

urlpatterns = [
    path("billing/balance", views.BalanceApi.as_view(), name="billing-balance"),
    path(
        "billing/transactions",
        views.WalletTransactionListApi.as_view(),
        name="billing-transactions",
    ),
    path(
        "billing/transactions/<public_id:transaction_id>",
        views.WalletTransactionDetailApi.as_view(),
        name="billing-transaction",
    ),
]
