"""`manage.py catalog_seed` loads catalog/seed/catalog.yaml idempotently."""

from decimal import Decimal

import pytest
import yaml
from django.core.management import CommandError, call_command

from catalog.exceptions import CatalogSeedInvalid
from catalog.models import (
    Image,
    InstanceType,
    Region,
    RegionImage,
    RegionInstanceType,
    RegionStorageProfile,
    StorageProfile,
)
from catalog.services import SEED_FILE, catalog_seed

pytestmark = pytest.mark.django_db


def catalog_snapshot():
    rows = []
    for model in [
        Region, InstanceType, Image, StorageProfile,
        RegionInstanceType, RegionImage, RegionStorageProfile,
    ]:  # fmt: skip
        rows += [(model.__name__, row) for row in model.objects.order_by("pk").values()]
    return rows


def seed_document():
    return yaml.safe_load(SEED_FILE.read_text())


def test_seed_loads_a_realistic_catalog(capsys):
    call_command("catalog_seed")

    assert list(Region.objects.values_list("slug", "cloud", "region_name")) == [
        ("eu-central-1", "devcloud", "RegionOne"),
        ("us-east-1", "devcloud", "RegionTwo"),
    ]
    assert set(InstanceType.objects.values_list("gpu_model", flat=True)) == {"H100", "A100", "L40S"}
    for gpu_model in ["H100", "A100", "L40S"]:
        counts = InstanceType.objects.filter(gpu_model=gpu_model).values_list(
            "gpu_count", flat=True
        )
        assert sorted(counts) == [1, 2, 4, 8]
    assert InstanceType.objects.get(slug="h100-1x").hourly_price == Decimal("2.79")
    assert set(Image.objects.values_list("os_version", "cuda_version")) == {
        ("22.04", "12.4"),
        ("24.04", "12.8"),
    }
    assert StorageProfile.objects.count() == 2
    assert RegionInstanceType.objects.filter(region__slug="eu-central-1").count() == 12
    assert RegionInstanceType.objects.filter(region__slug="us-east-1").count() == 8
    assert "Catalog seeded from catalog.yaml: 45 created, 0 updated." in capsys.readouterr().out


def test_seeding_twice_changes_nothing(capsys):
    call_command("catalog_seed")
    before = catalog_snapshot()
    capsys.readouterr()

    call_command("catalog_seed")

    assert catalog_snapshot() == before  # not even updated_at moved
    assert capsys.readouterr().out == "Catalog seeded from catalog.yaml: 0 created, 0 updated.\n"


def test_an_edited_file_updates_only_what_changed(tmp_path, capsys):
    call_command("catalog_seed")
    untouched = InstanceType.objects.get(slug="h100-2x").updated_at
    document = seed_document()
    h100 = next(item for item in document["instance_types"] if item["slug"] == "h100-1x")
    h100["hourly_price"] = "2.4900"
    h100["regions"]["us-east-1"] = "g2.h100x1"
    document["images"].append(
        {
            "slug": "rocky-9-cuda-12.8",
            "name": "Rocky Linux 9 with CUDA 12.8",
            "os_family": "linux",
            "os_version": "9",
            "login_user": "rocky",
            "cuda_version": "12.8",
            "driver_version": "570.172.08",
            "regions": {"eu-central-1": "rocky-9-cuda-12.8"},
        }
    )
    edited = tmp_path / "catalog.yaml"
    edited.write_text(yaml.safe_dump(document, allow_unicode=True))
    capsys.readouterr()

    call_command("catalog_seed", "--file", str(edited))

    assert InstanceType.objects.get(slug="h100-1x").hourly_price == Decimal("2.49")
    assert (
        RegionInstanceType.objects.get(
            region__slug="us-east-1", instance_type__slug="h100-1x"
        ).flavor
        == "g2.h100x1"
    )
    assert Image.objects.get(slug="rocky-9-cuda-12.8").login_user == "rocky"
    assert InstanceType.objects.get(slug="h100-2x").updated_at == untouched
    assert capsys.readouterr().out.splitlines() == [
        "Catalog seeded from catalog.yaml: 2 created, 2 updated.",
        "  created images/rocky-9-cuda-12.8",
        "  created images/rocky-9-cuda-12.8@eu-central-1",
        "  updated instance_types/h100-1x",
        "  updated instance_types/h100-1x@us-east-1",
    ]


def test_a_reseed_keeps_what_staff_retired():
    call_command("catalog_seed")
    InstanceType.objects.filter(slug="a100-8x").update(is_active=False)

    call_command("catalog_seed")

    assert InstanceType.objects.get(slug="a100-8x").is_active is False


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["instance_types"][0].update(hourly_price=2.79), "as a quoted string"),
        (lambda d: d["instance_types"][0].update(gpu_count="many"), "gpu_count"),
        (lambda d: d["instance_types"][0].pop("vcpus"), "missing vcpus"),
        (lambda d: d["images"][0].update(colour="blue"), "unknown keys colour"),
        (lambda d: d["images"][0]["regions"].update({"mars-1": "x"}), "unknown region 'mars-1'"),
        (lambda d: d["storage_profiles"][0].update(min_size_gb=200), "min_size_gb"),
        (lambda d: d.update(flavours=[]), "Unknown sections: flavours"),
    ],
)
def test_an_invalid_document_is_refused_and_changes_nothing(edit, message):
    call_command("catalog_seed")
    before = catalog_snapshot()
    document = seed_document()
    document["regions"][0]["name"] = "Renamed before the broken entry"
    edit(document)

    with pytest.raises(CatalogSeedInvalid, match=message):
        catalog_seed(data=document)

    assert catalog_snapshot() == before


def test_command_reports_an_unreadable_file(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("catalog_seed", "--file", str(tmp_path / "missing.yaml"))
