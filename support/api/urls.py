from django.urls import path

from support.api import views

urlpatterns = [
    path("tickets", views.TicketListCreateApi.as_view(), name="tickets"),
    path("tickets/<public_id:ticket_id>", views.TicketDetailApi.as_view(), name="ticket"),
    path(
        "tickets/<public_id:ticket_id>/messages",
        views.TicketMessageListCreateApi.as_view(),
        name="ticket-messages",
    ),
    path(
        "tickets/<public_id:ticket_id>/close", views.TicketCloseApi.as_view(), name="ticket-close"
    ),
    path(
        "tickets/<public_id:ticket_id>/reopen",
        views.TicketReopenApi.as_view(),
        name="ticket-reopen",
    ),
    path(
        "tickets/<public_id:ticket_id>/attachments/<public_id:attachment_id>",
        views.TicketAttachmentApi.as_view(),
        name="ticket-attachment",
    ),
]
