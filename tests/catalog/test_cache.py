"""Catalog reads are cached in Redis and go stale the moment staff change the catalog."""

from decimal import Decimal

import pytest
from django.core.cache import cache

from catalog.models import InstanceType, Region
from catalog.selectors import CACHE_VERSION_KEY
from catalog.services import catalog_seed

pytestmark = pytest.mark.django_db

TYPES = "/api/v1/catalog/instance-types"


def h100_price(client):
    return client.get(f"{TYPES}/h100-1x").json()["hourly_price"]


def test_a_repeated_read_is_served_from_the_cache(api_client, seeded, django_assert_num_queries):
    with django_assert_num_queries(2 + 4):
        types = api_client.get(TYPES).json()
        offers = api_client.get("/api/v1/catalog/offers").json()

    with django_assert_num_queries(0):
        assert api_client.get(TYPES).json() == types
        assert api_client.get("/api/v1/catalog/offers").json() == offers


def test_the_cache_keeps_audiences_and_filters_apart(api_client, staff_client, seeded):
    InstanceType.objects.filter(slug="a100-8x").update(is_active=False)

    assert len(api_client.get(TYPES).json()["results"]) == 11
    assert len(staff_client.get(TYPES).json()["results"]) == 12
    assert len(api_client.get(f"{TYPES}?gpu_model=A100").json()["results"]) == 3


def test_a_direct_database_write_is_not_seen_until_invalidation(api_client, seeded):
    assert h100_price(api_client) == "2.790000"
    InstanceType.objects.filter(slug="h100-1x").update(hourly_price=Decimal("1.99"))

    # Only writes through catalog.services invalidate: this one bypassed them.
    assert h100_price(api_client) == "2.790000"


def test_the_cache_version_survives_being_evicted(api_client, seeded):
    h100_price(api_client)
    cache.delete(CACHE_VERSION_KEY)
    InstanceType.objects.filter(slug="h100-1x").update(hourly_price=Decimal("1.99"))

    assert h100_price(api_client) == "1.990000"


def test_admin_change_invalidates_the_cached_reads(
    api_client, admin_client, seeded, django_capture_on_commit_callbacks
):
    assert h100_price(api_client) == "2.790000"
    h100 = InstanceType.objects.get(slug="h100-1x")
    url = f"/admin/catalog/instancetype/{h100.pk}/change/"
    data = change_form_data(admin_client.get(url))
    data["hourly_price"] = "2.4900"

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert h100_price(api_client) == "2.490000"


def test_admin_inline_mapping_change_invalidates_the_cached_reads(
    api_client, admin_client, seeded, django_capture_on_commit_callbacks
):
    assert api_client.get(f"{TYPES}/h100-1x").json()["regions"] == ["eu-central-1", "us-east-1"]
    h100 = InstanceType.objects.get(slug="h100-1x")
    url = f"/admin/catalog/instancetype/{h100.pk}/change/"
    data = change_form_data(admin_client.get(url))
    [us_row] = [key for key, value in data.items() if key.endswith("-region") and value == us_pk()]
    data.pop(us_row.replace("-region", "-is_active"))  # untick "offered in this region"

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)

    assert response.status_code == 302
    assert api_client.get(f"{TYPES}/h100-1x").json()["regions"] == ["eu-central-1"]


def test_admin_retire_action_invalidates_the_cached_reads(
    api_client, admin_client, seeded, django_capture_on_commit_callbacks
):
    assert api_client.get(f"{TYPES}/h100-1x").status_code == 200
    h100 = InstanceType.objects.get(slug="h100-1x")

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/catalog/instancetype/", {"action": "retire", "_selected_action": [h100.pk]}
        )

    assert api_client.get(f"{TYPES}/h100-1x").status_code == 404


def test_a_seed_that_changes_something_invalidates(
    api_client, seeded, django_capture_on_commit_callbacks
):
    assert h100_price(api_client) == "2.790000"
    InstanceType.objects.filter(slug="h100-1x").update(hourly_price=Decimal("1.99"))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        catalog_seed(data={"regions": []})  # nothing changes: nothing to invalidate
    assert callbacks == []
    assert h100_price(api_client) == "2.790000"

    with django_capture_on_commit_callbacks(execute=True):
        catalog_seed(data={"regions": [{**region_entry(), "name": "Frankfurt am Main"}]})
    assert h100_price(api_client) == "1.990000"


def region_entry():
    return {
        "slug": "eu-central-1",
        "name": "Frankfurt",
        "cloud": "devcloud",
        "region_name": "RegionOne",
        "status": "available",
        "network": "private",
        "external_network": "public",
    }


def us_pk():
    return str(Region.objects.get(slug="us-east-1").pk)


def change_form_data(response):
    """The POST body the admin change form would send back unchanged."""
    assert response.status_code == 200
    data = {}

    def add(form, prefix_name):
        for name, field in form.fields.items():
            value = form.initial.get(name, field.initial)
            key = prefix_name(name)
            if value is True:
                data[key] = "on"
            elif value is None or value is False:
                continue
            else:
                data[key] = str(getattr(value, "pk", value))

    add(response.context["adminform"].form, lambda name: name)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = str(value)
        for form in formset.forms:
            add(form, form.add_prefix)
    return data


def test_an_edit_is_kept_when_redis_is_down_at_invalidation(
    seeded, settings, unused_tcp_port, django_capture_on_commit_callbacks
):
    """Invalidation runs after the commit: a Redis outage then is logged, not raised into
    the staff member's request as a 500 about an edit that did happen."""
    from catalog.services import catalog_cache_invalidate

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{unused_tcp_port}/0",
        }
    }
    region = Region.objects.order_by("slug").first()
    with django_capture_on_commit_callbacks(execute=True):
        Region.objects.filter(pk=region.pk).update(name="Renamed")
        catalog_cache_invalidate()

    assert Region.objects.get(pk=region.pk).name == "Renamed"
