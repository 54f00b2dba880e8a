"""`manage.py cloud_check`: the operator's preflight, against devcloud."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Region, RegionInstanceType
from catalog.selectors import offer_list
from heat import adapter

pytestmark = pytest.mark.django_db


def run(*arguments: str) -> str:
    out = StringIO()
    call_command("cloud_check", *arguments, stdout=out)
    return out.getvalue()


def region_catalog(devcloud, **kinds) -> None:
    devcloud.control("POST", "catalog", {"regions": {"RegionOne": kinds}})


def offered_flavors() -> list[str]:
    return sorted(
        RegionInstanceType.objects.filter(region__slug="eu-central-1").values_list(
            "flavor", flat=True
        )
    )


def test_a_ready_region_passes_and_says_what_was_proved(catalog, cloud, devcloud):
    region_catalog(
        devcloud,
        flavors=offered_flavors(),
        networks=["private", "public"],
    )

    output = run("--region", "eu-central-1")

    offer = offer_list(region="eu-central-1")[0]
    # Every flavor with one image and every image with one flavor: T + I - 1 previews.
    checks = len(offer.instance_types) + len(offer.images) - 1
    assert "eu-central-1 (devcloud/RegionOne)" in output
    assert "ok: Keystone authenticated the service user; Heat answered." in output
    assert f"ok: Heat accepted {checks} of {checks} template/mapping checks." in output
    assert "ok: Stacks: 0 of 512 (Heat's max_stacks_per_tenant)." in output
    assert "ok: No compute service in the catalog: quota headroom not checked." in output
    assert "The cloud is ready for the portal." in output
    creates = [entry for entry in devcloud.requests("POST") if entry["path"].endswith("/stacks")]
    assert creates == []  # previews only: nothing was made


def test_a_missing_flavor_and_a_full_project_are_listed_plainly(catalog, cloud, devcloud, settings):
    flavors = offered_flavors()
    missing = flavors[-1]  # not the flavor the images are checked with
    region_catalog(devcloud, flavors=flavors[:-1], networks=["private", "public"])
    settings.OPENSTACK_MAX_STACKS_PER_PROJECT = 1
    adapter.stack_create(
        region=cloud,
        name="somebody-else",
        template="heat_template_version: 2021-04-16\nresources: {}\n",
        parameters={},
        tags=[],
        timeout_minutes=5,
    )

    with pytest.raises(CommandError) as raised:
        run("--region", "eu-central-1")

    lines = str(raised.value).splitlines()
    assert lines[0] == "2 problem(s):"
    assert lines[1].startswith("- eu-central-1: ")
    assert f"(flavor {missing})" in lines[1]
    assert lines[1].endswith(
        f"Heat refused it: Parameter 'flavor' is invalid: Error validating value "
        f"'{missing}': The Flavor ({missing}) could not be found."
    )
    assert lines[2] == (
        "- eu-central-1: The project holds 1 stacks, Heat's limit is 1: creates will fail."
    )


def test_a_region_clouds_yaml_does_not_name_is_a_problem(catalog, cloud):
    Region.objects.filter(slug="eu-central-1").update(region_name="RegionNine")

    with pytest.raises(CommandError) as raised:
        run("--region", "eu-central-1")

    assert str(raised.value) == (
        "1 problem(s):\n- eu-central-1: clouds.yaml has no cloud 'devcloud' with region "
        "'RegionNine' (catalog region eu-central-1)."
    )
