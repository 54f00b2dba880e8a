"""Support pages: the customer's tickets, a new ticket, the thread with its reply box,
close and reopen, and attachment downloads (only through here, never a public URL)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors as accounts_selectors
from accounts.models import Customer, User
from cloudportal.exceptions import DomainError
from cloudportal.forms import form_add_domain_error
from support import selectors, services
from support.attachments import allowed_types_text, attachment_is_inline
from support.forms import TicketCreateForm, TicketReplyForm
from support.models import Actor, Attachment, Status

LIST_PAGE_SIZE = 50


def page_user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required ran first
    return request.user


def page_customer(request: HttpRequest) -> Customer:
    return accounts_selectors.customer_for_user(user=page_user(request))


def attachment_response(attachment: Attachment) -> FileResponse:
    """The file, for whoever the caller has checked may read it. Images show in the browser;
    anything else downloads. Nothing in it may run: no scripts, no plugins."""
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not attachment_is_inline(attachment.content_type),
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _limits() -> dict[str, object]:
    return {
        "attachment_types": allowed_types_text(),
        "attachment_max_size": filesizeformat(settings.SUPPORT_ATTACHMENT_MAX_BYTES),
        "attachments_per_message": settings.SUPPORT_ATTACHMENTS_PER_MESSAGE,
    }


@login_required
@require_GET
def ticket_list_page(request: HttpRequest) -> HttpResponse:
    customer = page_customer(request)
    status = request.GET.get("status") or None
    if status not in Status.values:
        status = None
    tickets = selectors.ticket_list(customer=customer, status=status)
    page_obj = Paginator(tickets, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    counts = selectors.ticket_status_counts(customer=customer)
    return render(
        request,
        "support/list.html",
        {
            "page_obj": page_obj,
            "status": status,
            "statuses": [(value, label, counts[value]) for value, label in Status.choices],
            "total": sum(counts.values()),
            "section": "support",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def ticket_create_page(request: HttpRequest) -> HttpResponse:
    user = page_user(request)
    customer = accounts_selectors.customer_for_user(user=user)
    deployments = list(selectors.deployment_choices(customer=customer))
    initial = {}
    linked = request.GET.get("deployment", "")
    if any(deployment.public_id == linked for deployment in deployments):
        initial = {"deployment": linked, "category": "deployment"}
    form = TicketCreateForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        deployments=deployments,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        try:
            ticket = services.ticket_create(
                customer=customer,
                author=user,
                subject=values["subject"],
                body=values["body"],
                category=values["category"],
                priority=values["priority"],
                deployment_id=values["deployment"] or None,
                attachments=values["attachments"],
            )
        except DomainError as error:
            form_add_domain_error(form, error)
        else:
            messages.success(request, "Thank you. Support will answer here and by email.")
            return redirect("support:ticket-detail", ticket_id=ticket.public_id)
    return render(request, "support/create.html", {"form": form, "section": "support", **_limits()})


def _detail(request: HttpRequest, ticket_id: str, form: TicketReplyForm | None) -> HttpResponse:
    ticket = selectors.ticket_get(customer=page_customer(request), public_id=ticket_id)
    return render(
        request,
        "support/detail.html",
        {
            "ticket": ticket,
            "thread": selectors.message_list_for_customer(ticket=ticket),
            "form": form or TicketReplyForm(),
            "section": "support",
            **_limits(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def ticket_detail_page(request: HttpRequest, ticket_id: str) -> HttpResponse:
    if request.method == "GET":
        return _detail(request, ticket_id, None)
    ticket = selectors.ticket_get(customer=page_customer(request), public_id=ticket_id)
    form = TicketReplyForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.message_customer_post(
                ticket=ticket,
                author=page_user(request),
                body=form.cleaned_data["body"],
                attachments=form.cleaned_data["attachments"],
            )
        except DomainError as error:
            form_add_domain_error(form, error)
        else:
            messages.success(request, "Reply sent.")
            return redirect("support:ticket-detail", ticket_id=ticket.public_id)
    return _detail(request, ticket_id, form)


@login_required
@require_POST
def ticket_close_page(request: HttpRequest, ticket_id: str) -> HttpResponse:
    ticket = selectors.ticket_get(customer=page_customer(request), public_id=ticket_id)
    services.ticket_close(ticket=ticket, actor=Actor.CUSTOMER, user=page_user(request))
    messages.success(request, "Ticket closed. You can reopen it at any time.")
    return redirect("support:ticket-detail", ticket_id=ticket.public_id)


@login_required
@require_POST
def ticket_reopen_page(request: HttpRequest, ticket_id: str) -> HttpResponse:
    ticket = selectors.ticket_get(customer=page_customer(request), public_id=ticket_id)
    try:
        services.ticket_reopen(ticket=ticket, user=page_user(request))
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, "Ticket reopened.")
    return redirect("support:ticket-detail", ticket_id=ticket.public_id)


@login_required
@require_GET
def attachment_download_page(
    request: HttpRequest, ticket_id: str, attachment_id: str
) -> FileResponse:
    attachment = selectors.attachment_get_for_customer(
        customer=page_customer(request), ticket_id=ticket_id, attachment_id=attachment_id
    )
    return attachment_response(attachment)
