"""Every write to support data: tickets, messages, attachments, assignment, auto-close.

Emails go out through a task scheduled after commit (`support.tasks`), so a rolled-back
reply sends nothing. An internal note never schedules a customer email, and the email
functions refuse one anyway (`support.emails`).
"""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from accounts import services as accounts_services
from accounts.activity import Actor as ActivityActor
from accounts.models import ActivityVerb, Customer, User
from cloudportal.ids import new_public_id
from deployments import selectors as deployment_selectors
from deployments.models import Deployment
from support.attachments import allowed_types_text, attachment_type_detect
from support.exceptions import (
    AttachmentRejected,
    AttachmentTooLarge,
    AttachmentTypeNotAllowed,
    TicketClosed,
    TicketInputInvalid,
    TicketStateConflict,
)
from support.models import (
    TRANSITIONS,
    Actor,
    Attachment,
    Category,
    Message,
    Priority,
    Status,
    Ticket,
    TicketStatusChange,
)

logger = logging.getLogger(__name__)

BODY_MAX_LENGTH = 20_000


class Notification:
    """What `notification_send` can send; the task carries the name and one id."""

    NEW_TICKET = "new_ticket"  # staff; id of the first message
    CUSTOMER_REPLY = "customer_reply"  # staff; id of the message
    STAFF_REPLY = "staff_reply"  # customer; id of the message
    AUTO_CLOSE_NOTICE = "auto_close_notice"  # customer; id of the ticket
    AUTO_CLOSED = "auto_closed"  # customer; id of the ticket


# What each support action is called in the customer's activity log.
_ACTIVITY_VERBS = {
    "ticket.created": ActivityVerb.TICKET_CREATED,
    "ticket.replied": ActivityVerb.TICKET_REPLIED,
    "ticket.answered": ActivityVerb.TICKET_REPLIED,
    "ticket.closed": ActivityVerb.TICKET_CLOSED,
    "ticket.auto_closed": ActivityVerb.TICKET_CLOSED,
    "ticket.reopened": ActivityVerb.TICKET_REOPENED,
}


def _activity(*, verb: str, ticket: Ticket, actor: str, user: User | None, **fields: Any) -> None:
    """One activity entry per action that matters (in the action's transaction), and a log
    event with the ticket's own, finer verb (`ticket.answered`, `ticket.auto_closed`)."""
    if actor == Actor.STAFF and user is not None:
        who = ActivityActor.staff(user)
    elif actor == Actor.CUSTOMER and user is not None:
        who = ActivityActor.user(user)
    else:
        who = ActivityActor.system()
    accounts_services.activity_record(
        customer=ticket.customer,
        verb=_ACTIVITY_VERBS[verb],
        actor=who,
        object_id=ticket.public_id,
        data={"event": verb, **{k: v for k, v in fields.items() if v is not None}},
    )
    logger.info(
        "support.activity",
        extra={
            "verb": verb,
            "customer_id": ticket.customer.public_id,
            "ticket_id": ticket.public_id,
            "actor": str(actor),
            "user_id": user.pk if user else None,
            **fields,
        },
    )


def _notify(kind: str, object_id: int) -> None:
    from support.tasks import notification_send_task

    transaction.on_commit(lambda: notification_send_task.delay(kind, object_id))


# --- Validation (before anything is written) ----------------------------------------


def _body_clean(body: str) -> str:
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise TicketInputInvalid("Write a message.", errors={"body": ["Write a message."]})
    if len(body) > BODY_MAX_LENGTH:
        message = f"Keep a message under {BODY_MAX_LENGTH:,} characters."
        raise TicketInputInvalid(message, errors={"body": [message]})
    return body


def attachments_validate(*, files: Sequence[UploadedFile]) -> list[tuple[UploadedFile, str]]:
    """Each file with the content type recognised from its bytes; refuses the whole set."""
    limit = settings.SUPPORT_ATTACHMENTS_PER_MESSAGE
    if len(files) > limit:
        message = f"Attach at most {limit} files to one message."
        raise AttachmentRejected(message, errors={"attachments": [message]})
    max_bytes = settings.SUPPORT_ATTACHMENT_MAX_BYTES
    checked: list[tuple[UploadedFile, str]] = []
    for upload in files:
        name = upload.name or "attachment"
        if (upload.size or 0) > max_bytes:
            message = f"{name} is larger than {filesizeformat(max_bytes).replace(chr(160), ' ')}."
            raise AttachmentTooLarge(message, errors={"attachments": [message]})
        kind = attachment_type_detect(upload)
        if kind is None:
            message = f"{name} is not one of the allowed types: {allowed_types_text()}."
            raise AttachmentTypeNotAllowed(message, errors={"attachments": [message]})
        checked.append((upload, kind.content_type))
    return checked


def _attachments_store(
    *, message: Message, files: list[tuple[UploadedFile, str]], stored: list[str]
) -> None:
    """Writes the files through the storage API; `stored` collects names to remove if the
    transaction does not commit (storage is not transactional)."""
    for upload, content_type in files:
        attachment = Attachment(
            public_id=new_public_id("att"),
            message=message,
            filename=(upload.name or "attachment").rsplit("/", 1)[-1][:255],
            content_type=content_type,
            size=upload.size or 0,
        )
        attachment.file.save(attachment.public_id, upload, save=False)
        stored.append(attachment.file.name)
        attachment.save()


def _with_files_cleanup(write: Any) -> Any:
    """Runs `write(stored)` in a transaction; files it stored are deleted if it fails."""
    stored: list[str] = []
    try:
        with transaction.atomic():
            return write(stored)
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise


# --- Tickets ------------------------------------------------------------------------


def ticket_create(
    *,
    customer: Customer,
    author: User,
    subject: str,
    body: str,
    category: str = Category.OTHER,
    priority: str = Priority.NORMAL,
    deployment_id: str | None = None,
    attachments: Sequence[UploadedFile] = (),
) -> Ticket:
    subject = " ".join(subject.split())  # one line: it becomes an email subject
    errors: dict[str, list[str]] = {}
    if not subject:
        errors["subject"] = ["Say in a few words what it is about."]
    if category not in Category.values:
        errors["category"] = [f"Choose one of: {', '.join(Category.values)}."]
    if priority not in Priority.values:
        errors["priority"] = [f"Choose one of: {', '.join(Priority.values)}."]
    deployment: Deployment | None = None
    if deployment_id:
        deployment = (
            deployment_selectors.deployment_list(customer=customer)
            .filter(public_id=deployment_id)
            .first()
        )
        if deployment is None:
            errors["deployment"] = [f"You have no deployment {deployment_id}."]
    if errors:
        raise TicketInputInvalid(next(iter(errors.values()))[0], errors=errors)
    body = _body_clean(body)
    files = attachments_validate(files=attachments)

    def write(stored: list[str]) -> tuple[Ticket, Message]:
        now = timezone.now()
        ticket = Ticket.objects.create(
            customer=customer,
            subject=subject[:200],
            category=category,
            priority=priority,
            deployment=deployment,
            created_at=now,
            last_message_at=now,
            customer_last_wrote_at=now,
            status_changed_at=now,
        )
        TicketStatusChange.objects.create(
            ticket=ticket, to_status=Status.OPEN, actor=Actor.CUSTOMER, created_at=now
        )
        message = Message.objects.create(
            ticket=ticket, author_kind=Actor.CUSTOMER, author=author, body=body, created_at=now
        )
        _attachments_store(message=message, files=files, stored=stored)
        _activity(
            verb="ticket.created",
            ticket=ticket,
            actor=Actor.CUSTOMER,
            user=author,
            deployment_id=deployment.public_id if deployment else None,
        )
        _notify(Notification.NEW_TICKET, message.pk)
        return ticket, message

    ticket, _ = _with_files_cleanup(write)
    return ticket


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().select_related("customer").get(pk=ticket.pk)


def ticket_transition(*, ticket: Ticket, to_status: str, actor: str, now: datetime) -> Ticket:
    """Moves a ticket that the caller has locked; an illegal move changes nothing."""
    if to_status == ticket.status:
        return ticket
    if to_status not in TRANSITIONS[ticket.status]:
        raise TicketStateConflict(
            f"A ticket that is {ticket.get_status_display().lower()} cannot become "
            f"{Status(to_status).label.lower()}."
        )
    TicketStatusChange.objects.create(
        ticket=ticket, from_status=ticket.status, to_status=to_status, actor=actor, created_at=now
    )
    ticket.status = to_status
    ticket.status_changed_at = now
    ticket.auto_close_notice_sent_at = None
    fields = ["status", "status_changed_at", "auto_close_notice_sent_at"]
    if to_status == Status.CLOSED:
        ticket.closed_at, ticket.closed_by = now, actor
    else:
        ticket.closed_at, ticket.closed_by = None, ""
    ticket.save(update_fields=[*fields, "closed_at", "closed_by"])
    logger.info(
        "support.ticket.transition",
        extra={"ticket_id": ticket.public_id, "to": str(to_status), "actor": str(actor)},
    )
    return ticket


def message_customer_post(
    *, ticket: Ticket, author: User, body: str, attachments: Sequence[UploadedFile] = ()
) -> Message:
    """The customer writes: it is support's turn again. A closed ticket must be reopened."""
    body = _body_clean(body)
    files = attachments_validate(files=attachments)

    def write(stored: list[str]) -> Message:
        locked = _locked(ticket)
        if locked.is_closed:
            raise TicketClosed("This ticket is closed. Reopen it to write again.")
        now = timezone.now()
        message = Message.objects.create(
            ticket=locked, author_kind=Actor.CUSTOMER, author=author, body=body, created_at=now
        )
        _attachments_store(message=message, files=files, stored=stored)
        if locked.status != Status.OPEN:
            ticket_transition(
                ticket=locked, to_status=Status.WAITING_ON_SUPPORT, actor=Actor.CUSTOMER, now=now
            )
        locked.last_message_at = locked.customer_last_wrote_at = now
        locked.save(update_fields=["last_message_at", "customer_last_wrote_at"])
        _activity(verb="ticket.replied", ticket=locked, actor=Actor.CUSTOMER, user=author)
        _notify(Notification.CUSTOMER_REPLY, message.pk)
        return message

    message: Message = _with_files_cleanup(write)
    return message


def message_staff_post(
    *,
    ticket: Ticket,
    author: User,
    body: str,
    internal: bool = False,
    attachments: Sequence[UploadedFile] = (),
) -> Message:
    """Staff write: a reply is the customer's turn (and emails them); an internal note
    changes nothing the customer can see."""
    body = _body_clean(body)
    files = attachments_validate(files=attachments)

    def write(stored: list[str]) -> Message:
        locked = _locked(ticket)
        now = timezone.now()
        message = Message.objects.create(
            ticket=locked,
            author_kind=Actor.STAFF,
            author=author,
            body=body,
            is_internal=internal,
            created_at=now,
        )
        _attachments_store(message=message, files=files, stored=stored)
        if internal:
            logger.info(
                "support.note.added",
                extra={"ticket_id": locked.public_id, "user_id": author.pk},
            )
            return message
        ticket_transition(
            ticket=locked, to_status=Status.WAITING_ON_CUSTOMER, actor=Actor.STAFF, now=now
        )
        # The auto-close clock starts again from the newest reply the customer has to read.
        locked.last_message_at = now
        locked.auto_close_notice_sent_at = None
        locked.save(update_fields=["last_message_at", "auto_close_notice_sent_at"])
        _activity(verb="ticket.answered", ticket=locked, actor=Actor.STAFF, user=author)
        _notify(Notification.STAFF_REPLY, message.pk)
        return message

    message: Message = _with_files_cleanup(write)
    return message


def ticket_close(*, ticket: Ticket, actor: str, user: User | None) -> Ticket:
    with transaction.atomic():
        locked = _locked(ticket)
        if locked.is_closed:
            return locked  # closing twice is closing once
        ticket_transition(ticket=locked, to_status=Status.CLOSED, actor=actor, now=timezone.now())
        _activity(verb="ticket.closed", ticket=locked, actor=actor, user=user)
        return locked


def ticket_reopen(*, ticket: Ticket, user: User) -> Ticket:
    """The customer reopens a closed ticket: support's turn."""
    with transaction.atomic():
        locked = _locked(ticket)
        if not locked.is_closed:
            raise TicketStateConflict("Only a closed ticket can be reopened.")
        now = timezone.now()
        ticket_transition(
            ticket=locked, to_status=Status.WAITING_ON_SUPPORT, actor=Actor.CUSTOMER, now=now
        )
        locked.customer_last_wrote_at = now
        locked.save(update_fields=["customer_last_wrote_at"])
        _activity(verb="ticket.reopened", ticket=locked, actor=Actor.CUSTOMER, user=user)
        return locked


def ticket_triage(
    *,
    ticket: Ticket,
    by: User,
    assignee: User | None,
    priority: str,
    category: str,
) -> Ticket:
    """Staff set who works the ticket, how urgent it is and what it is about."""
    if assignee is not None and not assignee.is_staff:
        raise TicketInputInvalid(
            "Tickets are assigned to staff.", errors={"assignee": ["Choose a staff member."]}
        )
    if priority not in Priority.values or category not in Category.values:
        raise TicketInputInvalid("Unknown priority or category.")
    with transaction.atomic():
        locked = _locked(ticket)
        changes = {
            field: value
            for field, value in (
                ("assignee_id", assignee.pk if assignee else None),
                ("priority", priority),
                ("category", category),
            )
            if getattr(locked, field) != value
        }
        if not changes:
            return locked
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=list(changes))
        logger.info(
            "support.ticket.triaged",
            extra={"ticket_id": locked.public_id, "by": by.pk, "changes": sorted(changes)},
        )
        return locked


# --- Auto-close ---------------------------------------------------------------------


def tickets_auto_close(*, now: datetime | None = None) -> dict[str, int]:
    """Tickets waiting on the customer: a notice when the close is near, then the close.
    The clock runs from support's newest reply (a ticket waits on the customer only after one).

    The close waits for the notice to have been out SUPPORT_AUTO_CLOSE_NOTICE_DAYS, so a
    customer is always told first even if this job did not run for a while. Runs twice
    harmlessly: each step re-checks the row under its lock.
    """
    now = now or timezone.now()
    close_after = timedelta(days=settings.SUPPORT_AUTO_CLOSE_DAYS)
    notice = timedelta(days=settings.SUPPORT_AUTO_CLOSE_NOTICE_DAYS)
    waiting = Ticket.objects.filter(status=Status.WAITING_ON_CUSTOMER)
    noticed = closed = 0

    to_notice = waiting.filter(
        auto_close_notice_sent_at__isnull=True, last_message_at__lte=now - (close_after - notice)
    ).values_list("pk", flat=True)
    for ticket_id in to_notice:
        with transaction.atomic():
            ticket = (
                Ticket.objects.select_for_update()
                .select_related("customer")
                .filter(
                    pk=ticket_id,
                    status=Status.WAITING_ON_CUSTOMER,
                    auto_close_notice_sent_at__isnull=True,
                    last_message_at__lte=now - (close_after - notice),
                )
                .first()
            )
            if ticket is None:
                continue
            ticket.auto_close_notice_sent_at = now
            ticket.save(update_fields=["auto_close_notice_sent_at"])
            _notify(Notification.AUTO_CLOSE_NOTICE, ticket.pk)
            noticed += 1

    to_close = waiting.filter(
        last_message_at__lte=now - close_after, auto_close_notice_sent_at__lte=now - notice
    ).values_list("pk", flat=True)
    for ticket_id in to_close:
        with transaction.atomic():
            ticket = (
                Ticket.objects.select_for_update()
                .select_related("customer")
                .filter(pk=ticket_id, status=Status.WAITING_ON_CUSTOMER)
                .first()
            )
            if ticket is None or ticket.last_message_at > now - close_after:
                continue
            ticket_transition(ticket=ticket, to_status=Status.CLOSED, actor=Actor.SYSTEM, now=now)
            _activity(verb="ticket.auto_closed", ticket=ticket, actor=Actor.SYSTEM, user=None)
            _notify(Notification.AUTO_CLOSED, ticket.pk)
            closed += 1
    logger.info("support.auto_close", extra={"noticed": noticed, "closed": closed})
    return {"noticed": noticed, "closed": closed}


# --- Emails -------------------------------------------------------------------------


def notification_send(*, kind: str, object_id: int) -> None:
    """Sends one notification email (the task's body); see support/emails.py."""
    from support import emails

    emails.notification_send(kind=kind, object_id=object_id)
