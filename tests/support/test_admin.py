"""The staff console: the queue and its filters, inline replies and internal notes through
the services, assignment, links to the customer, and staff-only attachment downloads."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from support import services
from support.models import Attachment, Message, Status, Ticket
from tests.support.conftest import PNG, png

pytestmark = pytest.mark.django_db


def open_ticket(customer, **overrides) -> Ticket:
    values = {"subject": "GPU not visible", "body": "nvidia-smi shows no devices."}
    return services.ticket_create(
        customer=customer, author=customer.user, **{**values, **overrides}
    )


def change_url(ticket: Ticket) -> str:
    return f"/admin/support/ticket/{ticket.pk}/change/"


def submit(staff_browser, ticket: Ticket, **fields):
    form = {
        "assignee": "",
        "priority": ticket.priority,
        "category": ticket.category,
        "reply_body": "",
        **fields,
    }
    return staff_browser.post(change_url(ticket), form)


def queue(staff_browser, query: str = "") -> str:
    response = staff_browser.get(f"/admin/support/ticket/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_a_staff_reply_written_inline_reaches_the_customer(
    staff_browser, customer, committed, mailoutbox
):
    ticket = open_ticket(customer)

    with committed():
        response = submit(staff_browser, ticket, reply_body="Please reboot it.")

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_ON_CUSTOMER
    reply = ticket.messages.get(author_kind="staff")
    assert (reply.body, reply.is_internal, reply.author.email) == (
        "Please reboot it.",
        False,
        "agent@example.com",
    )
    assert [m.to for m in mailoutbox] == [[customer.user.email]]


def test_an_internal_note_is_absent_from_every_customer_surface(
    staff_browser, browser, api, customer, committed, mailoutbox
):
    ticket = open_ticket(customer)

    with committed():
        response = submit(
            staff_browser,
            ticket,
            reply_body="NOTE-7731 card declined thrice",
            reply_internal="on",
            reply_attachments=[png("evidence.png")],
        )
        # and a real reply after it, whose email must not carry the note
        submit(staff_browser, ticket, reply_body="We are looking into it.")

    assert response.status_code == 302
    note = Message.objects.get(is_internal=True)
    assert note.body == "NOTE-7731 card declined thrice"
    attachment = note.attachments.get()
    page = browser.get(f"/support/{ticket.public_id}/").content.decode()
    thread = api.get(f"/api/v1/tickets/{ticket.public_id}/messages").content.decode()
    listing = api.get("/api/v1/tickets").content.decode()
    for surface in (page, thread, listing, *(m.body + m.subject for m in mailoutbox)):
        assert "NOTE-7731" not in surface
        assert "evidence.png" not in surface
        assert attachment.public_id not in surface
    assert len(mailoutbox) == 1  # the reply only
    assert (
        api.get(
            f"/api/v1/tickets/{ticket.public_id}/attachments/{attachment.public_id}"
        ).status_code
        == 404
    )
    # Staff see it, marked.
    console = staff_browser.get(change_url(ticket)).content.decode()
    assert "<strong>Internal note</strong>" in console
    assert "NOTE-7731 card declined thrice" in console


def test_staff_download_attachments_including_internal_ones(staff_browser, customer, staff):
    ticket = open_ticket(customer, attachments=[png()])
    services.message_staff_post(
        ticket=ticket, author=staff, body="internal", internal=True, attachments=[png("n.png")]
    )
    customers, internal = Attachment.objects.order_by("id")

    for attachment in (customers, internal):
        url = f"/admin/support/ticket/{ticket.pk}/attachments/{attachment.public_id}/"
        response = staff_browser.get(url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PNG
    console = staff_browser.get(change_url(ticket)).content.decode()
    assert f'href="/admin/support/ticket/{ticket.pk}/attachments/{internal.public_id}/"' in console


def test_the_staff_attachment_view_is_for_staff_only(browser, customer):
    ticket = open_ticket(customer, attachments=[png()])
    attachment = Attachment.objects.get()

    response = browser.get(f"/admin/support/ticket/{ticket.pk}/attachments/{attachment.public_id}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_refused_attachment_is_a_form_error_and_nothing_is_written(staff_browser, customer):
    ticket = open_ticket(customer)

    response = submit(
        staff_browser,
        ticket,
        reply_body="see attached",
        reply_attachments=[SimpleUploadedFile("x.png", b"MZ\x90\x00")],
    )

    assert response.status_code == 200
    assert "x.png is not one of the allowed types" in response.content.decode()
    assert ticket.messages.count() == 1
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


def test_triage_assigns_and_reprioritises_through_the_service(staff_browser, customer, staff):
    ticket = open_ticket(customer)

    response = submit(staff_browser, ticket, assignee=staff.pk, priority="urgent")

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.priority, ticket.status) == (staff, "urgent", Status.OPEN)
    assert ticket.messages.count() == 1


def test_the_queue_filters_unassigned_and_mine(staff_browser, customer, staff):
    mine = open_ticket(customer, subject="Mine")
    nobodys = open_ticket(customer, subject="Nobodys")
    services.ticket_triage(
        ticket=mine, by=staff, assignee=staff, priority="normal", category="other"
    )

    unassigned = queue(staff_browser, "?assigned=unassigned")
    assigned_to_me = queue(staff_browser, "?assigned=mine")
    assigned_to_them = queue(staff_browser, f"?assigned={staff.pk}")

    assert nobodys.public_id in unassigned
    assert mine.public_id not in unassigned
    assert mine.public_id in assigned_to_me
    assert nobodys.public_id not in assigned_to_me
    assert mine.public_id in assigned_to_them
    assert nobodys.public_id not in assigned_to_them


def test_the_queue_filters_by_status_priority_and_category(staff_browser, customer):
    billing = open_ticket(customer, category="billing", priority="urgent")
    other = open_ticket(customer, category="other")

    by_category = queue(staff_browser, "?category__exact=billing")
    by_priority = queue(staff_browser, "?priority__exact=urgent")
    by_status = queue(staff_browser, "?status__exact=open")

    assert billing.public_id in by_category
    assert other.public_id not in by_category
    assert billing.public_id in by_priority
    assert other.public_id not in by_priority
    assert billing.public_id in by_status
    assert other.public_id in by_status


def test_the_queue_filters_by_how_long_ago_the_customer_wrote(staff_browser, customer):
    now = timezone.now()
    with time_machine.travel(now - timedelta(days=5), tick=False):
        old = open_ticket(customer, subject="Old")
    fresh = open_ticket(customer, subject="Fresh")

    three_to_seven = queue(staff_browser, "?customer_wrote=3to7d")
    under_a_day = queue(staff_browser, "?customer_wrote=lt1d")
    everything = queue(staff_browser)

    assert old.public_id in three_to_seven
    assert fresh.public_id not in three_to_seven
    assert fresh.public_id in under_a_day
    assert old.public_id not in under_a_day
    # Longest waiting first.
    assert everything.index(old.public_id) < everything.index(fresh.public_id)


def test_assign_to_me_and_close_actions(staff_browser, customer, staff):
    first = open_ticket(customer)
    second = open_ticket(customer)

    staff_browser.post(
        "/admin/support/ticket/",
        {"action": "assign_to_me", "_selected_action": [first.pk, second.pk]},
    )
    staff_browser.post(
        "/admin/support/ticket/", {"action": "close_tickets", "_selected_action": [first.pk]}
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.assignee, first.status, first.closed_by) == (staff, Status.CLOSED, "staff")
    assert (second.assignee, second.status) == (staff, Status.OPEN)


def test_a_ticket_links_to_the_customer_and_their_deployments(
    staff_browser, customer, deployment_of
):
    deployment = deployment_of(customer)
    ticket = open_ticket(customer, deployment_id=deployment.public_id)

    console = staff_browser.get(change_url(ticket)).content.decode()

    assert f'href="/admin/accounts/customer/{customer.pk}/change/"' in console
    assert f'href="/admin/deployments/deployment/?q={customer.public_id}"' in console
    assert f'href="/admin/billing/customerbalance/{customer.pk}/change/"' in console
    assert f'href="/admin/billing/ledgerentry/?q={customer.public_id}"' in console
    assert f'href="/admin/accounts/activityentry/?q={customer.public_id}"' in console
    assert f'href="/admin/deployments/deployment/{deployment.pk}/change/"' in console


def test_tickets_cannot_be_added_or_deleted_in_the_console(staff_browser, customer):
    ticket = open_ticket(customer)

    assert staff_browser.get("/admin/support/ticket/add/").status_code == 403
    assert staff_browser.get(f"/admin/support/ticket/{ticket.pk}/delete/").status_code == 403


def test_a_customer_cannot_reach_the_console(db, customer):
    client = Client()
    client.force_login(customer.user)

    assert client.get("/admin/support/ticket/").status_code == 302
