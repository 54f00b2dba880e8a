"""The support emails: plain text, one per notification, built from one message or ticket.

A customer email only ever carries the one staff reply it announces (never the thread),
and refuses an internal note, so a note cannot reach a customer by any path.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse

from support.models import Message, Ticket

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "[GPU Cloud] "


def _ticket_url(ticket: Ticket) -> str:
    return settings.PORTAL_BASE_URL + reverse(
        "support:ticket-detail", kwargs={"ticket_id": ticket.public_id}
    )


def _admin_url(ticket: Ticket) -> str:
    return settings.PORTAL_BASE_URL + reverse("admin:support_ticket_change", args=[ticket.pk])


def _send(*, to: str, subject: str, template: str, context: dict[str, object]) -> None:
    ticket = context["ticket"]
    assert isinstance(ticket, Ticket)
    body = render_to_string(f"support/email/{template}.txt", context)
    email = EmailMessage(
        subject=f"{SUBJECT_PREFIX}{subject} [{ticket.public_id}]",
        body=body,
        to=[to],
        headers={"X-Ticket-Id": ticket.public_id},
    )
    email.send()
    logger.info(
        "support.email.sent",
        extra={"ticket_id": ticket.public_id, "template": template},
    )


def _message(message_id: int) -> Message:
    return Message.objects.select_related("ticket__customer__user", "author").get(pk=message_id)


def notification_send(*, kind: str, object_id: int) -> None:
    from support.services import Notification

    if kind in (Notification.NEW_TICKET, Notification.CUSTOMER_REPLY):
        message = _message(object_id)
        ticket = message.ticket
        _send(
            to=settings.SUPPORT_STAFF_EMAIL,
            subject=("New ticket: " if kind == Notification.NEW_TICKET else "Customer reply: ")
            + ticket.subject,
            template="staff_" + kind,
            context={
                "ticket": ticket,
                "message": message,
                "attachments": list(message.attachments.all()),
                "admin_url": _admin_url(ticket),
            },
        )
    elif kind == Notification.STAFF_REPLY:
        message = _message(object_id)
        ticket = message.ticket
        if message.is_internal:  # never: internal notes schedule no email
            logger.error("support.email.internal_refused", extra={"message_id": message.pk})
            return
        if not ticket.customer.notify_ticket_replies:
            return
        _send(
            to=ticket.customer.user.email,
            subject=f"Reply to your ticket: {ticket.subject}",
            template="customer_staff_reply",
            context={
                "ticket": ticket,
                "message": message,
                "attachments": list(message.attachments.all()),
                "ticket_url": _ticket_url(ticket),
            },
        )
    elif kind in (Notification.AUTO_CLOSE_NOTICE, Notification.AUTO_CLOSED):
        ticket = Ticket.objects.select_related("customer__user").get(pk=object_id)
        _send(
            to=ticket.customer.user.email,
            subject=(
                "Your ticket will close soon: "
                if kind == Notification.AUTO_CLOSE_NOTICE
                else "Your ticket was closed: "
            )
            + ticket.subject,
            template="customer_" + kind,
            context={
                "ticket": ticket,
                "ticket_url": _ticket_url(ticket),
                "notice_days": settings.SUPPORT_AUTO_CLOSE_NOTICE_DAYS,
                "close_days": settings.SUPPORT_AUTO_CLOSE_DAYS,
            },
        )
    else:
        raise ValueError(f"Unknown support notification {kind!r}")
