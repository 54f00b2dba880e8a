"""The catalog read API: public lists and details, filters, audiences, offers."""

import pytest

from catalog.models import Region
from tests.catalog.factories import (
    ImageFactory,
    InstanceTypeFactory,
    RegionFactory,
    RegionImageFactory,
    RegionInstanceTypeFactory,
    RegionStorageProfileFactory,
    StorageProfileFactory,
)

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def slugs(response):
    assert response.status_code == 200, response.content
    return [item["slug"] for item in response.json()["results"]]


@pytest.fixture
def catalog():
    """Two available regions, one in maintenance, one retired; types offered in various ways."""
    eu = RegionFactory(slug="eu-1")
    us = RegionFactory(slug="us-1")
    maintenance = RegionFactory(slug="ap-1", status=Region.Status.MAINTENANCE)
    retired_region = RegionFactory(slug="old-1", is_active=False)
    h100_1 = InstanceTypeFactory(slug="h100-1x", gpu_model="H100", gpu_count=1)
    h100_8 = InstanceTypeFactory(slug="h100-8x", gpu_model="H100", gpu_count=8)
    l40s_1 = InstanceTypeFactory(slug="l40s-1x", gpu_model="L40S", gpu_count=1)
    retired = InstanceTypeFactory(slug="v100-1x", gpu_model="V100", is_active=False)
    only_in_maintenance = InstanceTypeFactory(slug="a100-1x", gpu_model="A100")
    mapping_off = InstanceTypeFactory(slug="b200-1x", gpu_model="B200")
    never_mapped = InstanceTypeFactory(slug="gh200-1x", gpu_model="GH200")
    RegionInstanceTypeFactory(region=eu, instance_type=h100_1)
    RegionInstanceTypeFactory(region=us, instance_type=h100_1)
    RegionInstanceTypeFactory(region=eu, instance_type=h100_8)
    RegionInstanceTypeFactory(region=us, instance_type=l40s_1)
    RegionInstanceTypeFactory(region=eu, instance_type=retired)
    RegionInstanceTypeFactory(region=maintenance, instance_type=only_in_maintenance)
    RegionInstanceTypeFactory(region=retired_region, instance_type=only_in_maintenance)
    RegionInstanceTypeFactory(region=eu, instance_type=mapping_off, is_active=False)
    del never_mapped
    jammy = ImageFactory(slug="ubuntu-22.04")
    noble = ImageFactory(slug="ubuntu-24.04")
    ImageFactory(slug="windows-2022", os_family="windows", login_user="Admin")
    RegionImageFactory(region=eu, image=jammy)
    RegionImageFactory(region=us, image=noble)
    ssd = StorageProfileFactory(slug="ssd")
    hdd = StorageProfileFactory(slug="hdd")
    RegionStorageProfileFactory(region=eu, storage_profile=ssd)
    RegionStorageProfileFactory(region=us, storage_profile=ssd)
    RegionStorageProfileFactory(region=eu, storage_profile=hdd, is_active=False)
    return {"eu": eu, "us": us}


# --- regions ------------------------------------------------------------------------


def test_regions_are_public_and_customers_see_active_ones_with_their_status(api_client, catalog):
    response = api_client.get("/api/v1/catalog/regions")

    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [
            {"slug": "ap-1", "name": "Test region 2", "status": "maintenance",
             "available": False, "is_active": True},
            {"slug": "eu-1", "name": "Test region 0", "status": "available",
             "available": True, "is_active": True},
            {"slug": "us-1", "name": "Test region 1", "status": "available",
             "available": True, "is_active": True},
        ],
    }  # fmt: skip


def test_regions_filter_on_availability(api_client, staff_client, catalog):
    assert slugs(api_client.get("/api/v1/catalog/regions?available=true")) == ["eu-1", "us-1"]
    assert slugs(api_client.get("/api/v1/catalog/regions?available=false")) == ["ap-1"]
    assert slugs(staff_client.get("/api/v1/catalog/regions?available=false")) == ["ap-1", "old-1"]


def test_staff_see_retired_regions(staff_client, catalog):
    assert slugs(staff_client.get("/api/v1/catalog/regions")) == ["ap-1", "eu-1", "old-1", "us-1"]


def test_region_detail(api_client, staff_client, catalog):
    assert api_client.get("/api/v1/catalog/regions/eu-1").json()["slug"] == "eu-1"
    assert api_client.get("/api/v1/catalog/regions/old-1").status_code == 404
    assert staff_client.get("/api/v1/catalog/regions/old-1").json()["is_active"] is False


# --- instance types -----------------------------------------------------------------


def test_customers_see_only_offered_instance_types(api_client, catalog):
    response = api_client.get("/api/v1/catalog/instance-types")

    assert slugs(response) == ["h100-1x", "h100-8x", "l40s-1x"]
    first = response.json()["results"][0]
    assert first == {
        "slug": "h100-1x",
        "name": first["name"],
        "gpu_model": "H100",
        "gpu_count": 1,
        "gpu_memory_gb": 80,
        "vcpus": 24,
        "ram_gb": 240,
        "local_disk_gb": 750,
        "currency": "USD",
        "hourly_price": "2.790000",
        "monthly_price": "2036.700000",
        "regions": ["eu-1", "us-1"],
        "available": True,
        "is_active": True,
    }


def test_logged_in_customers_see_the_same_as_visitors(logged_in_client, catalog):
    assert slugs(logged_in_client.get("/api/v1/catalog/instance-types")) == [
        "h100-1x", "h100-8x", "l40s-1x",
    ]  # fmt: skip


def test_staff_see_every_instance_type_with_its_state(staff_client, catalog):
    response = staff_client.get("/api/v1/catalog/instance-types")

    by_slug = {item["slug"]: item for item in response.json()["results"]}
    assert sorted(by_slug) == [
        "a100-1x", "b200-1x", "gh200-1x", "h100-1x", "h100-8x", "l40s-1x", "v100-1x",
    ]  # fmt: skip
    assert (by_slug["v100-1x"]["is_active"], by_slug["v100-1x"]["available"]) == (False, False)
    assert (by_slug["a100-1x"]["regions"], by_slug["a100-1x"]["available"]) == ([], False)
    assert by_slug["b200-1x"]["available"] is False


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("region=eu-1", ["h100-1x", "h100-8x"]),
        ("region=us-1", ["h100-1x", "l40s-1x"]),
        ("region=ap-1", []),
        ("region=nowhere", []),
        ("gpu_model=h100", ["h100-1x", "h100-8x"]),
        ("gpu_model=L40S", ["l40s-1x"]),
        ("gpu_count=8", ["h100-8x"]),
        ("gpu_count=1&region=us-1", ["h100-1x", "l40s-1x"]),
        ("gpu_model=H100&gpu_count=1&region=us-1", ["h100-1x"]),
        ("available=true", ["h100-1x", "h100-8x", "l40s-1x"]),
        ("available=false", []),
    ],
)
def test_instance_type_filters_for_customers(api_client, catalog, query, expected):
    assert slugs(api_client.get(f"/api/v1/catalog/instance-types?{query}")) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("available=false", ["a100-1x", "b200-1x", "gh200-1x", "v100-1x"]),
        ("region=ap-1", ["a100-1x"]),
        ("region=eu-1", ["b200-1x", "h100-1x", "h100-8x", "v100-1x"]),
        ("region=eu-1&available=true", ["h100-1x", "h100-8x"]),
    ],
)
def test_instance_type_filters_for_staff(staff_client, catalog, query, expected):
    assert slugs(staff_client.get(f"/api/v1/catalog/instance-types?{query}")) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("gpu_count=many", "gpu_count"),
        ("gpu_count=0", "gpu_count"),
        ("available=perhaps", "available"),
    ],
)
def test_invalid_filters_are_a_validation_problem(api_client, catalog, query, field):
    response = api_client.get(f"/api/v1/catalog/instance-types?{query}")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "validation_failed"
    assert list(response.json()["errors"]) == [field]


def test_instance_type_detail_hides_what_is_not_offered_from_customers(
    api_client, staff_client, catalog
):
    assert api_client.get("/api/v1/catalog/instance-types/h100-8x").json()["regions"] == ["eu-1"]
    for slug in ["v100-1x", "a100-1x", "b200-1x", "gh200-1x", "no-such-type"]:
        response = api_client.get(f"/api/v1/catalog/instance-types/{slug}")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert staff_client.get("/api/v1/catalog/instance-types/v100-1x").status_code == 200


def test_instance_types_page_with_a_cursor(api_client, catalog):
    first = api_client.get("/api/v1/catalog/instance-types?limit=2").json()
    second = api_client.get(first["next"]).json()

    assert [item["slug"] for item in first["results"]] == ["h100-1x", "h100-8x"]
    assert [item["slug"] for item in second["results"]] == ["l40s-1x"]
    assert second["next"] is None


def test_instance_type_list_query_count_does_not_grow_with_the_catalog(
    api_client, catalog, django_assert_num_queries
):
    # One query for the page, one for the offered regions of all rows on it.
    with django_assert_num_queries(2):
        assert len(slugs(api_client.get("/api/v1/catalog/instance-types"))) == 3
    for number in range(10):
        RegionInstanceTypeFactory(region=catalog["eu"], instance_type__slug=f"extra-{number}")

    with django_assert_num_queries(2):
        assert len(slugs(api_client.get("/api/v1/catalog/instance-types?region=eu-1"))) == 12


@pytest.mark.parametrize(
    ("path", "queries"),
    [
        ("/api/v1/catalog/regions", 1),
        ("/api/v1/catalog/images", 2),
        ("/api/v1/catalog/storage-profiles", 2),
        ("/api/v1/catalog/offers", 4),
    ],
)
def test_list_query_counts(api_client, catalog, django_assert_num_queries, path, queries):
    with django_assert_num_queries(queries):
        assert api_client.get(path).status_code == 200


# --- images and storage profiles -----------------------------------------------------


def test_images_list_and_filters(api_client, staff_client, catalog):
    assert slugs(api_client.get("/api/v1/catalog/images")) == ["ubuntu-22.04", "ubuntu-24.04"]
    assert slugs(api_client.get("/api/v1/catalog/images?region=us-1")) == ["ubuntu-24.04"]
    assert slugs(api_client.get("/api/v1/catalog/images?os_family=windows")) == []
    assert slugs(staff_client.get("/api/v1/catalog/images?os_family=windows")) == ["windows-2022"]
    image = api_client.get("/api/v1/catalog/images/ubuntu-24.04").json()
    assert image == {
        "slug": "ubuntu-24.04",
        "name": image["name"],
        "os_family": "linux",
        "os_version": "24.04",
        "login_user": "ubuntu",
        "cuda_version": "12.8",
        "driver_version": "570.172.08",
        "regions": ["us-1"],
        "available": True,
        "is_active": True,
    }


def test_storage_profiles_list_and_filters(api_client, staff_client, catalog):
    assert slugs(api_client.get("/api/v1/catalog/storage-profiles")) == ["ssd"]
    assert slugs(api_client.get("/api/v1/catalog/storage-profiles?region=eu-1")) == ["ssd"]
    assert slugs(staff_client.get("/api/v1/catalog/storage-profiles?available=false")) == ["hdd"]
    profile = api_client.get("/api/v1/catalog/storage-profiles/ssd").json()
    assert profile == {
        "slug": "ssd",
        "name": profile["name"],
        "min_size_gb": 10,
        "max_size_gb": 1000,
        "default_size_gb": 100,
        "currency": "USD",
        "price_per_gb_month": "0.100000",
        "price_per_gb_hour": "0.000137",
        "regions": ["eu-1", "us-1"],
        "available": True,
        "is_active": True,
    }


# --- offers -------------------------------------------------------------------------


def test_offers_list_what_can_be_launched_where(api_client, catalog):
    body = api_client.get("/api/v1/catalog/offers").json()

    assert body["hours_per_month"] == 730
    summary = {
        offer["region"]["slug"]: (
            [item["slug"] for item in offer["instance_types"]],
            [item["slug"] for item in offer["images"]],
            [item["slug"] for item in offer["storage_profiles"]],
        )
        for offer in body["results"]
    }
    assert summary == {
        "eu-1": (["h100-1x", "h100-8x"], ["ubuntu-22.04"], ["ssd"]),
        "us-1": (["h100-1x", "l40s-1x"], ["ubuntu-24.04"], ["ssd"]),
    }
    type_offer = body["results"][0]["instance_types"][0]
    assert (type_offer["hourly_price"], type_offer["monthly_price"]) == ("2.790000", "2036.700000")
    assert body["results"][0]["storage_profiles"][0]["price_per_gb_month"] == "0.100000"


def test_offers_for_one_region(api_client, catalog):
    body = api_client.get("/api/v1/catalog/offers?region=us-1").json()

    assert [offer["region"]["slug"] for offer in body["results"]] == ["us-1"]
    assert api_client.get("/api/v1/catalog/offers?region=ap-1").json()["results"] == []


def test_seeded_offers(api_client, seeded):
    body = api_client.get("/api/v1/catalog/offers").json()

    counts = {
        offer["region"]["slug"]: (len(offer["instance_types"]), len(offer["storage_profiles"]))
        for offer in body["results"]
    }
    assert counts == {"eu-central-1": (12, 2), "us-east-1": (8, 1)}


def test_a_cached_page_never_carries_another_callers_parameters(api_client, catalog):
    """The cache once keyed on the parameters it read: whoever came first with an extra
    parameter decided the `next` link every later caller got."""
    api_client.get("/api/v1/catalog/instance-types?limit=2&utm_source=someone-else")

    page = api_client.get("/api/v1/catalog/instance-types?limit=2").json()

    assert "utm_source" not in page["next"]
