"""deployment_spec_resolve: the catalog's answer to "what exactly do I launch, and for how much"."""

from decimal import Decimal

import pytest
from django.test import override_settings

from catalog.exceptions import CatalogChoiceNotOffered
from catalog.models import InstanceType, RegionImage
from catalog.pricing import (
    HOURS_PER_MONTH,
    PriceLine,
    price_hourly_to_monthly,
    price_monthly_to_hourly,
    price_quote,
)
from catalog.selectors import ResolvedDeploymentSpec, deployment_spec_resolve
from heat.rendering import ServerSpec

pytestmark = pytest.mark.django_db


def test_a_spec_resolves_into_openstack_values_and_a_price(seeded, django_assert_num_queries):
    with django_assert_num_queries(4):
        spec = deployment_spec_resolve(
            region="us-east-1",
            instance_type="h100-8x",
            image="ubuntu-22.04-cuda-12.4",
            storage_profile="nvme-ssd",
            size_gb=1000,
        )

    assert spec == ResolvedDeploymentSpec(
        region="us-east-1",
        cloud="devcloud",
        region_name="RegionTwo",
        network="private",
        external_network="public",
        instance_type="h100-8x",
        flavor="g1.h100x8",
        image="ubuntu-22.04-cuda-12.4",
        glance_image="ubuntu-22.04-cuda-12.4-20261101",
        os_family="linux",
        login_user="ubuntu",
        storage_profile="nvme-ssd",
        volume_type="nvme",
        volume_size_gb=1000,
        system_disk_gb=100,
        price=price_quote(
            instance_hourly_price=Decimal("21.92"),
            system_disk_gb=100,
            system_disk_price_per_gb_month=Decimal("0.10"),
            price_per_gb_month=Decimal("0.10"),
            size_gb=1000,
        ),
    )
    # 21.92/h + (100 GB + 1000 GB) x 0.10/GB-month = 110.00/month -> 0.150685/h;
    # 21.92 x 730 = 16001.60 + 110.00 a month
    assert spec.price.total == PriceLine(hourly=Decimal("22.070685"), monthly=Decimal("16111.6"))


def test_a_resolved_spec_becomes_the_renderers_input(seeded):
    spec = deployment_spec_resolve(
        region="eu-central-1",
        instance_type="l40s-2x",
        image="ubuntu-22.04-cuda-12.4",
        storage_profile="standard-hdd",
    )

    assert spec.server_spec(
        name="vm-1", ssh_public_keys=("ssh-ed25519 AAAA a@b",), tags=("cloudportal", "dep_x")
    ) == ServerSpec(
        name="vm-1",
        flavor="g1.l40sx2",
        image="ubuntu-22.04-cuda-12.4-20261101",
        login_user="ubuntu",
        ssh_public_keys=("ssh-ed25519 AAAA a@b",),
        private_network="private",
        public_network="public",
        volume_type="standard",
        volume_size_gb=500,
        system_volume_size_gb=100,
        os_family="linux",
        tags=("cloudportal", "dep_x"),
    )


def test_a_spec_without_storage_has_no_volume(seeded):
    spec = deployment_spec_resolve(
        region="eu-central-1", instance_type="a100-1x", image="ubuntu-24.04-cuda-12.8"
    )

    assert (spec.storage_profile, spec.volume_type, spec.volume_size_gb) == (None, None, 0)
    # Storage is still the 100 GB system disk: 10.00/month, 0.013699/h.
    assert spec.price.storage == PriceLine(hourly=Decimal("0.013699"), monthly=Decimal("10.00"))
    assert (spec.price.system_disk_gb, spec.price.data_volume_gb) == (100, 0)


@override_settings(SYSTEM_DISK_GB=250)
def test_the_stack_gets_the_system_disk_the_price_is_for(seeded):
    spec = deployment_spec_resolve(
        region="eu-central-1", instance_type="a100-1x", image="ubuntu-24.04-cuda-12.8"
    )

    server = spec.server_spec(name="vm-1", ssh_public_keys=("ssh-ed25519 AAAA a@b",), tags=())
    assert server.system_volume_size_gb == spec.price.system_disk_gb == 250
    # 250 GB x 0.10/GB-month
    assert spec.price.storage.monthly == Decimal("25.00")


def test_retired_objects_and_mappings_are_not_offered(seeded):
    InstanceType.objects.filter(slug="h100-1x").update(is_active=False)
    RegionImage.objects.filter(
        region__slug="eu-central-1", image__slug="ubuntu-24.04-cuda-12.8"
    ).update(is_active=False)

    with pytest.raises(CatalogChoiceNotOffered) as raised:
        deployment_spec_resolve(
            region="eu-central-1", instance_type="h100-1x", image="ubuntu-24.04-cuda-12.8"
        )

    assert raised.value.code == "catalog_choice_not_offered"
    assert raised.value.status == 400
    assert sorted(raised.value.errors or {}) == ["image", "instance_type"]
    assert "h100-1x," not in raised.value.errors["instance_type"][0]
    assert raised.value.errors["image"] == [
        "Image 'ubuntu-24.04-cuda-12.8' is not offered in region 'eu-central-1'. "
        "Offered there: ubuntu-22.04-cuda-12.4."
    ]


def test_an_image_without_a_template_for_its_os_family_is_refused(seeded):
    from catalog.models import Region
    from tests.catalog.factories import ImageFactory, RegionImageFactory

    windows = ImageFactory(slug="windows-2022", os_family="windows", login_user="Admin")
    RegionImageFactory(region=Region.objects.get(slug="eu-central-1"), image=windows)

    with pytest.raises(CatalogChoiceNotOffered) as raised:
        deployment_spec_resolve(
            region="eu-central-1", instance_type="h100-1x", image="windows-2022"
        )

    assert raised.value.errors == {
        "image": ["Image 'windows-2022' cannot be launched yet: there is no windows template."]
    }


@pytest.mark.parametrize(
    ("monthly", "hourly"),
    [
        (Decimal("730"), Decimal("1.000000")),
        (Decimal("10"), Decimal("0.013699")),  # 0.01369863.. rounds up
        (Decimal("0.10"), Decimal("0.000137")),  # 0.00013698.. rounds up
        (Decimal("0.000365"), Decimal("0.000001")),  # exactly half a micro-unit: half up
    ],
)
def test_a_monthly_price_becomes_hourly_over_730_hours_rounded_half_up(monthly, hourly):
    assert HOURS_PER_MONTH == 730
    assert price_monthly_to_hourly(monthly) == hourly


def test_an_hourly_price_becomes_monthly_over_730_hours():
    assert price_hourly_to_monthly(Decimal("2.79")) == Decimal("2036.700000")
