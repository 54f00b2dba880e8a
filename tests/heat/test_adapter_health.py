"""/readyz checks every configured OpenStack region when a clouds.yaml is configured."""

import pytest

from heat.devcloud.clouds_yaml import write_clouds_yaml


@pytest.fixture
def openstack_readiness(settings):
    settings.READINESS_CHECKS = {
        **settings.READINESS_CHECKS,
        "openstack": "heat.health.check_regions",
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("cloud", "openstack_readiness")
def test_readyz_is_200_when_every_region_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["openstack"]["status"] == "ok"


@pytest.mark.django_db
@pytest.mark.usefixtures("cloud", "openstack_readiness")
def test_readyz_is_503_naming_the_failing_regions(client, settings, tmp_path, unused_tcp_port):
    down = write_clouds_yaml(tmp_path / "clouds.yaml", f"http://127.0.0.1:{unused_tcp_port}")
    settings.OPENSTACK_CLOUDS_YAML = str(down)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["openstack"]
    error = body["checks"]["openstack"]["error"]
    assert "devcloud/RegionOne (cloud_unavailable" in error
    assert "devcloud/RegionTwo (cloud_unavailable" in error
    assert str(unused_tcp_port) not in error  # the cloud's own words stay in the log


def test_no_configured_cloud_means_no_openstack_check(settings):
    from heat.adapter import configured_regions

    settings.OPENSTACK_CLOUDS_YAML = ""

    assert configured_regions() == ()
