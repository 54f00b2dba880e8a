"""The ticket lifecycle from both sides, its emails, attachments and auto-close."""

import os
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import ActivityEntry
from support import services
from support.exceptions import (
    AttachmentRejected,
    AttachmentTooLarge,
    AttachmentTypeNotAllowed,
    TicketClosed,
    TicketInputInvalid,
    TicketStateConflict,
)
from support.models import Actor, Attachment, Message, Status, Ticket, TicketStatusChange
from tests.support.conftest import PNG, log, png

pytestmark = pytest.mark.django_db


def open_ticket(customer, **overrides) -> Ticket:
    values = {
        "subject": "GPU not visible",
        "body": "nvidia-smi shows no devices on trainer-1.",
        "category": "deployment",
    }
    return services.ticket_create(
        customer=customer, author=customer.user, **{**values, **overrides}
    )


def statuses(ticket: Ticket) -> list[tuple[str, str, str]]:
    return list(
        TicketStatusChange.objects.filter(ticket=ticket)
        .order_by("id")
        .values_list("from_status", "to_status", "actor")
    )


def stored_files(settings) -> list[str]:
    root = settings.MEDIA_ROOT
    return sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(root)
        for name in names
    )


# --- the thread from both sides -----------------------------------------------------------


def test_the_whole_thread_moves_the_status_and_mails_the_right_people(
    customer, staff, committed, mailoutbox
):
    with committed():
        ticket = open_ticket(customer)
    assert ticket.status == Status.OPEN
    assert [m.to for m in mailoutbox] == [["support-team@example.com"]]
    assert mailoutbox[0].subject == f"[GPU Cloud] New ticket: GPU not visible [{ticket.public_id}]"
    assert "nvidia-smi shows no devices on trainer-1." in mailoutbox[0].body
    assert (
        f"https://portal.example.com/admin/support/ticket/{ticket.pk}/change/" in mailoutbox[0].body
    )

    with committed():
        services.message_staff_post(ticket=ticket, author=staff, body="Which driver version?")
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_ON_CUSTOMER
    assert mailoutbox[1].to == [customer.user.email]
    assert mailoutbox[1].subject == (
        f"[GPU Cloud] Reply to your ticket: GPU not visible [{ticket.public_id}]"
    )
    assert "Which driver version?" in mailoutbox[1].body
    assert f"https://portal.example.com/support/{ticket.public_id}/" in mailoutbox[1].body

    with committed():
        services.message_customer_post(ticket=ticket, author=customer.user, body="550.54")
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_ON_SUPPORT
    assert mailoutbox[2].to == ["support-team@example.com"]
    assert mailoutbox[2].subject == (
        f"[GPU Cloud] Customer reply: GPU not visible [{ticket.public_id}]"
    )
    assert "550.54" in mailoutbox[2].body

    services.ticket_close(ticket=ticket, actor=Actor.CUSTOMER, user=customer.user)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.closed_by) == (Status.CLOSED, Actor.CUSTOMER)

    services.ticket_reopen(ticket=ticket, user=customer.user)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.closed_at, ticket.closed_by) == (
        Status.WAITING_ON_SUPPORT,
        None,
        "",
    )
    assert statuses(ticket) == [
        ("", "open", "customer"),
        ("open", "waiting_on_customer", "staff"),
        ("waiting_on_customer", "waiting_on_support", "customer"),
        ("waiting_on_support", "closed", "customer"),
        ("closed", "waiting_on_support", "customer"),
    ]
    assert list(ticket.messages.order_by("id").values_list("author_kind", "body")) == [
        ("customer", "nvidia-smi shows no devices on trainer-1."),
        ("staff", "Which driver version?"),
        ("customer", "550.54"),
    ]
    assert len(mailoutbox) == 3
    # The customer's activity log tells the same story, each step by the one who did it.
    assert list(
        ActivityEntry.objects.filter(object_id=ticket.public_id)
        .order_by("id")
        .values_list("verb", "actor_kind", "actor_label", "data__event")
    ) == [
        ("ticket.created", "user", customer.user.email, "ticket.created"),
        ("ticket.replied", "staff", staff.email, "ticket.answered"),
        ("ticket.replied", "user", customer.user.email, "ticket.replied"),
        ("ticket.closed", "user", customer.user.email, "ticket.closed"),
        ("ticket.reopened", "user", customer.user.email, "ticket.reopened"),
    ]
    assert {entry.customer_id for entry in ActivityEntry.objects.all()} == {customer.pk}


def test_a_customer_reply_to_a_new_ticket_keeps_it_open(customer):
    ticket = open_ticket(customer)

    services.message_customer_post(ticket=ticket, author=customer.user, body="Also on trainer-2.")

    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert statuses(ticket) == [("", "open", "customer")]


def test_a_closed_ticket_refuses_a_customer_reply_and_keeps_nothing(customer, settings):
    ticket = open_ticket(customer)
    services.ticket_close(ticket=ticket, actor=Actor.CUSTOMER, user=customer.user)

    with pytest.raises(TicketClosed):
        services.message_customer_post(
            ticket=ticket, author=customer.user, body="One more thing", attachments=[png()]
        )

    assert ticket.messages.count() == 1
    assert Attachment.objects.count() == 0
    assert stored_files(settings) == []


def test_staff_writing_on_a_closed_ticket_hands_it_back_to_the_customer(customer, staff):
    ticket = open_ticket(customer)
    services.ticket_close(ticket=ticket, actor=Actor.CUSTOMER, user=customer.user)

    services.message_staff_post(ticket=ticket, author=staff, body="Fixed on our side.")

    ticket.refresh_from_db()
    assert (ticket.status, ticket.closed_at) == (Status.WAITING_ON_CUSTOMER, None)


def test_reopening_an_open_ticket_is_refused(customer):
    ticket = open_ticket(customer)

    with pytest.raises(TicketStateConflict):
        services.ticket_reopen(ticket=ticket, user=customer.user)

    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert statuses(ticket) == [("", "open", "customer")]


def test_closing_twice_records_one_close(customer):
    ticket = open_ticket(customer)

    services.ticket_close(ticket=ticket, actor=Actor.CUSTOMER, user=customer.user)
    services.ticket_close(ticket=ticket, actor=Actor.CUSTOMER, user=customer.user)

    assert [row[1] for row in statuses(ticket)] == ["open", "closed"]


def test_a_ticket_may_name_only_the_customers_own_deployment(
    customer, other_customer, deployment_of
):
    mine = deployment_of(customer)
    theirs = deployment_of(other_customer, name="theirs")

    ticket = open_ticket(customer, deployment_id=mine.public_id)
    assert ticket.deployment == mine

    with pytest.raises(TicketInputInvalid) as refused:
        open_ticket(customer, deployment_id=theirs.public_id)
    assert refused.value.errors == {"deployment": [f"You have no deployment {theirs.public_id}."]}
    assert Ticket.objects.count() == 1


def test_an_empty_subject_or_body_is_refused(customer):
    with pytest.raises(TicketInputInvalid) as no_subject:
        open_ticket(customer, subject="   ")
    with pytest.raises(TicketInputInvalid) as no_body:
        open_ticket(customer, body="\n \n")

    assert no_subject.value.errors == {"subject": ["Say in a few words what it is about."]}
    assert no_body.value.errors == {"body": ["Write a message."]}
    assert Ticket.objects.count() == 0


# --- internal notes -------------------------------------------------------------------------


def test_an_internal_note_changes_nothing_the_customer_sees_and_mails_no_one(
    customer, staff, committed, mailoutbox
):
    ticket = open_ticket(customer)
    before = Ticket.objects.get(pk=ticket.pk)

    with committed():
        note = services.message_staff_post(
            ticket=ticket, author=staff, body="Customer is on the old driver.", internal=True
        )

    after = Ticket.objects.get(pk=ticket.pk)
    assert note.is_internal
    assert (after.status, after.last_message_at) == (before.status, before.last_message_at)
    assert mailoutbox == []


def test_the_customer_email_never_carries_an_internal_note(customer, staff, committed, mailoutbox):
    ticket = open_ticket(customer)
    services.message_staff_post(
        ticket=ticket, author=staff, body="SECRET: refund abuse suspected", internal=True
    )
    with committed():
        services.message_staff_post(ticket=ticket, author=staff, body="Please try a reboot.")

    assert len(mailoutbox) == 1
    assert "Please try a reboot." in mailoutbox[0].body
    assert "SECRET" not in mailoutbox[0].body
    assert "SECRET" not in mailoutbox[0].subject


def test_an_internal_note_queued_as_a_reply_email_is_still_refused(customer, staff, mailoutbox):
    ticket = open_ticket(customer)
    note = services.message_staff_post(ticket=ticket, author=staff, body="SECRET", internal=True)

    services.notification_send(kind=services.Notification.STAFF_REPLY, object_id=note.pk)

    assert mailoutbox == []


def test_a_customer_who_turned_reply_emails_off_gets_none(customer, staff, committed, mailoutbox):
    customer.notify_ticket_replies = False
    customer.save(update_fields=["notify_ticket_replies"])
    ticket = open_ticket(customer)

    with committed():
        services.message_staff_post(ticket=ticket, author=staff, body="Done.")

    assert mailoutbox == []


def test_a_rolled_back_reply_sends_nothing(customer, staff, committed, mailoutbox):
    ticket = open_ticket(customer)
    with committed(), pytest.raises(AttachmentTypeNotAllowed):
        services.message_staff_post(
            ticket=ticket,
            author=staff,
            body="See attached",
            attachments=[SimpleUploadedFile("x.png", b"MZ\x90\x00binary")],
        )

    assert mailoutbox == []
    assert ticket.messages.count() == 1


# --- attachments --------------------------------------------------------------------------


def test_attachments_are_stored_through_storage_under_names_we_choose(customer, settings):
    ticket = open_ticket(customer, attachments=[png("../../etc/passwd.png"), log()])

    attachments = list(Attachment.objects.order_by("id"))
    assert [(a.filename, a.content_type, a.size) for a in attachments] == [
        ("passwd.png", "image/png", len(PNG)),
        ("boot.log", "text/plain", 43),
    ]
    assert stored_files(settings) == sorted(
        f"support/{ticket.public_id}/{attachment.public_id}" for attachment in attachments
    )
    with attachments[0].file.open("rb") as stored:
        assert stored.read() == PNG


def test_an_attachment_over_the_size_limit_is_refused_and_nothing_is_kept(customer, settings):
    settings.SUPPORT_ATTACHMENT_MAX_BYTES = 1024
    big = SimpleUploadedFile("big.log", b"x" * 1025, content_type="text/plain")

    with pytest.raises(AttachmentTooLarge) as refused:
        open_ticket(customer, attachments=[log(), big])

    assert refused.value.errors == {"attachments": ["big.log is larger than 1.0 KB."]}
    assert Ticket.objects.count() == 0
    assert stored_files(settings) == []


def test_exactly_the_size_limit_is_accepted(customer, settings):
    settings.SUPPORT_ATTACHMENT_MAX_BYTES = 1024

    open_ticket(customer, attachments=[SimpleUploadedFile("edge.log", b"x" * 1024)])

    assert Attachment.objects.get().size == 1024


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("setup.png", b"MZ\x90\x00\x03\x00\x00\x00"),  # an executable named as an image
        ("notes.txt", b"\x7fELF\x02\x01\x01\x00\x00\x00"),  # binary named as text
        ("page.html", b"\x00<script>alert(1)</script>"),
        ("empty.log", b""),
    ],
)
def test_a_type_off_the_allow_list_is_refused_by_its_content(customer, settings, name, content):
    with pytest.raises(AttachmentTypeNotAllowed) as refused:
        open_ticket(customer, attachments=[SimpleUploadedFile(name, content)])

    assert refused.value.errors == {
        "attachments": [f"{name} is not one of the allowed types: PNG, JPEG, GIF, WebP, PDF, text."]
    }
    assert Ticket.objects.count() == 0
    assert stored_files(settings) == []


def test_the_allow_list_comes_from_settings(customer, settings):
    settings.SUPPORT_ATTACHMENT_TYPES = ["text/plain"]

    with pytest.raises(AttachmentTypeNotAllowed):
        open_ticket(customer, attachments=[png()])
    ticket = open_ticket(customer, attachments=[log()])

    assert Attachment.objects.get().message.ticket == ticket


def test_a_pdf_and_a_jpeg_are_recognised(customer):
    open_ticket(
        customer,
        attachments=[
            SimpleUploadedFile("invoice.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
            SimpleUploadedFile("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
        ],
    )

    assert list(Attachment.objects.order_by("id").values_list("content_type", flat=True)) == [
        "application/pdf",
        "image/jpeg",
    ]


def test_more_files_than_allowed_are_refused(customer, settings):
    settings.SUPPORT_ATTACHMENTS_PER_MESSAGE = 2

    with pytest.raises(AttachmentRejected) as refused:
        open_ticket(customer, attachments=[log("a.log"), log("b.log"), log("c.log")])

    assert refused.value.code == "attachment_rejected"
    assert refused.value.errors == {"attachments": ["Attach at most 2 files to one message."]}
    assert Ticket.objects.count() == 0


# --- auto-close -----------------------------------------------------------------------------


def test_a_ticket_waiting_on_the_customer_gets_a_notice_then_closes(
    customer, staff, committed, mailoutbox, settings
):
    settings.SUPPORT_AUTO_CLOSE_DAYS = 7
    settings.SUPPORT_AUTO_CLOSE_NOTICE_DAYS = 2
    start = timezone.now()
    ticket = open_ticket(customer)
    with time_machine.travel(start, tick=False):
        services.message_staff_post(ticket=ticket, author=staff, body="Does it work now?")

    almost = start + timedelta(days=5) - timedelta(minutes=1)
    with time_machine.travel(almost, tick=False), committed():
        assert services.tickets_auto_close() == {"noticed": 0, "closed": 0}
    assert mailoutbox == []

    with time_machine.travel(start + timedelta(days=5), tick=False), committed():
        assert services.tickets_auto_close() == {"noticed": 1, "closed": 0}
    assert [m.subject for m in mailoutbox] == [
        f"[GPU Cloud] Your ticket will close soon: GPU not visible [{ticket.public_id}]"
    ]
    assert "within 2 days" in mailoutbox[0].body

    with time_machine.travel(start + timedelta(days=6), tick=False), committed():
        assert services.tickets_auto_close() == {"noticed": 0, "closed": 0}

    with time_machine.travel(start + timedelta(days=7), tick=False), committed():
        assert services.tickets_auto_close() == {"noticed": 0, "closed": 1}
    ticket.refresh_from_db()
    assert (ticket.status, ticket.closed_by) == (Status.CLOSED, Actor.SYSTEM)
    assert mailoutbox[1].to == [customer.user.email]
    assert mailoutbox[1].subject == (
        f"[GPU Cloud] Your ticket was closed: GPU not visible [{ticket.public_id}]"
    )
    assert "had not heard from you for 7 days" in mailoutbox[1].body

    with time_machine.travel(start + timedelta(days=8), tick=False), committed():
        assert services.tickets_auto_close() == {"noticed": 0, "closed": 0}
    assert len(mailoutbox) == 2


def test_auto_close_waits_for_the_notice_even_when_the_job_was_late(customer, staff, settings):
    start = timezone.now()
    ticket = open_ticket(customer)
    with time_machine.travel(start, tick=False):
        services.message_staff_post(ticket=ticket, author=staff, body="Does it work now?")

    with time_machine.travel(start + timedelta(days=30), tick=False):
        assert services.tickets_auto_close() == {"noticed": 1, "closed": 0}
    with time_machine.travel(start + timedelta(days=32), tick=False):
        assert services.tickets_auto_close() == {"noticed": 0, "closed": 1}


def test_a_customer_answer_after_the_notice_keeps_the_ticket_open(customer, staff):
    start = timezone.now()
    ticket = open_ticket(customer)
    with time_machine.travel(start, tick=False):
        services.message_staff_post(ticket=ticket, author=staff, body="Does it work now?")
    with time_machine.travel(start + timedelta(days=5), tick=False):
        services.tickets_auto_close()
        services.message_customer_post(ticket=ticket, author=customer.user, body="Not yet.")

    with time_machine.travel(start + timedelta(days=30), tick=False):
        assert services.tickets_auto_close() == {"noticed": 0, "closed": 0}
    ticket.refresh_from_db()
    assert (ticket.status, ticket.auto_close_notice_sent_at) == (Status.WAITING_ON_SUPPORT, None)


def test_a_new_staff_reply_restarts_the_auto_close_clock(customer, staff):
    start = timezone.now()
    ticket = open_ticket(customer)
    with time_machine.travel(start, tick=False):
        services.message_staff_post(ticket=ticket, author=staff, body="Does it work now?")
    with time_machine.travel(start + timedelta(days=5), tick=False):
        services.tickets_auto_close()
        services.message_staff_post(ticket=ticket, author=staff, body="Any news?")

    with time_machine.travel(start + timedelta(days=9), tick=False):
        assert services.tickets_auto_close() == {"noticed": 0, "closed": 0}
    with time_machine.travel(start + timedelta(days=10), tick=False):
        assert services.tickets_auto_close() == {"noticed": 1, "closed": 0}


def test_tickets_waiting_on_support_never_auto_close(customer):
    ticket = open_ticket(customer)

    with time_machine.travel(timezone.now() + timedelta(days=365), tick=False):
        assert services.tickets_auto_close() == {"noticed": 0, "closed": 0}
    assert Ticket.objects.get(pk=ticket.pk).status == Status.OPEN


def test_messages_keep_their_author(customer, staff):
    ticket = open_ticket(customer)
    services.message_staff_post(ticket=ticket, author=staff, body="On it.")

    assert list(Message.objects.order_by("id").values_list("author__email", "author_kind")) == [
        (customer.user.email, "customer"),
        ("agent@example.com", "staff"),
    ]
