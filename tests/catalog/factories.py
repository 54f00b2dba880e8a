from decimal import Decimal

import factory

from catalog.models import (
    Image,
    InstanceType,
    Region,
    RegionImage,
    RegionInstanceType,
    RegionStorageProfile,
    StorageProfile,
)


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region

    slug = factory.Sequence(lambda n: f"test-region-{n}")
    name = factory.Sequence(lambda n: f"Test region {n}")
    cloud = "devcloud"
    region_name = factory.Sequence(lambda n: f"Region{n}")
    status = Region.Status.AVAILABLE


class InstanceTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InstanceType

    slug = factory.Sequence(lambda n: f"gpu-{n}x")
    name = factory.Sequence(lambda n: f"GPU type {n}")
    gpu_model = "H100"
    gpu_count = 1
    gpu_memory_gb = 80
    vcpus = 24
    ram_gb = 240
    local_disk_gb = 750
    hourly_price = Decimal("2.7900")


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image

    slug = factory.Sequence(lambda n: f"ubuntu-{n}.04")
    name = factory.Sequence(lambda n: f"Ubuntu {n}.04")
    os_family = Image.OsFamily.LINUX
    os_version = "24.04"
    login_user = "ubuntu"
    cuda_version = "12.8"
    driver_version = "570.172.08"


class StorageProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StorageProfile

    slug = factory.Sequence(lambda n: f"ssd-{n}")
    name = factory.Sequence(lambda n: f"SSD {n}")
    min_size_gb = 10
    max_size_gb = 1000
    default_size_gb = 100
    price_per_gb_month = Decimal("0.1000")


class RegionInstanceTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegionInstanceType

    region = factory.SubFactory(RegionFactory)
    instance_type = factory.SubFactory(InstanceTypeFactory)
    flavor = factory.LazyAttribute(lambda o: f"flavor.{o.instance_type.slug}")


class RegionImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegionImage

    region = factory.SubFactory(RegionFactory)
    image = factory.SubFactory(ImageFactory)
    glance_image = factory.LazyAttribute(lambda o: f"glance-{o.image.slug}")


class RegionStorageProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegionStorageProfile

    region = factory.SubFactory(RegionFactory)
    storage_profile = factory.SubFactory(StorageProfileFactory)
    volume_type = factory.LazyAttribute(lambda o: f"vt-{o.storage_profile.slug}")
