"""Every catalog write: admin saves, retiring, seeding; each invalidates the cached reads.

Invalidation replaces the catalog version token after the transaction commits, so a
reader never caches data that is about to be rolled back, and every entry cached under
the old version is simply never read again (it expires by timeout).
"""

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from catalog.exceptions import CatalogSeedInvalid
from catalog.models import (
    CatalogObject,
    Image,
    InstanceType,
    Region,
    RegionImage,
    RegionInstanceType,
    RegionMapping,
    RegionStorageProfile,
    StorageProfile,
)
from catalog.selectors import CACHE_VERSION_KEY

logger = logging.getLogger(__name__)

SEED_FILE = Path(__file__).resolve().parent / "seed" / "catalog.yaml"


def _cache_version_replace() -> None:
    cache.set(CACHE_VERSION_KEY, uuid.uuid4().hex, timeout=None)
    logger.info("catalog.cache_invalidated")


def catalog_cache_invalidate() -> None:
    """Make every cached catalog read stale, once the current transaction commits."""
    # Robust: the edit is committed by then; a Redis blip must not turn it into a 500.
    transaction.on_commit(_cache_version_replace, robust=True)


def catalog_object_save(*, instance: CatalogObject | RegionMapping) -> None:
    """Save a catalog object or region mapping edited by staff (admin)."""
    with transaction.atomic():
        instance.save()
        catalog_cache_invalidate()


def catalog_objects_set_active(*, objects: "models.QuerySet[Any]", is_active: bool) -> int:
    """Retire (or reactivate) catalog objects; nothing in the catalog is ever deleted."""
    with transaction.atomic():
        # update() skips auto_now: stamp updated_at ourselves.
        changed = objects.exclude(is_active=is_active).update(
            is_active=is_active, updated_at=timezone.now()
        )
        if changed:
            catalog_cache_invalidate()
    logger.info(
        "catalog.objects_set_active",
        extra={"model": objects.model._meta.label, "is_active": is_active, "count": changed},
    )
    return changed


# --- seed ---------------------------------------------------------------------------


@dataclass
class SeedResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


@dataclass(frozen=True)
class _Kind:
    section: str
    model: type[CatalogObject]
    fields: tuple[str, ...]
    mapping_model: type[RegionMapping] | None = None
    owner_field: str = ""
    mapping_value_field: str = ""


_KINDS = (
    _Kind(
        "regions",
        Region,
        ("name", "cloud", "region_name", "status", "network", "external_network"),
    ),
    _Kind(
        "instance_types",
        InstanceType,
        ("name", "gpu_model", "gpu_count", "gpu_memory_gb", "vcpus", "ram_gb", "local_disk_gb",
         "hourly_price"),
        RegionInstanceType, "instance_type", "flavor",
    ),
    _Kind(
        "images",
        Image,
        ("name", "os_family", "os_version", "login_user", "cuda_version", "driver_version"),
        RegionImage, "image", "glance_image",
    ),
    _Kind(
        "storage_profiles",
        StorageProfile,
        ("name", "min_size_gb", "max_size_gb", "default_size_gb", "price_per_gb_month"),
        RegionStorageProfile, "storage_profile", "volume_type",
    ),
)  # fmt: skip


def _python_value(model: type[models.Model], name: str, value: Any, where: str) -> Any:
    if isinstance(value, float):
        # 2.79 as a float is not 2.79: prices are written as quoted strings.
        raise CatalogSeedInvalid(f"{where}: write {name} as a quoted string, not a float.")
    try:
        model_field = model._meta.get_field(name)
        assert isinstance(model_field, models.Field)
        return model_field.to_python(value)
    except ValidationError as error:
        raise CatalogSeedInvalid(f"{where}: {name}: {'; '.join(error.messages)}") from error


def _upsert(
    model: type[models.Model],
    lookup: dict[str, Any],
    values: dict[str, Any],
    label: str,
    result: SeedResult,
) -> models.Model:
    """Create the row, or update the fields that differ; unchanged rows are not written."""
    manager = model._default_manager
    instance = manager.filter(**lookup).first()
    if instance is None:
        instance = model(**lookup, **values)
        changed_fields = None
    else:
        changed_fields = [
            name for name, value in values.items() if getattr(instance, name) != value
        ]
        if not changed_fields:
            return instance
        for name in changed_fields:
            setattr(instance, name, values[name])
    try:
        instance.full_clean(validate_unique=changed_fields is None)
    except ValidationError as error:
        raise CatalogSeedInvalid(f"{label}: {error.message_dict}") from error
    if changed_fields is None:
        instance.save()
        result.created.append(label)
    else:
        instance.save(update_fields=[*changed_fields, "updated_at"])
        result.updated.append(label)
    return instance


def catalog_seed(*, data: Mapping[str, Any]) -> SeedResult:
    """Load a catalog document: create what is new, update what differs, touch nothing else.

    Objects are matched on slug, mappings on (region, object). `is_active` is applied only
    where the document names it, so staff retirements survive a reseed; objects missing
    from the document are left alone (retire them in admin).
    """
    unknown = sorted(set(data) - {kind.section for kind in _KINDS})
    if unknown:
        raise CatalogSeedInvalid(f"Unknown sections: {', '.join(unknown)}.")
    result = SeedResult()
    regions: dict[str, Region] = {}
    with transaction.atomic():
        for kind in _KINDS:
            allowed = {
                "slug",
                "is_active",
                *kind.fields,
                *(["regions"] if kind.mapping_model else []),
            }
            for item in data.get(kind.section) or []:
                slug = item.get("slug") if isinstance(item, Mapping) else None
                where = f"{kind.section}/{slug}"
                if not isinstance(slug, str):
                    raise CatalogSeedInvalid(f"{kind.section}: every entry needs a slug.")
                extra = sorted(set(item) - allowed)
                if extra:
                    raise CatalogSeedInvalid(f"{where}: unknown keys {', '.join(extra)}.")
                missing = sorted(set(kind.fields) - set(item))
                if missing:
                    raise CatalogSeedInvalid(f"{where}: missing {', '.join(missing)}.")
                names = [*kind.fields, *(["is_active"] if "is_active" in item else [])]
                values = {
                    name: _python_value(kind.model, name, item[name], where) for name in names
                }
                instance = _upsert(kind.model, {"slug": slug}, values, where, result)
                if isinstance(instance, Region):
                    regions[slug] = instance
                if kind.mapping_model is None:
                    continue
                for region_slug, target in (item.get("regions") or {}).items():
                    region = (
                        regions.get(region_slug) or Region.objects.filter(slug=region_slug).first()
                    )
                    if region is None:
                        raise CatalogSeedInvalid(f"{where}: unknown region {region_slug!r}.")
                    _upsert(
                        kind.mapping_model,
                        {"region": region, kind.owner_field: instance},
                        {kind.mapping_value_field: str(target)},
                        f"{where}@{region_slug}",
                        result,
                    )
        if result.changed:
            catalog_cache_invalidate()
    logger.info(
        "catalog.seeded",
        extra={"created_count": len(result.created), "updated_count": len(result.updated)},
    )
    return result


def catalog_seed_file_load(*, path: Path = SEED_FILE) -> SeedResult:
    """Seed the catalog from a YAML file (by default `catalog/seed/catalog.yaml`)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CatalogSeedInvalid(f"Cannot read {path}: {error}") from error
    if not isinstance(data, Mapping):
        raise CatalogSeedInvalid(f"{path} is not a mapping of sections.")
    return catalog_seed(data=data)
