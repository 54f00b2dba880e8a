"""Staff console for accounts: searchable lists; actions call services."""

from typing import Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

from accounts import services
from accounts.activity import Actor, client_ip
from accounts.api_keys import api_key_revoke
from accounts.exceptions import ApiKeyRevoked
from accounts.models import ActivityEntry, ApiKey, Customer, LoginSession, SshKey, User
from accounts.user_agents import user_agent_describe
from cloudportal.admin import ReadOnlyAdminMixin


class UserCreationAdminForm(UserCreationForm[User]):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeAdminForm(UserChangeForm[User]):
    class Meta:
        model = User
        fields = "__all__"


class CustomerInline(admin.StackedInline[Customer, User]):
    model = Customer
    can_delete = False
    readonly_fields = ("public_id", "created_at")
    fields = ("public_id", "display_name", "company", "time_zone", "created_at")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    ordering = ("email",)
    list_display = ("email", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email", "customer__public_id")
    readonly_fields = ("date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("date_joined", "last_login")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def get_inlines(self, request: HttpRequest, obj: User | None) -> list[type]:
        # A new user's customer is created with it (in the form's save), not typed in.
        return [CustomerInline] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: User, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            services.customer_create(user=obj)


class CustomerSshKeyInline(ReadOnlyAdminMixin, admin.TabularInline[SshKey, Customer]):
    """The customer's keys, read-only: each links to its own page."""

    model = SshKey
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("public_id", "name", "key_type", "bits", "fingerprint", "created_at")
    readonly_fields = fields
    ordering = ("name",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin[Customer]):
    list_display = ("public_id", "user", "display_name", "company", "created_at")
    search_fields = ("public_id", "user__email", "display_name", "company")
    readonly_fields = ("public_id", "user", "created_at", "login_sessions")
    list_select_related = ("user",)
    inlines: ClassVar[tuple[type[InlineModelAdmin[Any, Any]], ...]] = (CustomerSshKeyInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers are created with their user

    @admin.display(description="Sessions")
    def login_sessions(self, customer: Customer) -> SafeString | str:
        # Sessions belong to the user, not the customer, so they cannot be a model inline.
        login_sessions = LoginSession.objects.filter(user_id=customer.user_id).order_by(
            "-last_seen_at", "-id"
        )
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:accounts_loginsession_change", args=[login_session.pk]),
                    login_session.public_id,
                    " on ".join(user_agent_describe(login_session.user_agent)),
                    login_session.ip_address or "—",
                    date_format(localtime(login_session.last_seen_at), "DATETIME_FORMAT"),
                )
                for login_session in login_sessions
            ),
        )
        if not rows:
            return "None"
        return format_html(
            '<table class="customer-sessions"><thead><tr><th>Session</th><th>Device</th>'
            "<th>IP address</th><th>Last seen</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(LoginSession)
class LoginSessionAdmin(admin.ModelAdmin[LoginSession]):
    list_display = ("public_id", "user", "device", "ip_address", "created_at", "last_seen_at")
    search_fields = ("public_id", "user__email", "ip_address")
    list_select_related = ("user",)
    readonly_fields = (
        "public_id",
        "user",
        "ip_address",
        "user_agent",
        "created_at",
        "last_seen_at",
    )
    exclude = ("session_key",)
    actions = ("revoke_sessions",)

    @admin.display(description="Device")
    def device(self, login_session: LoginSession) -> str:
        browser, operating_system = user_agent_describe(login_session.user_agent)
        return f"{browser} on {operating_system}"

    @admin.action(description="Log out the selected sessions")
    def revoke_sessions(self, request: HttpRequest, queryset: QuerySet[LoginSession]) -> None:
        count = services.login_sessions_revoke(login_sessions=queryset)
        self.message_user(request, f"Logged out {count} session(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LoginSession | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LoginSession | None = None) -> bool:
        return False  # the action revokes properly; a bare delete would leave the session alive


@admin.register(SshKey)
class SshKeyAdmin(admin.ModelAdmin[SshKey]):
    list_display = (
        "public_id",
        "name",
        "customer",
        "key_type",
        "bits",
        "fingerprint",
        "created_at",
    )
    search_fields = (
        "public_id",
        "name",
        "fingerprint",
        "customer__public_id",
        "customer__user__email",
    )
    list_filter = ("key_type",)
    list_select_related = ("customer__user",)
    readonly_fields = (
        "public_id",
        "customer",
        "name",
        "key_type",
        "bits",
        "fingerprint",
        "public_key",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are added by their owner, who must hold the private half


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = (
        "public_id",
        "name",
        "customer",
        "created_at",
        "last_used_at",
        "last_used_ip",
        "expires_at",
        "revoked_at",
    )
    search_fields = ("public_id", "name", "lookup", "customer__public_id", "customer__user__email")
    list_select_related = ("customer__user",)
    readonly_fields = (
        "public_id",
        "customer",
        "created_by",
        "name",
        "scopes",
        "allowed_ips",
        "expires_at",
        "monthly_spend_cap",
        "lookup",
        "created_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    )
    exclude = ("secret_hash",)
    actions = ("revoke_keys",)

    @admin.action(description="Revoke the selected API keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        assert isinstance(request.user, User)
        actor = Actor.staff(request.user, ip_address=client_ip(request))
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True).order_by("id"):
            try:
                api_key_revoke(api_key=api_key, actor=actor)
            except ApiKeyRevoked:
                continue  # revoked since the list was read (its owner, another staff member)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a key's secret is shown once, to its owner

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the record stays for the activity log


@admin.register(ActivityEntry)
class ActivityEntryAdmin(admin.ModelAdmin[ActivityEntry]):
    """Every customer's activity log; written by services only, so read-only here."""

    list_display = ("created_at", "customer", "verb", "object_id", "actor_kind", "actor_label")
    list_filter = ("verb", "actor_kind")
    search_fields = ("public_id", "customer__public_id", "customer__user__email", "object_id")
    list_select_related = ("customer__user",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ActivityEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ActivityEntry | None = None) -> bool:
        return False
