"""Staff console for deployments: find them, read their history, act through services.

Deployments are history (metering reads them), so they are never deleted here, and every
field is read-only: the customer asked for the configuration and the worker owns the rest.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import admin as accounts_admin
from accounts.models import Customer
from cloudportal.admin import ReadOnlyAdminMixin
from cloudportal.exceptions import DomainError
from deployments import services
from deployments.models import Deployment, DeploymentEvent, LowBalanceEpisode, StatusChange


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline[Any, Deployment]):
    extra = 0
    can_delete = False
    show_change_link = False


class StatusChangeInline(ReadOnlyInline):
    model = StatusChange
    fields = ("created_at", "from_status", "to_status", "reason")
    readonly_fields = fields
    ordering = ("created_at", "id")


class DeploymentEventInline(ReadOnlyInline):
    model = DeploymentEvent
    fields = ("occurred_at", "resource_name", "resource_status", "reason", "heat_event_id")
    readonly_fields = fields
    ordering = ("occurred_at", "id")


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin[Deployment]):
    list_display = (
        "public_id",
        "name",
        "customer",
        "status",
        "region",
        "instance_type",
        "hourly_price",
        "created_at",
    )
    list_filter = ("status", "region", "instance_type", "desired_state")
    search_fields = (
        "public_id",
        "name",
        "customer__public_id",
        "customer__user__email",
        "stack_id",
    )
    list_select_related = ("customer__user", "region", "instance_type")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    inlines = (StatusChangeInline, DeploymentEventInline)
    actions = ("resync_now", "retry_delete", "mark_resolved")
    fieldsets = (
        (None, {"fields": ("public_id", "customer", "name", "status", "desired_state")}),
        ("Status", {"fields": ("status_reason", "status_detail", "heat_status")}),
        (
            "Configuration",
            {
                "fields": (
                    "region",
                    "instance_type",
                    "image",
                    "storage_profile",
                    "volume_size_gb",
                    "ssh_keys",
                )
            },
        ),
        (
            "Price captured at create (per hour)",
            {
                "fields": (
                    "currency",
                    "hourly_price",
                    "compute_hourly_price",
                    "storage_hourly_price",
                )
            },
        ),
        (
            "Stack",
            {
                "fields": (
                    "stack_name",
                    "stack_id",
                    "stack_template",
                    "stack_tags",
                    "stack_parameters",
                    "outputs",
                    "progress_complete",
                    "progress_total",
                    "events_marker",
                )
            },
        ),
        (
            "Worker",
            {
                "fields": (
                    "lease_owner",
                    "lease_expires_at",
                    "next_check_at",
                    "provisioning_deadline",
                    "create_attempts",
                    "delete_attempts",
                    "stack_cleanup_requested_at",
                )
            },
        ),
        (
            "Dates",
            {
                "fields": (
                    "created_at",
                    "updated_at",
                    "status_changed_at",
                    "activated_at",
                    "deleted_at",
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Deployment | None = None) -> Any:
        return [field.name for field in Deployment._meta.concrete_fields if field.name != "id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers launch deployments; the service validates and prices them

    def has_delete_permission(self, request: HttpRequest, obj: Deployment | None = None) -> bool:
        return False  # history: metering and support read it; staff actions resolve the rest

    def _act(
        self,
        request: HttpRequest,
        queryset: QuerySet[Deployment],
        service: Callable[[int], object],
        done: str,
    ) -> None:
        """Call `service` for each selected deployment; report what was done and refused."""
        succeeded = 0
        refused: list[str] = []
        for deployment in queryset.order_by("id"):
            try:
                service(deployment.pk)
            except DomainError as error:
                refused.append(f"{deployment.public_id} ({error.detail})")
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{done}: {succeeded} deployment(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, f"Not changed: {'; '.join(refused)}", messages.WARNING)

    @admin.action(description="Resync now (reconcile at once)", permissions=["change"])
    def resync_now(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        self._act(
            request,
            queryset,
            lambda deployment_id: services.deployment_resync(deployment_id=deployment_id),
            "Queued for the reconciler",
        )

    @admin.action(description="Retry delete (ERROR → DELETING)", permissions=["change"])
    def retry_delete(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        self._act(
            request,
            queryset,
            lambda deployment_id: services.deployment_retry_delete(deployment_id=deployment_id),
            "Deletion retried",
        )

    @admin.action(
        description="Mark resolved: cloud resources confirmed gone (ERROR → DELETED)",
        permissions=["change"],
    )
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        self._act(
            request,
            queryset,
            lambda deployment_id: services.deployment_mark_resolved(deployment_id=deployment_id),
            "Marked deleted",
        )


class CustomerDeploymentInline(ReadOnlyAdminMixin, admin.TabularInline[Deployment, Customer]):
    """The customer's deployments, newest first, read-only: each links to its own page."""

    model = Deployment
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("public_id", "name", "status", "region", "instance_type", "created_at")
    readonly_fields = fields
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Deployment]:
        return super().get_queryset(request).select_related("region", "instance_type")


# accounts sits below deployments and cannot know them: the customer's page gains its
# deployments here, by extending the accounts admin (Django's documented re-register).
admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerAdmin(accounts_admin.CustomerAdmin):
    inlines = (*accounts_admin.CustomerAdmin.inlines, CustomerDeploymentInline)


@admin.register(LowBalanceEpisode)
class LowBalanceEpisodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[LowBalanceEpisode]):
    """Which low-balance steps each customer's current episode has taken (read-only: the
    policy owns it; a top-up ends it)."""

    list_display = (
        "customer",
        "warned_day_at",
        "warned_hour_at",
        "dry_at",
        "deletion_warned_at",
        "deleted_at",
    )
    list_select_related = ("customer",)
    search_fields = ("customer__public_id", "customer__user__email")
    readonly_fields = (*list_display, "updated_at")
