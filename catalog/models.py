"""What can be launched, where, and at what price, and how each choice maps to OpenStack.

Catalog objects are public (their slug is their public id) and are never deleted: a
retired object has `is_active = False`, so deployments that used it keep their meaning.
Something is *offered* when the object is active, its per-region mapping is active and
the region is active and available; that rule lives in `selectors.py`.
"""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q

# Lowercase words joined by `-` or `.`: `h100-8x`, `ubuntu-24.04-cuda-12.8`, `eu-central-1`.
SLUG_PATTERN = r"[a-z0-9]+(?:[.-][a-z0-9]+)*"


class CatalogObject(models.Model):
    """Fields every catalog object shares: a stable public slug and the retire flag."""

    slug = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(rf"\A{SLUG_PATTERN}\Z", "Lowercase words joined by - or .")],
        help_text="Public id; never changes.",
    )
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(
        default=True, help_text="Retired objects stay for history but are not offered."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Region(CatalogObject):
    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        MAINTENANCE = "maintenance", "Maintenance"

    cloud = models.CharField(
        max_length=64, help_text="Cloud name in clouds.yaml (for example `devcloud`)."
    )
    region_name = models.CharField(
        max_length=64, help_text="OpenStack region name in that cloud (for example `RegionOne`)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    network = models.CharField(
        max_length=128, default="private", help_text="Tenant network for the VMs' ports."
    )
    external_network = models.CharField(
        max_length=128, default="public", help_text="External network for floating IPs."
    )

    class Meta(CatalogObject.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["cloud", "region_name"], name="catalog_region_cloud_region_unique"
            ),
        ]


class InstanceType(CatalogObject):
    """A GPU VM size: what the customer rents by the hour."""

    gpu_model = models.CharField(max_length=64, help_text="For example `H100`, `A100`, `L40S`.")
    gpu_count = models.PositiveSmallIntegerField()
    gpu_memory_gb = models.PositiveIntegerField(help_text="Memory of one GPU, GB.")
    vcpus = models.PositiveIntegerField()
    ram_gb = models.PositiveIntegerField()
    local_disk_gb = models.PositiveIntegerField()
    hourly_price = models.DecimalField(max_digits=12, decimal_places=4, help_text="USD per hour.")

    class Meta(CatalogObject.Meta):
        constraints = [
            models.CheckConstraint(
                condition=Q(gpu_count__gte=1), name="catalog_instancetype_gpu_count_positive"
            ),
            models.CheckConstraint(
                condition=Q(hourly_price__gte=0), name="catalog_instancetype_price_not_negative"
            ),
        ]


class Image(CatalogObject):
    class OsFamily(models.TextChoices):
        LINUX = "linux", "Linux"
        WINDOWS = "windows", "Windows"

    os_family = models.CharField(max_length=16, choices=OsFamily.choices)
    os_version = models.CharField(max_length=32, help_text="For example `22.04`.")
    login_user = models.CharField(max_length=32, help_text="Default user of the image.")
    cuda_version = models.CharField(max_length=16, blank=True)
    driver_version = models.CharField(max_length=32, blank=True)


class StorageProfile(CatalogObject):
    """A kind of data volume (Cinder volume type) with its size limits and price."""

    min_size_gb = models.PositiveIntegerField()
    max_size_gb = models.PositiveIntegerField()
    default_size_gb = models.PositiveIntegerField()
    price_per_gb_month = models.DecimalField(
        max_digits=10, decimal_places=4, help_text="USD per GB per month (730 hours)."
    )

    class Meta(CatalogObject.Meta):
        constraints = [
            models.CheckConstraint(
                condition=Q(min_size_gb__gte=1)
                & Q(min_size_gb__lte=F("default_size_gb"))
                & Q(default_size_gb__lte=F("max_size_gb")),
                name="catalog_storageprofile_sizes_ordered",
                violation_error_message="Sizes must satisfy 1 <= min_size_gb <= "
                "default_size_gb <= max_size_gb.",
            ),
            models.CheckConstraint(
                condition=Q(price_per_gb_month__gte=0),
                name="catalog_storageprofile_price_not_negative",
            ),
        ]


class RegionMapping(models.Model):
    is_active = models.BooleanField(default=True, help_text="Offered in this region.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class RegionInstanceType(RegionMapping):
    """An instance type offered in a region, on that region's Nova flavor."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="instance_types")
    instance_type = models.ForeignKey(
        InstanceType, on_delete=models.PROTECT, related_name="region_mappings"
    )
    flavor = models.CharField(max_length=128, help_text="Nova flavor name or id.")

    class Meta:
        verbose_name = "instance type in region"
        constraints = [
            models.UniqueConstraint(
                fields=["region", "instance_type"], name="catalog_regioninstancetype_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instance_type_id} in {self.region_id} on {self.flavor}"


class RegionImage(RegionMapping):
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="images")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="region_mappings")
    glance_image = models.CharField(max_length=128, help_text="Glance image name or id.")

    class Meta:
        verbose_name = "image in region"
        constraints = [
            models.UniqueConstraint(fields=["region", "image"], name="catalog_regionimage_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.image_id} in {self.region_id} as {self.glance_image}"


class RegionStorageProfile(RegionMapping):
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="storage_profiles")
    storage_profile = models.ForeignKey(
        StorageProfile, on_delete=models.PROTECT, related_name="region_mappings"
    )
    volume_type = models.CharField(max_length=128, help_text="Cinder volume type name.")

    class Meta:
        verbose_name = "storage profile in region"
        constraints = [
            models.UniqueConstraint(
                fields=["region", "storage_profile"], name="catalog_regionstorageprofile_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.storage_profile_id} in {self.region_id} as {self.volume_type}"
