"""Readiness of the OpenStack regions the portal is configured for.

Registered in READINESS_CHECKS only when OPENSTACK_CLOUDS_YAML is set: a portal with no
cloud configured has nothing to check.
"""

import logging

from cloudportal.health import ReadinessFailure
from heat.adapter import configured_regions, region_check
from heat.exceptions import OpenStackError

logger = logging.getLogger(__name__)


def check_regions() -> None:
    failing = []
    for region in configured_regions():
        try:
            region_check(region)
        except OpenStackError as error:
            # The cloud's own words are for staff (the log), not for the public /readyz.
            logger.warning(
                "health.region_failed",
                extra={"region": str(region), "error": error.cloud_message or error.detail},
            )
            failing.append(f"{region} ({error.code})")
    if failing:
        raise ReadinessFailure(f"OpenStack regions failing: {'; '.join(failing)}")
