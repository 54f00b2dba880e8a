"""Staff console for billing: the ledger is read-only here (even for superusers); balances
change only through services, e.g. the "adjust balance" form on a customer balance."""

import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from accounts.activity import Actor, client_ip
from accounts.models import User
from billing import invoices, payments, selectors, services
from billing.models import (
    CreditNote,
    CustomerBalance,
    Hold,
    Invoice,
    InvoiceLine,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TopUp,
    TopUpDispute,
    TopUpRefund,
    WebhookEvent,
)
from billing.money import cents_usd_text, micros_from_decimal, usd_text
from cloudportal.admin import ReadOnlyAdminMixin
from cloudportal.exceptions import DomainError
from cloudportal.forms import form_add_domain_error


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[LedgerAccount]):
    list_display = ("code", "shard", "kind", "currency", "posted", "held", "entry_seq")
    list_filter = ("kind", "currency")
    search_fields = ("code", "customer__public_id", "customer__user__email")
    list_select_related = ("customer",)
    ordering = ("code", "shard")

    @admin.display(description="Posted", ordering="posted_balance")
    def posted(self, account: LedgerAccount) -> str:
        return usd_text(account.posted_balance)

    @admin.display(description="Held", ordering="held_amount")
    def held(self, account: LedgerAccount) -> str:
        return usd_text(account.held_amount)


class LedgerEntryInline(ReadOnlyAdminMixin, admin.TabularInline[LedgerEntry, LedgerTransaction]):
    model = LedgerEntry
    fields = ("account", "amount", "currency", "account_seq", "balance_after")
    readonly_fields = fields
    extra = 0


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[LedgerTransaction]):
    list_display = ("public_id", "kind", "idempotency_key", "memo", "currency", "created_at")
    list_filter = ("kind", "currency")
    search_fields = ("public_id", "idempotency_key", "memo")
    date_hierarchy = "created_at"
    inlines = (LedgerEntryInline,)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[LedgerEntry]):
    list_display = (
        "transaction",
        "account",
        "amount",
        "account_seq",
        "balance_after",
        "created_at",
    )
    list_select_related = ("transaction", "account")
    search_fields = ("transaction__public_id", "account__code")
    list_filter = ("currency", "account__kind")


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Hold]):
    list_display = ("public_id", "account", "amount", "subject", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("public_id", "subject", "idempotency_key", "account__code")
    list_select_related = ("account",)


class OnceForm(forms.Form):
    """A staff money form that acts once however often it is sent: `submission` is drawn
    when the form is shown and names the action (its ledger key), so a double click or a
    resent POST finds what the first one did instead of doing it again."""

    submission = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)


class BalanceAdjustForm(OnceForm):
    direction = forms.ChoiceField(
        choices=[("credit", "Credit (add to the balance)"), ("debit", "Debit (take from it)")],
        widget=forms.RadioSelect,
    )
    amount = forms.DecimalField(
        min_value=Decimal("0.000001"),
        max_digits=14,
        decimal_places=6,
        help_text="In USD, e.g. 25 or 0.50.",
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required. The customer sees it in their transactions and activity log.",
    )

    def signed_micros(self) -> int:
        micros = micros_from_decimal(self.cleaned_data["amount"])
        return micros if self.cleaned_data["direction"] == "credit" else -micros


@admin.register(CustomerBalance)
class CustomerBalanceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[CustomerBalance]):
    list_display = ("public_id", "email", "posted", "held", "available", "adjust_link")
    search_fields = ("public_id", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("public_id", "email", "posted", "held", "available", "adjust_link")
    fields = readonly_fields

    def get_urls(self) -> list[URLPattern]:
        adjust = path(
            "<int:object_id>/adjust/",
            self.admin_site.admin_view(self.adjust_view),
            name="billing_customerbalance_adjust",
        )
        return [adjust, *super().get_urls()]

    @admin.display(description="Email", ordering="user__email")
    def email(self, customer: CustomerBalance) -> str:
        return customer.user.email

    @admin.display(description="Posted")
    def posted(self, customer: CustomerBalance) -> str:
        return usd_text(selectors.wallet_balance(customer=customer).posted)

    @admin.display(description="Held")
    def held(self, customer: CustomerBalance) -> str:
        return usd_text(selectors.wallet_balance(customer=customer).held)

    @admin.display(description="Available")
    def available(self, customer: CustomerBalance) -> str:
        return usd_text(selectors.wallet_balance(customer=customer).available)

    @admin.display(description="")
    def adjust_link(self, customer: CustomerBalance) -> str:
        url = reverse("admin:billing_customerbalance_adjust", args=[customer.pk])
        return format_html('<a class="button" href="{}">Adjust balance</a>', url)

    def get_queryset(self, request: HttpRequest) -> QuerySet[CustomerBalance]:
        return super().get_queryset(request).select_related("user")

    def adjust_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("billing.adjust_balance"):
            raise PermissionDenied
        customer = get_object_or_404(CustomerBalance.objects.select_related("user"), pk=object_id)
        form = BalanceAdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            assert isinstance(request.user, User)
            try:
                txn = services.wallet_adjust(
                    customer=customer,
                    amount=form.signed_micros(),
                    reason=form.cleaned_data["reason"],
                    actor=Actor.staff(request.user, ip_address=client_ip(request)),
                    key=f"adjust:{form.cleaned_data['submission']}",
                )
            except DomainError as error:
                form_add_domain_error(form, error)
            else:
                self.message_user(
                    request,
                    f"Posted {txn.public_id}: {usd_text(form.signed_micros())} "
                    f"on {customer.public_id}.",
                    messages.SUCCESS,
                )
                return redirect("admin:billing_customerbalance_change", customer.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Adjust the balance of {customer.public_id} ({customer.user.email})",
            "customer": customer,
            "balance": selectors.wallet_balance(customer=customer),
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/adjust_balance.html", context)


class InvoiceLineInline(ReadOnlyAdminMixin, admin.TabularInline[InvoiceLine, Invoice]):
    model = InvoiceLine
    fields = ("position", "kind", "description", "quantity", "unit", "rate", "amount", "reference")
    readonly_fields = fields
    extra = 0


class CreditNoteInline(ReadOnlyAdminMixin, admin.TabularInline[CreditNote, Invoice]):
    model = CreditNote
    fk_name = "invoice"
    fields = ("number", "amount", "reason", "issued_by", "issued_at", "transaction")
    readonly_fields = fields
    extra = 0


class CreditNoteForm(OnceForm):
    amount = forms.DecimalField(
        min_value=Decimal("0.000001"),
        max_digits=14,
        decimal_places=6,
        help_text="In USD, credited to the customer's balance.",
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required. Printed on the credit note the customer receives.",
    )


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Invoice]):
    """Issued invoices never change; a correction is a credit note (the button here)."""

    list_display = ("number", "customer", "period_start", "total_display", "issued_at")
    list_filter = ("period_start", "currency")
    search_fields = ("number", "public_id", "customer__public_id", "customer__user__email")
    list_select_related = ("customer",)
    date_hierarchy = "issued_at"
    readonly_fields = (
        "number",
        "public_id",
        "customer",
        "period_start",
        "currency",
        "total_display",
        "opening_balance",
        "payments_total",
        "other_total",
        "closing_balance",
        "seller",
        "buyer",
        "issued_at",
        "credit_note_link",
    )
    fields = readonly_fields
    inlines = (InvoiceLineInline, CreditNoteInline)

    def get_urls(self) -> list[URLPattern]:
        credit = path(
            "<int:object_id>/credit-note/",
            self.admin_site.admin_view(self.credit_note_view),
            name="billing_invoice_credit_note",
        )
        return [credit, *super().get_urls()]

    @admin.display(description="Total (usage)", ordering="usage_total")
    def total_display(self, invoice: Invoice) -> str:
        return usd_text(invoice.usage_total)

    @admin.display(description="")
    def credit_note_link(self, invoice: Invoice) -> str:
        url = reverse("admin:billing_invoice_credit_note", args=[invoice.pk])
        return format_html('<a class="button" href="{}">Issue a credit note</a>', url)

    def credit_note_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("billing.add_creditnote"):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice.objects.select_related("customer__user"), pk=object_id)
        form = CreditNoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            assert isinstance(request.user, User)
            try:
                note = invoices.credit_note_issue(
                    invoice=invoice,
                    amount=micros_from_decimal(form.cleaned_data["amount"]),
                    reason=form.cleaned_data["reason"],
                    actor=Actor.staff(request.user, ip_address=client_ip(request)),
                    submission=form.cleaned_data["submission"],
                )
            except DomainError as error:
                form_add_domain_error(form, error)
            else:
                self.message_user(
                    request,
                    f"Issued {note.number}: {usd_text(note.amount)} credited to "
                    f"{invoice.customer.public_id}.",
                    messages.SUCCESS,
                )
                return redirect("admin:billing_invoice_change", invoice.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Issue a credit note for {invoice.number}",
            "invoice": invoice,
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/credit_note.html", context)


# --- Card top-ups -------------------------------------------------------------------------


class TopUpRefundInline(ReadOnlyAdminMixin, admin.TabularInline[TopUpRefund, TopUp]):
    model = TopUpRefund
    fields = ("public_id", "amount", "status", "stripe_id", "requested_by", "reason", "created_at")
    readonly_fields = fields
    extra = 0


class TopUpDisputeInline(ReadOnlyAdminMixin, admin.TabularInline[TopUpDispute, TopUp]):
    model = TopUpDispute
    fields = ("stripe_id", "amount", "status", "reason", "hold", "loss", "created_at")
    readonly_fields = fields
    extra = 0


class TopUpRefundForm(OnceForm):
    amount = forms.DecimalField(
        min_value=Decimal("0.01"),
        max_digits=10,
        decimal_places=2,
        help_text="In USD; at most what is left of the top-up and what the wallet has available.",
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required. Kept with the refund and sent to Stripe.",
    )


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[TopUp]):
    list_display = (
        "public_id",
        "customer",
        "dollars",
        "status",
        "needs_review",
        "card",
        "created_at",
    )
    list_filter = ("needs_review", "status", "provider")
    search_fields = (
        "public_id",
        "customer__public_id",
        "customer__user__email",
        "payment_intent_id",
        "checkout_session_id",
    )
    list_select_related = ("customer__user",)
    date_hierarchy = "created_at"
    inlines = (TopUpRefundInline, TopUpDisputeInline)
    readonly_fields = (
        "public_id",
        "customer",
        "status",
        "dollars",
        "amount_paid",
        "amount_refunded",
        "currency",
        "currency_paid",
        "card",
        "needs_review",
        "review_reason",
        "failure_message",
        "checkout_session_id",
        "payment_intent_id",
        "credit",
        "created_at",
        "paid_at",
        "refund_link",
    )
    fields = readonly_fields

    @admin.display(description="Amount", ordering="amount")
    def dollars(self, topup: TopUp) -> str:
        return cents_usd_text(topup.amount)

    @admin.display(description="Card")
    def card(self, topup: TopUp) -> str:
        return f"{topup.card_brand} ••{topup.card_last4}" if topup.card_last4 else ""

    @admin.display(description="")
    def refund_link(self, topup: TopUp) -> str:
        if not topup.refundable:
            return ""
        url = reverse("admin:billing_topup_refund", args=[topup.pk])
        return format_html('<a class="button" href="{}">Refund…</a>', url)

    def get_urls(self) -> list[URLPattern]:
        refund = path(
            "<int:object_id>/refund/",
            self.admin_site.admin_view(self.refund_view),
            name="billing_topup_refund",
        )
        return [refund, *super().get_urls()]

    def refund_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("billing.refund_topup"):
            raise PermissionDenied
        topup = get_object_or_404(TopUp.objects.select_related("customer__user"), pk=object_id)
        form = TopUpRefundForm(request.POST or None, initial={"amount": topup.refundable / 100})
        if request.method == "POST" and form.is_valid():
            assert isinstance(request.user, User)
            try:
                refund = payments.topup_refund(
                    topup=topup,
                    amount=int(form.cleaned_data["amount"] * 100),
                    reason=form.cleaned_data["reason"],
                    actor=Actor.staff(request.user, ip_address=client_ip(request)),
                    submission=form.cleaned_data["submission"],
                )
            except DomainError as error:
                form_add_domain_error(form, error)
            else:
                self.message_user(
                    request,
                    f"Refunded {cents_usd_text(refund.amount)} of {topup.public_id} "
                    f"({refund.status}).",
                    messages.SUCCESS,
                )
                return redirect("admin:billing_topup_change", topup.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Refund {topup.public_id} ({topup.customer.user.email})",
            "topup": topup,
            "balance": selectors.wallet_balance(customer=topup.customer),
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/topup_refund.html", context)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[WebhookEvent]):
    """The inbox, read-only; a failed event is processed again once its cause is fixed."""

    list_display = ("event_id", "type", "source", "status", "attempts", "received_at")
    list_filter = ("status", "source", "provider", "type")
    search_fields = ("event_id", "type")
    date_hierarchy = "received_at"
    readonly_fields = ("process_again_link",)
    actions = ("process_again",)

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.reprocess_webhookevent")

    @admin.display(description="")
    def process_again_link(self, event: WebhookEvent) -> str:
        if event.status != WebhookEvent.Status.FAILED:
            return ""
        url = reverse("admin:billing_webhookevent_process_again", args=[event.pk])
        return format_html('<a class="button" href="{}">Process again…</a>', url)

    def get_urls(self) -> list[URLPattern]:
        again = path(
            "<int:object_id>/process-again/",
            self.admin_site.admin_view(self.process_again_view),
            name="billing_webhookevent_process_again",
        )
        return [again, *super().get_urls()]

    def _process_again(self, request: HttpRequest, events: QuerySet[WebhookEvent]) -> int:
        """Queue each failed event through the service, log who asked on each (its History
        page), and say what was queued and what was skipped and why."""
        assert isinstance(request.user, User)
        actor = Actor.staff(request.user, ip_address=client_ip(request))
        queued = 0
        skipped: list[str] = []
        for event in events.order_by("id"):
            try:
                payments.webhook_event_process_again(event_pk=event.pk, actor=actor)
            except DomainError as error:
                skipped.append(f"{event.event_id} ({error.detail})")
            else:
                self.log_change(request, event, "Queued to be processed again.")
                queued += 1
        if queued:
            self.message_user(
                request, f"Queued to be processed again: {queued} event(s).", messages.SUCCESS
            )
        if skipped:
            self.message_user(request, f"Skipped: {'; '.join(skipped)}", messages.WARNING)
        return queued

    @admin.action(description="Process again (failed events)", permissions=["reprocess"])
    def process_again(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        self._process_again(request, queryset)

    def process_again_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not self.has_reprocess_permission(request):
            raise PermissionDenied
        event = get_object_or_404(WebhookEvent, pk=object_id)
        if request.method == "POST":
            self._process_again(request, WebhookEvent.objects.filter(pk=event.pk))
            return redirect("admin:billing_webhookevent_change", event.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Process {event.event_id} again",
            "event": event,
        }
        return TemplateResponse(request, "admin/billing/webhook_event_process_again.html", context)
