"""POST /api/v1/catalog/quote prices a configuration or says, per field, what is offered."""

from decimal import Decimal

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from catalog.models import Region

pytestmark = pytest.mark.django_db

QUOTE = "/api/v1/catalog/quote"


def quote(client, **overrides):
    body = {
        "region": "eu-central-1",
        "instance_type": "h100-1x",
        "image": "ubuntu-24.04-cuda-12.8",
        "storage_profile": "nvme-ssd",
        "size_gb": 250,
        **overrides,
    }
    return client.post(QUOTE, {key: value for key, value in body.items() if value is not ...})


def test_quote_with_a_data_volume(api_client, seeded):
    response = quote(api_client)

    assert response.status_code == 200
    assert response.json() == {
        "region": "eu-central-1",
        "instance_type": "h100-1x",
        "image": "ubuntu-24.04-cuda-12.8",
        "storage_profile": "nvme-ssd",
        "size_gb": 250,
        "currency": "USD",
        "hours_per_month": 730,
        # 2.790000 + 0.047945
        "hourly_price": "2.837945",
        # 2036.70 + 35.00
        "monthly_price": "2071.700000",
        "breakdown": {
            # 2.79/h x 730 h
            "compute": {"hourly_price": "2.790000", "monthly_price": "2036.700000"},
            # 100 GB system disk x 0.10 + 250 GB x 0.10/GB-month = 35.00/month;
            # / 730 h = 0.0479452.. -> 0.047945/h
            "storage": {
                "hourly_price": "0.047945",
                "monthly_price": "35.000000",
                "system_disk_gb": 100,
                "data_volume_gb": 250,
            },
        },
    }


def test_quote_without_a_data_volume_prices_the_system_disk(api_client, seeded):
    response = quote(api_client, instance_type="l40s-8x", storage_profile=..., size_gb=...)

    body = response.json()
    assert (body["storage_profile"], body["size_gb"]) == (None, 0)
    # 100 GB x 0.10/GB-month = 10.00/month; / 730 h = 0.01369863.. -> 0.013699/h
    assert body["breakdown"]["storage"] == {
        "hourly_price": "0.013699",
        "monthly_price": "10.000000",
        "system_disk_gb": 100,
        "data_volume_gb": 0,
    }
    # 8.16/h compute + 0.013699/h; 5956.80 + 10.00 a month
    assert (body["hourly_price"], body["monthly_price"]) == ("8.173699", "5966.800000")


@override_settings(SYSTEM_DISK_GB=40, SYSTEM_DISK_PRICE_PER_GB_MONTH=Decimal("0.25"))
def test_quote_takes_the_system_disk_size_and_price_from_the_settings(api_client, seeded):
    storage = quote(api_client, size_gb=60).json()["breakdown"]["storage"]

    # 40 GB x 0.25 + 60 GB x 0.10 = 16.00/month; / 730 h = 0.02191780.. -> 0.021918/h
    assert storage == {
        "hourly_price": "0.021918",
        "monthly_price": "16.000000",
        "system_disk_gb": 40,
        "data_volume_gb": 60,
    }


def test_quote_defaults_the_size_to_the_profile_default(api_client, seeded):
    body = quote(api_client, storage_profile="standard-hdd", size_gb=None).json()

    assert body["size_gb"] == 500
    # 100 GB x 0.10 (system disk) + 500 GB x 0.04 (standard-hdd)
    assert body["breakdown"]["storage"]["monthly_price"] == "30.000000"
    assert body["breakdown"]["storage"]["data_volume_gb"] == 500


def test_quote_is_open_to_visitors_and_customers_alike(logged_in_client, seeded):
    # Two clients: the `api_client` fixture is the very object `logged_in_client` logs in.
    visitor = APIClient()
    as_visitor, as_customer = quote(visitor), quote(logged_in_client)
    assert as_visitor.status_code == as_customer.status_code == 200
    assert as_visitor.json() == as_customer.json()


def assert_not_offered(response, errors):
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "catalog_choice_not_offered"
    assert body["errors"] == errors
    return body


def test_quote_names_every_choice_not_offered_in_the_region_and_what_is(api_client, seeded):
    response = quote(
        api_client,
        region="us-east-1",
        instance_type="a100-1x",
        image="windows-2022",
        storage_profile="standard-hdd",
    )

    body = assert_not_offered(
        response,
        {
            "instance_type": [
                "Instance type 'a100-1x' is not offered in region 'us-east-1'. Offered there: "
                "h100-1x, h100-2x, h100-4x, h100-8x, l40s-1x, l40s-2x, l40s-4x, l40s-8x."
            ],
            "image": [
                "Image 'windows-2022' is not offered in region 'us-east-1'. Offered there: "
                "ubuntu-22.04-cuda-12.4, ubuntu-24.04-cuda-12.8."
            ],
            "storage_profile": [
                "Storage profile 'standard-hdd' is not offered in region 'us-east-1'. "
                "Offered there: nvme-ssd."
            ],
        },
    )
    assert body["detail"] == "Not offered: image, instance_type, storage_profile."


def test_quote_refuses_an_unknown_region(api_client, seeded):
    assert_not_offered(
        quote(api_client, region="mars-1"),
        {"region": ["Region 'mars-1' is not offered. Available regions: eu-central-1, us-east-1."]},
    )


def test_quote_refuses_a_region_in_maintenance(api_client, seeded):
    Region.objects.filter(slug="us-east-1").update(status=Region.Status.MAINTENANCE)

    assert_not_offered(
        quote(api_client, region="us-east-1"),
        {"region": ["Region 'us-east-1' is in maintenance. Available regions: eu-central-1."]},
    )


@pytest.mark.parametrize(
    ("size_gb", "message"),
    [
        (5, "Storage profile 'nvme-ssd' takes 10 to 16384 GB, not 5."),
        (20000, "Storage profile 'nvme-ssd' takes 10 to 16384 GB, not 20000."),
        (0, "Storage profile 'nvme-ssd' takes 10 to 16384 GB, not 0."),
    ],
)
def test_quote_refuses_a_size_outside_the_profile(api_client, seeded, size_gb, message):
    assert_not_offered(quote(api_client, size_gb=size_gb), {"size_gb": [message]})


def test_quote_refuses_a_size_without_a_storage_profile(api_client, seeded):
    assert_not_offered(
        quote(api_client, storage_profile=None, size_gb=100),
        {"size_gb": ["A data volume size needs a storage profile."]},
    )


def test_quote_input_is_validated_before_the_catalog(api_client, seeded):
    response = api_client.post(QUOTE, {"region": "eu-central-1", "size_gb": -1})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["errors"] == {
        "instance_type": ["This field is required."],
        "image": ["This field is required."],
        "size_gb": ["Ensure this value is greater than or equal to 0."],
    }
