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
    path("billing/invoices", views.InvoiceListApi.as_view(), name="billing-invoices"),
    path(
        "billing/invoices/<public_id:invoice_id>",
        views.InvoiceDetailApi.as_view(),
        name="billing-invoice",
    ),
    path(
        "billing/invoices/<public_id:invoice_id>/pdf",
        views.InvoicePdfApi.as_view(),
        name="billing-invoice-pdf",
    ),
    path("billing/receipts", views.ReceiptListApi.as_view(), name="billing-receipts"),
    path(
        "billing/receipts/<public_id:receipt_id>",
        views.ReceiptDetailApi.as_view(),
        name="billing-receipt",
    ),
    path(
        "billing/receipts/<public_id:receipt_id>/pdf",
        views.ReceiptPdfApi.as_view(),
        name="billing-receipt-pdf",
    ),
    path("billing/top-ups", views.TopUpListApi.as_view(), name="billing-topups"),
    path(
        "billing/top-ups/<public_id:topup_id>", views.TopUpDetailApi.as_view(), name="billing-topup"
    ),
]
