"""The tickets API as a customer uses it; staff's side goes through the services."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from support import services
from support.models import Attachment, Message, Status, Ticket
from tests.support.conftest import PNG, log, png

pytestmark = pytest.mark.django_db

NEW = {"subject": "GPU not visible", "category": "deployment", "body": "nvidia-smi: no devices"}


def create(api, **overrides):
    return api.post("/api/v1/tickets", {**NEW, **overrides}, format="json")


def ticket_of(response) -> Ticket:
    return Ticket.objects.get(public_id=response.json()["id"])


def test_create_answers_the_ticket(api, customer, deployment_of):
    deployment = deployment_of(customer)

    response = create(api, priority="high", deployment=deployment.public_id)

    assert response.status_code == 201
    body = response.json()
    ticket = Ticket.objects.get()
    assert body == {
        "id": ticket.public_id,
        "subject": "GPU not visible",
        "category": "deployment",
        "priority": "high",
        "status": "open",
        "deployment": deployment.public_id,
        "created_at": body["created_at"],
        "last_message_at": body["last_message_at"],
        "closed_at": None,
    }
    assert ticket.public_id.startswith("tkt_")
    assert ticket.customer == customer


def test_create_with_attachments_as_multipart(api):
    response = api.post(
        "/api/v1/tickets", {**NEW, "attachments": [png(), log()]}, format="multipart"
    )

    assert response.status_code == 201, response.json()
    messages = api.get(f"/api/v1/tickets/{response.json()['id']}/messages").json()["results"]
    assert [(a["filename"], a["content_type"]) for a in messages[0]["attachments"]] == [
        ("screenshot.png", "image/png"),
        ("boot.log", "text/plain"),
    ]


def test_create_replays_with_the_same_idempotency_key(api):
    first = api.post("/api/v1/tickets", NEW, format="json", headers={"Idempotency-Key": "k-1"})
    again = api.post("/api/v1/tickets", NEW, format="json", headers={"Idempotency-Key": "k-1"})
    other = api.post(
        "/api/v1/tickets",
        {**NEW, "subject": "Other"},
        format="json",
        headers={"Idempotency-Key": "k-1"},
    )

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert Ticket.objects.count() == 1


def test_create_refuses_another_customers_deployment_as_a_problem(
    api, other_customer, deployment_of
):
    theirs = deployment_of(other_customer)

    response = create(api, deployment=theirs.public_id)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "ticket_input_invalid"
    assert response.json()["errors"] == {
        "deployment": [f"You have no deployment {theirs.public_id}."]
    }
    assert Ticket.objects.count() == 0


def test_create_validates_fields(api):
    response = api.post("/api/v1/tickets", {"category": "hardware"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"
    assert set(response.json()["errors"]) == {"subject", "body", "category"}
    assert Ticket.objects.count() == 0


def test_attachment_limits_answer_their_codes(api, settings):
    settings.SUPPORT_ATTACHMENT_MAX_BYTES = 10
    too_big = api.post("/api/v1/tickets", {**NEW, "attachments": [png()]}, format="multipart")
    settings.SUPPORT_ATTACHMENT_MAX_BYTES = 10_000
    exe = SimpleUploadedFile("tool.png", b"MZ\x90\x00\x03")
    wrong_type = api.post("/api/v1/tickets", {**NEW, "attachments": [exe]}, format="multipart")

    assert (too_big.status_code, too_big.json()["code"]) == (413, "attachment_too_large")
    assert too_big.json()["errors"] == {"attachments": ["screenshot.png is larger than 10 bytes."]}
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (
        415,
        "attachment_type_not_allowed",
    )
    assert Ticket.objects.count() == 0
    assert Attachment.objects.count() == 0


def test_list_is_the_customers_newest_first_and_filters_by_status(api, other_customer, staff):
    older = ticket_of(create(api, subject="older"))
    newer = ticket_of(create(api, subject="newer"))
    services.message_staff_post(ticket=older, author=staff, body="Answer")
    services.ticket_create(
        customer=other_customer, author=other_customer.user, subject="theirs", body="x"
    )

    everything = api.get("/api/v1/tickets").json()
    waiting = api.get("/api/v1/tickets?status=waiting_on_customer").json()
    bad = api.get("/api/v1/tickets?status=pending")

    assert [t["id"] for t in everything["results"]] == [newer.public_id, older.public_id]
    assert [t["id"] for t in waiting["results"]] == [older.public_id]
    assert bad.status_code == 400
    assert bad.json()["errors"]["status"] == ['"pending" is not a valid choice.']


def test_list_query_count_does_not_grow_with_tickets(api, customer, deployment_of):
    deployment = deployment_of(customer)
    create(api, deployment=deployment.public_id)
    with CaptureQueriesContext(connection) as one:
        assert api.get("/api/v1/tickets").status_code == 200
    for _ in range(4):
        create(api, deployment=deployment.public_id)
    with CaptureQueriesContext(connection) as five:
        assert len(api.get("/api/v1/tickets").json()["results"]) == 5

    assert len(five) == len(one)


def test_the_thread_from_the_customers_side(api, staff, committed, mailoutbox):
    ticket = ticket_of(create(api))
    services.message_staff_post(ticket=ticket, author=staff, body="Which driver?")
    services.message_staff_post(
        ticket=ticket, author=staff, body="INTERNAL: known bad host", internal=True
    )

    reply = api.post(
        f"/api/v1/tickets/{ticket.public_id}/messages", {"body": "550.54"}, format="json"
    )
    detail = api.get(f"/api/v1/tickets/{ticket.public_id}").json()
    thread = api.get(f"/api/v1/tickets/{ticket.public_id}/messages").json()

    assert reply.status_code == 201
    assert reply.json()["author"] == "customer"
    assert detail["status"] == "waiting_on_support"
    assert [(m["author"], m["body"]) for m in thread["results"]] == [
        ("customer", "nvidia-smi: no devices"),
        ("staff", "Which driver?"),
        ("customer", "550.54"),
    ]
    assert "INTERNAL" not in str(thread)
    assert set(thread["results"][0]) == {"id", "author", "body", "attachments", "created_at"}


def test_messages_query_count_does_not_grow_with_messages(api, staff):
    ticket = ticket_of(
        api.post("/api/v1/tickets", {**NEW, "attachments": [png()]}, format="multipart")
    )
    url = f"/api/v1/tickets/{ticket.public_id}/messages"
    with CaptureQueriesContext(connection) as one:
        assert api.get(url).status_code == 200
    for number in range(4):
        services.message_staff_post(
            ticket=ticket, author=staff, body=f"answer {number}", attachments=[png(), log()]
        )
    with CaptureQueriesContext(connection) as five:
        assert len(api.get(url).json()["results"]) == 5

    assert len(five) == len(one)


def test_a_subject_is_kept_on_one_line(api):
    response = create(api, subject="Broken\r\nBcc: victim@example.com")

    assert response.json()["subject"] == "Broken Bcc: victim@example.com"


def test_close_and_reopen(api):
    ticket = ticket_of(create(api))

    closed = api.post(f"/api/v1/tickets/{ticket.public_id}/close")
    refused = api.post(
        f"/api/v1/tickets/{ticket.public_id}/messages", {"body": "hello?"}, format="json"
    )
    reopened = api.post(f"/api/v1/tickets/{ticket.public_id}/reopen")
    reopened_again = api.post(f"/api/v1/tickets/{ticket.public_id}/reopen")

    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    assert closed.json()["closed_at"] is not None
    assert (refused.status_code, refused.json()["code"]) == (409, "ticket_closed")
    assert (reopened.status_code, reopened.json()["status"]) == (200, "waiting_on_support")
    assert (reopened_again.status_code, reopened_again.json()["code"]) == (
        409,
        "ticket_state_conflict",
    )
    assert Message.objects.filter(ticket=ticket).count() == 1


def test_an_attachment_downloads_with_its_type_and_no_public_url(api):
    ticket = ticket_of(
        api.post("/api/v1/tickets", {**NEW, "attachments": [png(), log()]}, format="multipart")
    )
    thread = api.get(f"/api/v1/tickets/{ticket.public_id}/messages").json()
    image, text = thread["results"][0]["attachments"]

    shown = api.get(image["url"])
    downloaded = api.get(text["url"])

    assert image["url"] == f"/api/v1/tickets/{ticket.public_id}/attachments/{image['id']}"
    assert shown.status_code == 200
    assert b"".join(shown.streaming_content) == PNG
    assert shown["Content-Type"] == "image/png"
    assert shown["Content-Disposition"] == 'inline; filename="screenshot.png"'
    assert shown["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert downloaded["Content-Type"] == "text/plain"
    assert downloaded["Content-Disposition"] == 'attachment; filename="boot.log"'


def test_another_customers_ticket_and_attachment_answer_404(api, other_customer):
    theirs = services.ticket_create(
        customer=other_customer,
        author=other_customer.user,
        subject="theirs",
        body="private",
        attachments=[png()],
    )
    attachment = Attachment.objects.get()
    base = f"/api/v1/tickets/{theirs.public_id}"

    answers = [
        api.get(base).status_code,
        api.get(f"{base}/messages").status_code,
        api.post(f"{base}/messages", {"body": "hi"}, format="json").status_code,
        api.post(f"{base}/close").status_code,
        api.post(f"{base}/reopen").status_code,
        api.get(f"{base}/attachments/{attachment.public_id}").status_code,
    ]

    assert answers == [404] * 6
    assert api.get(f"{base}/messages").json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert (theirs.status, theirs.messages.count()) == (Status.OPEN, 1)


def test_an_attachment_on_an_internal_note_answers_404_to_the_customer(api, staff):
    ticket = ticket_of(create(api))
    note = services.message_staff_post(
        ticket=ticket, author=staff, body="screenshot of admin", internal=True, attachments=[png()]
    )
    attachment = note.attachments.get()

    response = api.get(f"/api/v1/tickets/{ticket.public_id}/attachments/{attachment.public_id}")

    assert response.status_code == 404


def test_the_api_needs_a_login(db):
    response = APIClient().get("/api/v1/tickets")

    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
