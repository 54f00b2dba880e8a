from django.urls import path

from support import views

app_name = "support"

urlpatterns = [
    path("", views.ticket_list_page, name="ticket-list"),
    path("new/", views.ticket_create_page, name="ticket-create"),
    path("<public_id:ticket_id>/", views.ticket_detail_page, name="ticket-detail"),
    path("<public_id:ticket_id>/close/", views.ticket_close_page, name="ticket-close"),
    path("<public_id:ticket_id>/reopen/", views.ticket_reopen_page, name="ticket-reopen"),
    path(
        "<public_id:ticket_id>/attachments/<public_id:attachment_id>/",
        views.attachment_download_page,
        name="attachment-download",
    ),
]
