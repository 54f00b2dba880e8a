"""Staff console for support: the queue, and each ticket's thread with replies and internal
notes written inline. Every change goes through `support.services`."""

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from accounts.models import User
from cloudportal.exceptions import DomainError
from support import selectors, services
from support.forms import MultipleFileField
from support.models import Actor, Status, Ticket
from support.views import attachment_response


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        staff = User.objects.filter(is_staff=True, is_active=True).order_by("email")
        return [
            ("unassigned", "Unassigned"),
            ("mine", "Assigned to me"),
            *((str(user.pk), user.email) for user in staff),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        value = self.value()
        if value == "unassigned":
            return queryset.filter(assignee__isnull=True)
        if value == "mine":
            return queryset.filter(assignee_id=request.user.pk)
        if value and value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset


class CustomerWaitingFilter(admin.SimpleListFilter):
    """How long ago the customer last wrote: the age that matters in a support queue."""

    title = "customer last wrote"
    parameter_name = "customer_wrote"
    BANDS: dict[str, tuple[timedelta | None, timedelta | None]] = {
        "lt1d": (None, timedelta(days=1)),
        "1to3d": (timedelta(days=1), timedelta(days=3)),
        "3to7d": (timedelta(days=3), timedelta(days=7)),
        "gt7d": (timedelta(days=7), None),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("lt1d", "Less than a day ago"),
            ("1to3d", "1 to 3 days ago"),
            ("3to7d", "3 to 7 days ago"),
            ("gt7d", "More than 7 days ago"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        band = self.BANDS.get(self.value() or "")
        if band is None:
            return queryset
        now = timezone.now()
        at_least, less_than = band
        if at_least is not None:
            queryset = queryset.filter(customer_last_wrote_at__lte=now - at_least)
        if less_than is not None:
            queryset = queryset.filter(customer_last_wrote_at__gt=now - less_than)
        return queryset


class TicketAdminForm(forms.ModelForm):
    reply_body = forms.CharField(
        label="Write",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="Plain text. A reply is emailed to the customer and waits on them.",
    )
    reply_internal = forms.BooleanField(
        label="Internal note",
        required=False,
        help_text="Staff only: the customer never sees it (not on the page, the API or email).",
    )
    reply_attachments = MultipleFileField(label="Attachments", required=False)

    class Meta:
        model = Ticket
        fields = ("assignee", "priority", "category")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields.get("assignee")
        if isinstance(assignee, forms.ModelChoiceField):
            assignee.queryset = User.objects.filter(is_staff=True, is_active=True).order_by("email")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        files = cleaned.get("reply_attachments") or []
        if files and not (cleaned.get("reply_body") or "").strip():
            self.add_error("reply_body", "Write a message to go with the attachments.")
        try:
            services.attachments_validate(files=files)
        except DomainError as error:
            self.add_error("reply_attachments", error.detail)
        return cleaned


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin[Ticket]):
    form = TicketAdminForm
    list_display = (
        "public_id",
        "subject",
        "customer_email",
        "status",
        "priority",
        "category",
        "assignee",
        "customer_wrote",
    )
    list_filter = ("status", "priority", "category", AssigneeFilter, CustomerWaitingFilter)
    search_fields = (
        "public_id",
        "subject",
        "customer__public_id",
        "customer__user__email",
        "deployment__public_id",
    )
    list_select_related = ("customer__user", "assignee")
    # The queue: whoever has waited longest since they last wrote comes first.
    ordering = ("customer_last_wrote_at",)
    actions = ("assign_to_me", "close_tickets")
    readonly_fields = (
        "public_id",
        "subject",
        "status",
        "customer_links",
        "deployment_link",
        "created_at",
        "customer_last_wrote_at",
        "last_message_at",
        "closed",
        "thread",
    )
    fieldsets = (
        (None, {"fields": ("public_id", "subject", "status", "customer_links", "deployment_link")}),
        ("Triage", {"fields": ("assignee", "priority", "category")}),
        ("Conversation", {"fields": ("thread",)}),
        ("Reply or note", {"fields": ("reply_body", "reply_internal", "reply_attachments")}),
        (
            "Dates",
            {"fields": ("created_at", "customer_last_wrote_at", "last_message_at", "closed")},
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers open tickets; staff answer them

    def has_delete_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        return False  # the conversation is a record

    # --- read-only panels ------------------------------------------------------------

    @admin.display(description="Customer", ordering="customer__user__email")
    def customer_email(self, ticket: Ticket) -> str:
        return ticket.customer.user.email

    @admin.display(description="Customer wrote", ordering="customer_last_wrote_at")
    def customer_wrote(self, ticket: Ticket) -> str:
        return f"{timesince(ticket.customer_last_wrote_at)} ago"

    @admin.display(description="Customer")
    def customer_links(self, ticket: Ticket) -> SafeString:
        customer = ticket.customer
        links = [
            (reverse("admin:accounts_customer_change", args=[customer.pk]), "customer"),
            (
                reverse("admin:deployments_deployment_changelist") + f"?q={customer.public_id}",
                "deployments",
            ),
            (
                reverse("admin:support_ticket_changelist") + f"?q={customer.public_id}",
                "tickets",
            ),
            (reverse("admin:billing_customerbalance_change", args=[customer.pk]), "balance"),
            (
                reverse("admin:billing_ledgerentry_changelist") + f"?q={customer.public_id}",
                "ledger",
            ),
            (
                reverse("admin:accounts_activityentry_changelist") + f"?q={customer.public_id}",
                "activity",
            ),
        ]
        return format_html(
            "{} <code>{}</code> · {}",
            customer.user.email,
            customer.public_id,
            format_html_join(" · ", '<a href="{}">{}</a>', links),
        )

    @admin.display(description="Deployment")
    def deployment_link(self, ticket: Ticket) -> SafeString | str:
        if ticket.deployment is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a> <code>{}</code> ({})',
            reverse("admin:deployments_deployment_change", args=[ticket.deployment.pk]),
            ticket.deployment.name,
            ticket.deployment.public_id,
            ticket.deployment.status,
        )

    @admin.display(description="Closed")
    def closed(self, ticket: Ticket) -> str:
        if ticket.closed_at is None:
            return "—"
        return f"{ticket.closed_at:%Y-%m-%d %H:%M} UTC by {ticket.get_closed_by_display().lower()}"

    @admin.display(description="Thread")
    def thread(self, ticket: Ticket) -> SafeString:
        return SafeString(
            render_to_string(
                "admin/support/thread.html",
                {"ticket": ticket, "thread": selectors.message_list_for_staff(ticket=ticket)},
            )
        )

    # --- writes through the services -------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Ticket, form: Any, change: bool) -> None:
        assert isinstance(request.user, User)
        values = form.cleaned_data
        try:
            ticket = services.ticket_triage(
                ticket=obj,
                by=request.user,
                assignee=values.get("assignee"),
                priority=values["priority"],
                category=values["category"],
            )
            body = (values.get("reply_body") or "").strip()
            if body:
                internal = bool(values.get("reply_internal"))
                services.message_staff_post(
                    ticket=ticket,
                    author=request.user,
                    body=body,
                    internal=internal,
                    attachments=values.get("reply_attachments") or [],
                )
                self.message_user(
                    request,
                    "Internal note added." if internal else "Reply sent to the customer.",
                    messages.SUCCESS,
                )
        except DomainError as error:
            self.message_user(request, error.detail, messages.ERROR)

    def _act(self, request: HttpRequest, queryset: QuerySet[Ticket], done: str, act: Any) -> None:
        count = 0
        for ticket in queryset.select_related("customer").order_by("id"):
            act(ticket)
            count += 1
        self.message_user(request, f"{done}: {count} ticket(s).", messages.SUCCESS)

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        user = request.user
        assert isinstance(user, User)
        self._act(
            request,
            queryset,
            "Assigned to you",
            lambda ticket: services.ticket_triage(
                ticket=ticket,
                by=user,
                assignee=user,
                priority=ticket.priority,
                category=ticket.category,
            ),
        )

    @admin.action(description="Close", permissions=["change"])
    def close_tickets(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        user = request.user
        assert isinstance(user, User)
        self._act(
            request,
            queryset.exclude(status=Status.CLOSED),
            "Closed",
            lambda ticket: services.ticket_close(ticket=ticket, actor=Actor.STAFF, user=user),
        )

    # --- attachments, for staff only -------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:ticket_pk>/attachments/<str:attachment_id>/",
                self.admin_site.admin_view(self.attachment_view),
                name="support_ticket_attachment",
            ),
            *super().get_urls(),
        ]

    def attachment_view(
        self, request: HttpRequest, ticket_pk: int, attachment_id: str
    ) -> FileResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        attachment = selectors.attachment_get_for_staff(
            ticket_id=ticket_pk, attachment_id=attachment_id
        )
        return attachment_response(attachment)
