"""Every catalog read: what is offered where, to whom, and at what price.

Offered means: the object is active, its mapping to the region is active, and the region
is active and available. Customers (and anonymous visitors: pricing is public) see what
is offered; staff see everything, retired objects included, with `is_active` and
`available` telling them apart. API reads go through `catalog_cached`, keyed by a
catalog version that `services.catalog_cache_invalidate` replaces on every change.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from catalog.exceptions import CatalogChoiceNotOffered
from catalog.models import (
    Image,
    InstanceType,
    Region,
    RegionImage,
    RegionInstanceType,
    RegionMapping,
    RegionStorageProfile,
    StorageProfile,
)
from catalog.pricing import PriceQuote, price_quote
from heat.rendering import TEMPLATE_BY_OS_FAMILY, ServerSpec

T = TypeVar("T")
CatalogT = TypeVar("CatalogT", InstanceType, Image, StorageProfile)

CACHE_VERSION_KEY = "catalog:version"
CACHE_TIMEOUT_SECONDS = 3600  # invalidation is explicit; the timeout only bounds memory

# A mapping row that is offered: itself active, in an active, available region.
OFFERED_MAPPING = Q(is_active=True, region__is_active=True, region__status=Region.Status.AVAILABLE)


# --- cache --------------------------------------------------------------------------


def catalog_cache_version() -> str:
    """The current catalog version; a random token, so an evicted key never revives old data."""
    version = cache.get(CACHE_VERSION_KEY)
    if version is None:
        cache.add(CACHE_VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(CACHE_VERSION_KEY)
    return str(version)


def catalog_cached(*, key: str, build: Callable[[], T]) -> T:
    """`build()`'s result, cached under `key` for the current catalog version."""
    versioned_key = f"catalog:{catalog_cache_version()}:{key}"
    value = cache.get(versioned_key)
    if value is None:
        value = build()
        cache.set(versioned_key, value, timeout=CACHE_TIMEOUT_SECONDS)
    return value


# --- lists --------------------------------------------------------------------------


def region_list(*, include_unavailable: bool, available: bool | None = None) -> QuerySet[Region]:
    """Customers see active regions, in maintenance or not (so they know why a launch waits)."""
    regions = Region.objects.all()
    if not include_unavailable:
        regions = regions.filter(is_active=True)
    if available is True:
        regions = regions.filter(is_active=True, status=Region.Status.AVAILABLE)
    elif available is False:
        regions = regions.exclude(is_active=True, status=Region.Status.AVAILABLE)
    return regions.order_by("slug")


def _offerable_list(
    objects: QuerySet[CatalogT],
    *,
    mapping_model: type[RegionMapping],
    owner_field: str,
    include_unavailable: bool,
    region: str | None,
    available: bool | None,
) -> QuerySet[CatalogT]:
    mappings: QuerySet[Any] = mapping_model._default_manager.all()
    offered_here = mappings.filter(OFFERED_MAPPING, **{owner_field: OuterRef("pk")})
    objects = objects.annotate(offered_somewhere=Exists(offered_here)).prefetch_related(
        Prefetch(
            "region_mappings",
            queryset=mappings.filter(OFFERED_MAPPING)
            .select_related("region")
            .order_by("region__slug"),
            to_attr="offered_mappings",
        )
    )
    if not include_unavailable or available is True:
        objects = objects.filter(is_active=True, offered_somewhere=True)
    if available is False:
        objects = objects.exclude(is_active=True, offered_somewhere=True)
    if region is not None:
        in_region = mappings.filter(region__slug=region, **{owner_field: OuterRef("pk")})
        if not include_unavailable:
            in_region = in_region.filter(OFFERED_MAPPING)
        objects = objects.filter(Exists(in_region))
    return objects.order_by("slug")


def instance_type_list(
    *,
    include_unavailable: bool,
    region: str | None = None,
    gpu_model: str | None = None,
    gpu_count: int | None = None,
    available: bool | None = None,
) -> QuerySet[InstanceType]:
    instance_types = InstanceType.objects.all()
    if gpu_model is not None:
        instance_types = instance_types.filter(gpu_model__iexact=gpu_model)
    if gpu_count is not None:
        instance_types = instance_types.filter(gpu_count=gpu_count)
    return _offerable_list(
        instance_types,
        mapping_model=RegionInstanceType,
        owner_field="instance_type",
        include_unavailable=include_unavailable,
        region=region,
        available=available,
    )


def image_list(
    *,
    include_unavailable: bool,
    region: str | None = None,
    os_family: str | None = None,
    available: bool | None = None,
) -> QuerySet[Image]:
    images = Image.objects.all()
    if os_family is not None:
        images = images.filter(os_family=os_family)
    return _offerable_list(
        images,
        mapping_model=RegionImage,
        owner_field="image",
        include_unavailable=include_unavailable,
        region=region,
        available=available,
    )


def storage_profile_list(
    *, include_unavailable: bool, region: str | None = None, available: bool | None = None
) -> QuerySet[StorageProfile]:
    return _offerable_list(
        StorageProfile.objects.all(),
        mapping_model=RegionStorageProfile,
        owner_field="storage_profile",
        include_unavailable=include_unavailable,
        region=region,
        available=available,
    )


# --- offers -------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionOffer:
    """What can be launched in one available region."""

    region: Region
    instance_types: list[InstanceType]
    images: list[Image]
    storage_profiles: list[StorageProfile]


def offer_list(*, region: str | None = None) -> list[RegionOffer]:
    """Per available region, the active types, images and storage profiles offered there."""
    regions = Region.objects.filter(is_active=True, status=Region.Status.AVAILABLE)
    mapping_filter = Q(OFFERED_MAPPING)
    if region is not None:
        regions = regions.filter(slug=region)
        mapping_filter &= Q(region__slug=region)
    by_region: dict[int, RegionOffer] = {
        item.pk: RegionOffer(region=item, instance_types=[], images=[], storage_profiles=[])
        for item in regions.order_by("slug")
    }
    for type_mapping in (
        RegionInstanceType.objects.filter(mapping_filter, instance_type__is_active=True)
        .select_related("instance_type")
        .order_by("instance_type__slug")
    ):
        by_region[type_mapping.region_id].instance_types.append(type_mapping.instance_type)
    for image_mapping in (
        RegionImage.objects.filter(mapping_filter, image__is_active=True)
        .select_related("image")
        .order_by("image__slug")
    ):
        by_region[image_mapping.region_id].images.append(image_mapping.image)
    for storage_mapping in (
        RegionStorageProfile.objects.filter(mapping_filter, storage_profile__is_active=True)
        .select_related("storage_profile")
        .order_by("storage_profile__slug")
    ):
        by_region[storage_mapping.region_id].storage_profiles.append(
            storage_mapping.storage_profile
        )
    return list(by_region.values())


# --- deployment specs ---------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedDeploymentSpec:
    """A deployment's catalog choices resolved into plain OpenStack values and a price.

    Slugs are the public ids the customer chose; `cloud`/`region_name`, the networks,
    `flavor`, `glance_image` and `volume_type` are what the Heat adapter needs. Without a
    data volume, `storage_profile` and `volume_type` are None and `volume_size_gb` is 0.
    `system_disk_gb` is the system disk every machine boots from (`settings.SYSTEM_DISK_GB`),
    priced as storage and rendered into the stack.
    """

    region: str
    cloud: str
    region_name: str
    network: str
    external_network: str
    instance_type: str
    flavor: str
    image: str
    glance_image: str
    os_family: str
    login_user: str
    storage_profile: str | None
    volume_type: str | None
    volume_size_gb: int
    system_disk_gb: int
    price: PriceQuote

    def server_spec(
        self, *, name: str, ssh_public_keys: tuple[str, ...], tags: tuple[str, ...]
    ) -> ServerSpec:
        """The renderer's input (`heat.rendering.stack_render`) for this spec."""
        return ServerSpec(
            name=name,
            flavor=self.flavor,
            image=self.glance_image,
            login_user=self.login_user,
            ssh_public_keys=ssh_public_keys,
            private_network=self.network,
            public_network=self.external_network,
            volume_type=self.volume_type,
            volume_size_gb=self.volume_size_gb,
            system_volume_size_gb=self.system_disk_gb,
            os_family=self.os_family,
            tags=tags,
        )


def _slugs(values: QuerySet[Any], field: str) -> str:
    slugs = sorted(values.values_list(field, flat=True))
    return ", ".join(slugs) if slugs else "none"


def deployment_spec_resolve(
    *,
    region: str,
    instance_type: str,
    image: str,
    storage_profile: str | None = None,
    size_gb: int | None = None,
) -> ResolvedDeploymentSpec:
    """Resolve catalog choices through the region's mappings, before any OpenStack call.

    Raises `CatalogChoiceNotOffered` with one message per offending field (`region`,
    `instance_type`, `image`, `storage_profile`, `size_gb`), each naming what is offered.
    `size_gb` defaults to the storage profile's default size; a size without a storage
    profile is refused.
    """
    available_regions = Region.objects.filter(is_active=True, status=Region.Status.AVAILABLE)
    region_row = Region.objects.filter(slug=region, is_active=True).first()
    if region_row is None or region_row.status != Region.Status.AVAILABLE:
        reason = "is not offered" if region_row is None else "is in maintenance"
        message = (
            f"Region {region!r} {reason}. Available regions: {_slugs(available_regions, 'slug')}."
        )
        raise CatalogChoiceNotOffered(message, errors={"region": [message]})

    errors: dict[str, list[str]] = {}
    in_region = Q(OFFERED_MAPPING, region=region_row)

    type_mapping = (
        RegionInstanceType.objects.filter(
            in_region, instance_type__slug=instance_type, instance_type__is_active=True
        )
        .select_related("instance_type")
        .first()
    )
    if type_mapping is None:
        offered = RegionInstanceType.objects.filter(in_region, instance_type__is_active=True)
        errors["instance_type"] = [
            f"Instance type {instance_type!r} is not offered in region {region!r}. "
            f"Offered there: {_slugs(offered, 'instance_type__slug')}."
        ]

    image_mapping = (
        RegionImage.objects.filter(in_region, image__slug=image, image__is_active=True)
        .select_related("image")
        .first()
    )
    if image_mapping is None:
        offered_images = RegionImage.objects.filter(in_region, image__is_active=True)
        errors["image"] = [
            f"Image {image!r} is not offered in region {region!r}. "
            f"Offered there: {_slugs(offered_images, 'image__slug')}."
        ]
    elif image_mapping.image.os_family not in TEMPLATE_BY_OS_FAMILY:
        errors["image"] = [
            f"Image {image!r} cannot be launched yet: there is no "
            f"{image_mapping.image.os_family} template."
        ]

    storage_mapping: RegionStorageProfile | None = None
    volume_size_gb = 0
    if storage_profile is None:
        if size_gb:
            errors["size_gb"] = ["A data volume size needs a storage profile."]
    else:
        storage_mapping = (
            RegionStorageProfile.objects.filter(
                in_region, storage_profile__slug=storage_profile, storage_profile__is_active=True
            )
            .select_related("storage_profile")
            .first()
        )
        if storage_mapping is None:
            offered_profiles = RegionStorageProfile.objects.filter(
                in_region, storage_profile__is_active=True
            )
            errors["storage_profile"] = [
                f"Storage profile {storage_profile!r} is not offered in region {region!r}. "
                f"Offered there: {_slugs(offered_profiles, 'storage_profile__slug')}."
            ]
        else:
            profile = storage_mapping.storage_profile
            volume_size_gb = profile.default_size_gb if size_gb is None else size_gb
            if not profile.min_size_gb <= volume_size_gb <= profile.max_size_gb:
                errors["size_gb"] = [
                    f"Storage profile {storage_profile!r} takes {profile.min_size_gb} to "
                    f"{profile.max_size_gb} GB, not {volume_size_gb}."
                ]

    if errors or type_mapping is None or image_mapping is None:
        raise CatalogChoiceNotOffered(f"Not offered: {', '.join(sorted(errors))}.", errors=errors)

    return ResolvedDeploymentSpec(
        region=region_row.slug,
        cloud=region_row.cloud,
        region_name=region_row.region_name,
        network=region_row.network,
        external_network=region_row.external_network,
        instance_type=type_mapping.instance_type.slug,
        flavor=type_mapping.flavor,
        image=image_mapping.image.slug,
        glance_image=image_mapping.glance_image,
        os_family=image_mapping.image.os_family,
        login_user=image_mapping.image.login_user,
        storage_profile=storage_mapping.storage_profile.slug if storage_mapping else None,
        volume_type=storage_mapping.volume_type if storage_mapping else None,
        volume_size_gb=volume_size_gb,
        system_disk_gb=settings.SYSTEM_DISK_GB,
        price=price_quote(
            instance_hourly_price=type_mapping.instance_type.hourly_price,
            system_disk_gb=settings.SYSTEM_DISK_GB,
            system_disk_price_per_gb_month=settings.SYSTEM_DISK_PRICE_PER_GB_MONTH,
            price_per_gb_month=(
                storage_mapping.storage_profile.price_per_gb_month if storage_mapping else None
            ),
            size_gb=volume_size_gb,
        ),
    )


# --- what a cloud must hold ---------------------------------------------------------


def cloud_names(*, cloud: str) -> dict[str, dict[str, list[str]]]:
    """Per OpenStack region of `cloud` (clouds.yaml), the flavors, images and networks the
    catalog maps to there, retired mappings included: what must exist in that region."""
    regions = {
        region.region_name: {
            "flavors": set(),
            "images": set(),
            "networks": {region.network, region.external_network},
        }
        for region in Region.objects.filter(cloud=cloud)
    }
    for region_name, flavor in RegionInstanceType.objects.filter(region__cloud=cloud).values_list(
        "region__region_name", "flavor"
    ):
        regions[region_name]["flavors"].add(flavor)
    for region_name, image in RegionImage.objects.filter(region__cloud=cloud).values_list(
        "region__region_name", "glance_image"
    ):
        regions[region_name]["images"].add(image)
    return {
        region_name: {kind: sorted(names) for kind, names in kinds.items()}
        for region_name, kinds in sorted(regions.items())
    }
