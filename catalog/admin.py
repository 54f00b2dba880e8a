"""Staff console for the catalog. Nothing is deleted: objects and mappings are retired.

Every save and action goes through `catalog.services`, which also invalidates the cached
catalog reads.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.forms import BaseModelForm
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from catalog import services
from catalog.models import (
    Image,
    InstanceType,
    Region,
    RegionImage,
    RegionInstanceType,
    RegionStorageProfile,
    StorageProfile,
)


class NeverDeleteMixin:
    """No delete anywhere in the catalog: history keeps its meaning."""

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class RegionInstanceTypeInline(NeverDeleteMixin, admin.TabularInline[RegionInstanceType, Any]):
    model = RegionInstanceType
    extra = 0
    fields = ["region", "instance_type", "flavor", "is_active"]
    autocomplete_fields = ["region", "instance_type"]


class RegionImageInline(NeverDeleteMixin, admin.TabularInline[RegionImage, Any]):
    model = RegionImage
    extra = 0
    fields = ["region", "image", "glance_image", "is_active"]
    autocomplete_fields = ["region", "image"]


class RegionStorageProfileInline(NeverDeleteMixin, admin.TabularInline[RegionStorageProfile, Any]):
    model = RegionStorageProfile
    extra = 0
    fields = ["region", "storage_profile", "volume_type", "is_active"]
    autocomplete_fields = ["region", "storage_profile"]


class CatalogAdmin(NeverDeleteMixin, admin.ModelAdmin[Any]):
    actions = ["retire", "reactivate"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The slug is the public id: fixed once created.
        return [*self.readonly_fields, "slug"] if obj is not None else self.readonly_fields

    def save_model(
        self, request: HttpRequest, obj: Any, form: BaseModelForm[Any], change: bool
    ) -> None:
        services.catalog_object_save(instance=obj)

    def save_formset(
        self,
        request: HttpRequest,
        form: BaseModelForm[Any],
        formset: BaseInlineFormSet[Any, Any, Any],
        change: bool,
    ) -> None:
        for instance in formset.save(commit=False):
            services.catalog_object_save(instance=instance)
        formset.save_m2m()

    @admin.action(description="Retire selected (stop offering, keep for history)")
    def retire(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = services.catalog_objects_set_active(objects=queryset, is_active=False)
        self.message_user(request, f"Retired {count}.", messages.SUCCESS)

    @admin.action(description="Reactivate selected")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = services.catalog_objects_set_active(objects=queryset, is_active=True)
        self.message_user(request, f"Reactivated {count}.", messages.SUCCESS)


@admin.register(Region)
class RegionAdmin(CatalogAdmin):
    list_display = ["slug", "name", "cloud", "region_name", "status", "is_active"]
    list_filter = ["status", "is_active", "cloud"]
    inlines = [RegionInstanceTypeInline, RegionImageInline, RegionStorageProfileInline]


@admin.register(InstanceType)
class InstanceTypeAdmin(CatalogAdmin):
    list_display = [
        "slug", "name", "gpu_model", "gpu_count", "vcpus", "ram_gb", "hourly_price", "is_active",
    ]  # fmt: skip
    list_filter = ["gpu_model", "gpu_count", "is_active"]
    inlines = [RegionInstanceTypeInline]


@admin.register(Image)
class ImageAdmin(CatalogAdmin):
    list_display = ["slug", "name", "os_family", "os_version", "cuda_version", "is_active"]
    list_filter = ["os_family", "is_active"]
    inlines = [RegionImageInline]


@admin.register(StorageProfile)
class StorageProfileAdmin(CatalogAdmin):
    list_display = [
        "slug", "name", "min_size_gb", "max_size_gb", "price_per_gb_month", "is_active",
    ]  # fmt: skip
    list_filter = ["is_active"]
    inlines = [RegionStorageProfileInline]
