"""Readiness of the OpenStack regions the portal is configured for.

Registered in READINESS_CHECKS only when OPENSTACK_CLOUDS_YAML is set: a portal with no
cloud configured has nothing to check.
"""

from heat.adapter import configured_regions, region_check
from heat.exceptions import OpenStackError


def check_regions() -> None:
    failing = []
    for region in configured_regions():
        try:
            region_check(region)
        except OpenStackError as error:
            failing.append(f"{region} ({error.code}: {error.cloud_message or error.detail})")
    if failing:
        raise RuntimeError(f"OpenStack regions failing: {'; '.join(failing)}")
