from django.urls import path

from support import views

app_name = "support"

urlpatterns = [
    path("", views.ticket_list_page, name="ticket-list"),
    path("new/", views.ticket_create_page, name="ticket-create"),
    path("<str:ticket_id>/", views.ticket_detail_page, name="ticket-detail"),
    path("<str:ticket_id>/close/", views.ticket_close_page, name="ticket-close"),
    path("<str:ticket_id>/reopen/", views.ticket_reopen_page, name="ticket-reopen"),
    path(
        "<str:ticket_id>/attachments/<str:attachment_id>/",
        views.attachment_download_page,
        name="attachment-download",
    ),
]
