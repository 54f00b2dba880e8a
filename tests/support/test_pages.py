"""The customer's support pages: list, new ticket, thread, reply, close, reopen, downloads."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from support import services
from support.models import Attachment, Status, Ticket
from tests.support.conftest import PNG, log, png

pytestmark = pytest.mark.django_db


def html_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def open_ticket(customer, **overrides) -> Ticket:
    values = {"subject": "GPU not visible", "body": "nvidia-smi shows no devices."}
    return services.ticket_create(
        customer=customer, author=customer.user, **{**values, **overrides}
    )


def test_header_links_to_support(browser):
    assert '<a href="/support/">Support</a>' in html_of(browser.get("/"))


def test_pages_need_a_login(db):
    response = Client().get("/support/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_list_shows_the_customers_tickets_and_filters_by_status(
    browser, customer, other_customer, staff
):
    answered = open_ticket(customer, subject="Answered one")
    waiting = open_ticket(customer, subject="Waiting one")
    services.message_staff_post(ticket=answered, author=staff, body="Try this")
    theirs = open_ticket(other_customer, subject="Their ticket")

    everything = html_of(browser.get("/support/"))
    filtered = html_of(browser.get("/support/?status=waiting_on_customer"))

    assert f'<tr data-ticket-id="{answered.public_id}">' in everything
    assert f'<tr data-ticket-id="{waiting.public_id}">' in everything
    assert theirs.public_id not in everything
    assert "Their ticket" not in everything
    assert f'<tr data-ticket-id="{answered.public_id}">' in filtered
    assert waiting.public_id not in filtered
    assert (
        '<a href="?status=waiting_on_customer" aria-current="page">Waiting on customer '
        '<span class="muted">1</span></a>' in filtered
    )


def test_list_has_an_empty_state(browser):
    html = html_of(browser.get("/support/"))

    assert "No tickets yet." in html
    assert 'href="/support/new/"' in html


def test_new_ticket_from_the_page_with_an_attachment(browser, customer, deployment_of):
    deployment = deployment_of(customer)

    response = browser.post(
        "/support/new/",
        {
            "subject": "Slow disk",
            "category": "deployment",
            "priority": "high",
            "deployment": deployment.public_id,
            "body": "fio shows 20 MB/s",
            "attachments": [log("fio.txt", "write: IOPS=5k\n")],
        },
    )

    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/support/{ticket.public_id}/"
    assert (ticket.subject, ticket.priority, ticket.deployment) == ("Slow disk", "high", deployment)
    assert ticket.messages.get().attachments.get().filename == "fio.txt"


def test_new_ticket_shows_a_refused_attachment_on_its_field(browser):
    response = browser.post(
        "/support/new/",
        {
            "subject": "Crash",
            "category": "other",
            "priority": "normal",
            "body": "see file",
            "attachments": [SimpleUploadedFile("core.txt", b"\x7fELF\x02\x01\x00")],
        },
    )

    html = html_of(response)
    assert (
        '<p class="field-error">core.txt is not one of the allowed types: '
        "PNG, JPEG, GIF, WebP, PDF, text.</p>" in html
    )
    assert Ticket.objects.count() == 0


def test_contact_support_on_a_deployment_opens_a_linked_ticket(browser, customer, deployment_of):
    deployment = deployment_of(customer)

    detail = html_of(browser.get(f"/deployments/{deployment.public_id}/"))
    form = html_of(browser.get(f"/support/new/?deployment={deployment.public_id}"))

    assert f'href="/support/new/?deployment={deployment.public_id}">Contact support</a>' in detail
    assert f'<option value="{deployment.public_id}" selected>' in form
    assert '<option value="deployment" selected>Deployment</option>' in form


def test_contact_support_ignores_another_customers_deployment(
    browser, other_customer, deployment_of
):
    theirs = deployment_of(other_customer)

    form = html_of(browser.get(f"/support/new/?deployment={theirs.public_id}"))

    assert theirs.public_id not in form


def test_thread_renders_plain_text_safely_with_clickable_links(browser, customer, staff):
    ticket = open_ticket(
        customer, body='<script>alert("x")</script>\nsee https://status.example.com'
    )
    services.message_staff_post(ticket=ticket, author=staff, body="Fixed.\n<b>bold?</b>")

    html = html_of(browser.get(f"/support/{ticket.public_id}/"))

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<br>see " in html
    assert (
        '<a href="https://status.example.com" rel="nofollow">https://status.example.com</a>' in html
    )
    assert "Fixed.<br>&lt;b&gt;bold?&lt;/b&gt;" in html
    assert "<strong>GPU Cloud support</strong>" in html


def test_internal_notes_never_show_on_the_customers_page(browser, customer, staff):
    ticket = open_ticket(customer)
    services.message_staff_post(
        ticket=ticket,
        author=staff,
        body="INTERNAL: customer flagged for abuse",
        internal=True,
        attachments=[png("evidence.png")],
    )

    html = html_of(browser.get(f"/support/{ticket.public_id}/"))

    assert "INTERNAL" not in html
    assert "evidence.png" not in html
    assert html.count("data-message-id=") == 1


def test_reply_close_and_reopen_from_the_page(browser, customer, staff):
    ticket = open_ticket(customer)
    services.message_staff_post(ticket=ticket, author=staff, body="Which driver?")

    replied = browser.post(
        f"/support/{ticket.public_id}/", {"body": "550.54", "attachments": [png()]}
    )
    ticket.refresh_from_db()
    assert replied.status_code == 302
    assert ticket.status == Status.WAITING_ON_SUPPORT
    html = html_of(browser.get(f"/support/{ticket.public_id}/"))
    attachment = Attachment.objects.get()
    assert (
        f'<a href="/support/{ticket.public_id}/attachments/{attachment.public_id}/">'
        "screenshot.png</a>" in html
    )

    browser.post(f"/support/{ticket.public_id}/close/")
    closed = html_of(browser.get(f"/support/{ticket.public_id}/"))
    assert 'id="ticket-closed-notice"' in closed
    assert 'id="ticket-reply"' not in closed
    assert f'action="/support/{ticket.public_id}/reopen/"' in closed

    browser.post(f"/support/{ticket.public_id}/reopen/")
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_ON_SUPPORT


def test_an_empty_reply_is_a_form_error(browser, customer):
    ticket = open_ticket(customer)

    html = html_of(browser.post(f"/support/{ticket.public_id}/", {"body": "   "}))

    assert '<p class="field-error">This field is required.</p>' in html
    assert ticket.messages.count() == 1


def test_attachment_download_page(browser, customer):
    ticket = open_ticket(customer, attachments=[png()])
    attachment = Attachment.objects.get()

    response = browser.get(f"/support/{ticket.public_id}/attachments/{attachment.public_id}/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Cache-Control"] == "private, no-store"


def test_another_customers_ticket_pages_and_attachment_answer_404(browser, other_customer):
    theirs = open_ticket(other_customer, attachments=[png()])
    attachment = Attachment.objects.get()

    answers = [
        browser.get(f"/support/{theirs.public_id}/").status_code,
        browser.post(f"/support/{theirs.public_id}/", {"body": "hi"}).status_code,
        browser.post(f"/support/{theirs.public_id}/close/").status_code,
        browser.post(f"/support/{theirs.public_id}/reopen/").status_code,
        browser.get(f"/support/{theirs.public_id}/attachments/{attachment.public_id}/").status_code,
    ]

    assert answers == [404] * 5
    theirs.refresh_from_db()
    assert (theirs.status, theirs.messages.count()) == (Status.OPEN, 1)


def test_an_attachment_id_under_the_wrong_ticket_answers_404(browser, customer, other_customer):
    mine = open_ticket(customer)
    open_ticket(other_customer, attachments=[png()])
    attachment = Attachment.objects.get()

    response = browser.get(f"/support/{mine.public_id}/attachments/{attachment.public_id}/")

    assert response.status_code == 404


def test_uploads_are_not_served_under_a_media_url(browser, customer, settings):
    ticket = open_ticket(customer, attachments=[png()])
    attachment = Attachment.objects.get()

    assert Client().get(f"/media/{attachment.file.name}").status_code == 404
    assert browser.get(f"/{attachment.file.name}").status_code == 404
    assert attachment.file.name == f"support/{ticket.public_id}/{attachment.public_id}"
