from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("", views.overview_page, name="overview"),
    path("invoices/", views.invoice_list_page, name="invoice-list"),
    path("invoices/draft/", views.invoice_draft_page, name="invoice-draft"),
    path("invoices/<public_id:invoice_id>/", views.invoice_detail_page, name="invoice-detail"),
    path("invoices/<public_id:invoice_id>/pdf", views.invoice_pdf_page, name="invoice-pdf"),
    path(
        "credit-notes/<public_id:credit_note_id>/pdf",
        views.credit_note_pdf_page,
        name="credit-note-pdf",
    ),
    path("receipts/", views.receipt_list_page, name="receipt-list"),
    path("receipts/<public_id:receipt_id>/", views.receipt_detail_page, name="receipt-detail"),
    path("receipts/<public_id:receipt_id>/pdf", views.receipt_pdf_page, name="receipt-pdf"),
    path("details/", views.billing_details_page, name="details"),
    path("top-up/", views.topup_page, name="topup"),
    path("top-up/<public_id:topup_id>/return", views.topup_return_page, name="topup-return"),
]
