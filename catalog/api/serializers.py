"""Catalog API shapes. Slugs are the public ids; OpenStack names never leave the server."""

from typing import Any

from rest_framework import serializers

from catalog.models import Image, InstanceType, Region, StorageProfile
from catalog.pricing import (
    CURRENCY,
    price_hourly_to_monthly,
    price_monthly_to_hourly,
)
from cloudportal.api.serializers import QueryFilter, StrictInput


class OfferedRegionsMixin(serializers.Serializer):
    """`regions`: where the object is offered now; `available`: offered somewhere."""

    regions = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()
    is_active = serializers.BooleanField()

    def get_regions(self, obj: Any) -> list[str]:
        return [mapping.region.slug for mapping in obj.offered_mappings]

    def get_available(self, obj: Any) -> bool:
        return bool(obj.is_active and obj.offered_mappings)


class RegionOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Region.Status.choices)
    available = serializers.SerializerMethodField()
    is_active = serializers.BooleanField()

    def get_available(self, obj: Region) -> bool:
        return obj.is_active and obj.status == Region.Status.AVAILABLE


class InstanceTypeFields(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    gpu_model = serializers.CharField()
    gpu_count = serializers.IntegerField()
    gpu_memory_gb = serializers.IntegerField(help_text="Memory of one GPU.")
    vcpus = serializers.IntegerField()
    ram_gb = serializers.IntegerField()
    local_disk_gb = serializers.IntegerField()
    currency = serializers.SerializerMethodField()
    hourly_price = serializers.DecimalField(max_digits=14, decimal_places=6)
    monthly_price = serializers.SerializerMethodField(help_text="hourly_price x 730 hours.")

    def get_currency(self, obj: InstanceType) -> str:
        return CURRENCY

    def get_monthly_price(self, obj: InstanceType) -> str:
        return str(price_hourly_to_monthly(obj.hourly_price))


class InstanceTypeOutput(InstanceTypeFields, OfferedRegionsMixin):
    pass


class ImageFields(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    os_family = serializers.ChoiceField(choices=Image.OsFamily.choices)
    os_version = serializers.CharField()
    login_user = serializers.CharField()
    cuda_version = serializers.CharField()
    driver_version = serializers.CharField()


class ImageOutput(ImageFields, OfferedRegionsMixin):
    pass


class StorageProfileFields(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    min_size_gb = serializers.IntegerField()
    max_size_gb = serializers.IntegerField()
    default_size_gb = serializers.IntegerField()
    currency = serializers.SerializerMethodField()
    price_per_gb_month = serializers.DecimalField(max_digits=14, decimal_places=6)
    price_per_gb_hour = serializers.SerializerMethodField(help_text="price_per_gb_month / 730.")

    def get_currency(self, obj: StorageProfile) -> str:
        return CURRENCY

    def get_price_per_gb_hour(self, obj: StorageProfile) -> str:
        return str(price_monthly_to_hourly(obj.price_per_gb_month))


class StorageProfileOutput(StorageProfileFields, OfferedRegionsMixin):
    pass


class RegionOfferOutput(serializers.Serializer):
    region = RegionOutput()
    instance_types = InstanceTypeFields(many=True)
    images = ImageFields(many=True)
    storage_profiles = StorageProfileFields(many=True)


class OfferListOutput(serializers.Serializer):
    hours_per_month = serializers.IntegerField()
    results = RegionOfferOutput(many=True)


# --- filters ------------------------------------------------------------------------


class RegionListFilters(QueryFilter):
    available = serializers.BooleanField(required=False, allow_null=True, default=None)


class OfferedListFilters(RegionListFilters):
    region = serializers.CharField(required=False, max_length=64, help_text="Region slug.")


class InstanceTypeListFilters(OfferedListFilters):
    gpu_model = serializers.CharField(required=False, max_length=64, help_text="e.g. H100.")
    gpu_count = serializers.IntegerField(required=False, min_value=1)


class ImageListFilters(OfferedListFilters):
    os_family = serializers.ChoiceField(required=False, choices=Image.OsFamily.choices)


class OfferListFilters(QueryFilter):
    region = serializers.CharField(required=False, max_length=64, help_text="Region slug.")


# --- quote --------------------------------------------------------------------------


class QuoteInput(StrictInput):
    region = serializers.CharField(max_length=64)
    instance_type = serializers.CharField(max_length=64)
    image = serializers.CharField(max_length=64)
    storage_profile = serializers.CharField(
        max_length=64, required=False, allow_null=True, default=None,
        help_text="Omit for no data volume.",
    )  # fmt: skip
    size_gb = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0,
        help_text="Data volume size; defaults to the storage profile's default size.",
    )  # fmt: skip


class QuotePriceLineOutput(serializers.Serializer):
    hourly_price = serializers.DecimalField(max_digits=14, decimal_places=6, source="hourly")
    monthly_price = serializers.DecimalField(max_digits=14, decimal_places=6, source="monthly")


class QuoteStorageLineOutput(QuotePriceLineOutput):
    system_disk_gb = serializers.IntegerField(
        help_text="The system disk every machine boots from, a volume made from the image: "
        "always part of storage."
    )
    data_volume_gb = serializers.IntegerField(help_text="The data volume; 0 without one.")


class QuoteBreakdownOutput(serializers.Serializer):
    compute = QuotePriceLineOutput()
    storage = QuoteStorageLineOutput(
        help_text="The system disk plus the data volume, at their prices per GB-month."
    )


class QuoteOutput(serializers.Serializer):
    region = serializers.CharField()
    instance_type = serializers.CharField()
    image = serializers.CharField()
    storage_profile = serializers.CharField(allow_null=True)
    size_gb = serializers.IntegerField(help_text="0 without a data volume.")
    currency = serializers.CharField()
    hours_per_month = serializers.IntegerField()
    hourly_price = serializers.DecimalField(max_digits=14, decimal_places=6)
    monthly_price = serializers.DecimalField(max_digits=14, decimal_places=6)
    breakdown = QuoteBreakdownOutput()
