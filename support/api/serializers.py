from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cloudportal.api.serializers import QueryFilter, StrictInput
from support.models import Attachment, Category, Message, Priority, Status, Ticket


class TicketListFilter(QueryFilter):
    status = serializers.ChoiceField(choices=Status.choices, required=False)


class TicketCreateInput(StrictInput):
    subject = serializers.CharField(max_length=200)
    category = serializers.ChoiceField(choices=Category.choices, default=Category.OTHER)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    deployment = serializers.CharField(
        max_length=40,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Id (`dep_…`) of one of your deployments, if the ticket is about it.",
    )
    body = serializers.CharField(max_length=20_000, trim_whitespace=False)


class TicketCreateMultipartInput(TicketCreateInput):
    attachments = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="Screenshots or logs."
    )


class TicketReplyInput(StrictInput):
    body = serializers.CharField(max_length=20_000, trim_whitespace=False)


class TicketReplyMultipartInput(TicketReplyInput):
    attachments = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="Screenshots or logs."
    )


class TicketAttachmentOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes.")
    url = serializers.SerializerMethodField(help_text="Download (same authentication).")

    def get_url(self, attachment: Attachment) -> str:
        return reverse(
            "api:ticket-attachment",
            kwargs={
                "ticket_id": attachment.message.ticket.public_id,
                "attachment_id": attachment.public_id,
            },
        )


class TicketMessageOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    author = serializers.ChoiceField(
        source="author_kind",
        choices=[("customer", "customer"), ("staff", "staff")],
        help_text="`customer` (you) or `staff` (GPU Cloud support).",
    )
    body = serializers.CharField(help_text="Plain text.")
    attachments = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(TicketAttachmentOutput(many=True))
    def get_attachments(self, message: Message) -> list[dict[str, object]]:
        return [
            dict(item) for item in TicketAttachmentOutput(message.attachments.all(), many=True).data
        ]


class TicketOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    subject = serializers.CharField()
    category = serializers.ChoiceField(choices=Category.choices)
    priority = serializers.ChoiceField(choices=Priority.choices)
    status = serializers.ChoiceField(choices=Status.choices)
    deployment = serializers.SerializerMethodField(help_text="The deployment it is about.")
    created_at = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)

    def get_deployment(self, ticket: Ticket) -> str | None:
        return ticket.deployment.public_id if ticket.deployment else None
