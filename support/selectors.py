"""Reads of support data. The customer's are scoped to them and never include internal notes."""

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Customer
from deployments.models import Deployment
from support.models import Attachment, Message, Status, Ticket


def ticket_list(*, customer: Customer, status: str | None = None) -> QuerySet[Ticket]:
    tickets = (
        Ticket.objects.filter(customer=customer)
        .select_related("deployment")
        .order_by("-created_at")
    )
    if status:
        tickets = tickets.filter(status=status)
    return tickets


def ticket_get(*, customer: Customer, public_id: str) -> Ticket:
    """Another customer's ticket is indistinguishable from a missing one: 404."""
    return get_object_or_404(ticket_list(customer=customer), public_id=public_id)


def ticket_status_counts(*, customer: Customer) -> dict[str, int]:
    counts = dict.fromkeys(Status.values, 0)
    for status in Ticket.objects.filter(customer=customer).values_list("status", flat=True):
        counts[status] += 1
    return counts


def message_list_for_customer(*, ticket: Ticket) -> QuerySet[Message]:
    """The thread as the customer sees it: every message but staff's internal notes."""
    return (
        Message.objects.filter(ticket=ticket, is_internal=False)
        .select_related("author", "ticket")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("created_at", "id")
    )


def message_list_for_staff(*, ticket: Ticket) -> QuerySet[Message]:
    return (
        Message.objects.filter(ticket=ticket)
        .select_related("author", "ticket")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("created_at", "id")
    )


def attachment_get_for_customer(
    *, customer: Customer, ticket_id: str, attachment_id: str
) -> Attachment:
    """Only an attachment of a message the customer can see: another customer's, or one on
    an internal note, answers 404."""
    return get_object_or_404(
        Attachment.objects.select_related("message__ticket"),
        public_id=attachment_id,
        message__ticket__public_id=ticket_id,
        message__ticket__customer=customer,
        message__is_internal=False,
    )


def attachment_get_for_staff(*, ticket_id: int, attachment_id: str) -> Attachment:
    return get_object_or_404(
        Attachment.objects.select_related("message__ticket"),
        public_id=attachment_id,
        message__ticket_id=ticket_id,
    )


def deployment_choices(*, customer: Customer) -> QuerySet[Deployment]:
    """The customer's deployments a ticket may be about, newest first."""
    return Deployment.objects.filter(customer=customer).order_by("-created_at")
