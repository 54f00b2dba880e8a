"""The launch page's price box says what storage is made of, and keeps it live."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_storage_line_names_the_system_disk_and_follows_the_data_volume(
    session_cookies, browser_page, live_server
):
    page = browser_page
    page.context.add_cookies(session_cookies)
    page.goto(f"{live_server.url}/deployments/new/")
    page.select_option("select[name=region]", "eu-central-1")
    page.select_option("select[name=instance_type]", "h100-1x")
    storage_line = page.locator("#storage-sizes")
    storage_hourly = page.locator('[data-price="storage_hourly"]')

    page.select_option("select[name=storage_profile]", "")
    # (innerText: what a reader sees; the hidden "+ N GB data" part is left out)
    expect(storage_line).to_have_text("Storage: 100 GB system disk", use_inner_text=True)
    # 100 GB x 0.10 / 730 h = 0.013699/h: storage is not free without a data volume.
    assert storage_hourly.inner_text() == "0.01"

    page.select_option("select[name=storage_profile]", "nvme-ssd")
    page.fill("input[name=volume_size_gb]", "250")
    expect(storage_line).to_have_text(
        "Storage: 100 GB system disk + 250 GB data", use_inner_text=True
    )
    # (100 + 250) GB x 0.10 / 730 h = 0.047945/h
    page.locator('#price-box[data-state="ready"]').wait_for()
    assert storage_hourly.inner_text() == "0.05"
    assert storage_line.is_visible()
