"""What the catalog says must exist in each region of a cloud (devcloud's --catalog)."""

from io import StringIO

import pytest
import yaml
from django.core.management import call_command

from catalog.selectors import cloud_names
from catalog.services import catalog_seed_file_load

pytestmark = pytest.mark.django_db


def test_each_region_lists_its_flavors_images_and_networks(tmp_path):
    catalog_seed_file_load()
    output = tmp_path / "devcloud-catalog.yaml"

    call_command("devcloud_catalog", "--output", str(output), stdout=StringIO())

    written = yaml.safe_load(output.read_text())
    names = cloud_names(cloud="devcloud")
    assert written == {"regions": names}
    assert sorted(names) == ["RegionOne", "RegionTwo"]
    assert "g1.h100x1" in names["RegionOne"]["flavors"]
    assert names["RegionOne"]["networks"] == ["private", "public"]
    assert names["RegionOne"]["images"]
    assert cloud_names(cloud="elsewhere") == {}
