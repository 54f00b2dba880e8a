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
        "billing/transactions/<str:transaction_id>",
        views.WalletTransactionDetailApi.as_view(),
        name="billing-transaction",
    ),
    path("billing/top-ups", views.TopUpListApi.as_view(), name="billing-topups"),
    path("billing/top-ups/<str:topup_id>", views.TopUpDetailApi.as_view(), name="billing-topup"),
]
