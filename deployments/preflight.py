"""An operator's preflight against a real cloud (`manage.py cloud_check`): read-only.

For each catalog region it proves, with the portal's own credentials and code paths:
the clouds.yaml names the region, Keystone authenticates, Heat answers; every library
template renders with every instance type and image the region offers and Heat accepts
the result (a stack preview runs every check of a create, custom constraints included,
so a flavor, image or network that does not exist is named); how many stacks the
project holds against Heat's max_stacks_per_tenant; and Nova's quota headroom when the
catalog has a compute service. Nothing is created.
"""

import logging
from dataclasses import dataclass, field

from django.conf import settings

from catalog import selectors as catalog_selectors
from catalog.models import Region
from deployments.reconciler import region_ref
from heat import adapter
from heat.exceptions import OpenStackError
from heat.rendering import TEMPLATE_BY_OS_FAMILY, TemplateRenderError, stack_render

logger = logging.getLogger(__name__)

# A well-formed key: the preview checks values, and cloud-init is never run.
PREFLIGHT_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1DljUGt/7ZfuQ0Hh3lcqsYJ6c2k3v8mM3k9qzWmH2x cloud-check"
)
PREFLIGHT_STACK_NAME = "cloud-check-preview"
LOW_HEADROOM = 0.1  # warn when less than a tenth of a limit is left


@dataclass
class RegionCheck:
    region: str  # the catalog region's slug
    cloud_region: str  # cloud/region in clouds.yaml
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    previews: int = 0  # template + mapping combinations Heat accepted


def _cloud_message(error: OpenStackError) -> str:
    return error.cloud_message or error.detail or type(error).__name__


def cloud_check(*, region: str | None = None) -> list[RegionCheck]:
    """One report per active catalog region (or the one named); read-only."""
    regions = Region.objects.filter(is_active=True).order_by("slug")
    if region is not None:
        regions = regions.filter(slug=region)
    configured = set(adapter.configured_regions())
    return [_region_check(row, configured) for row in regions]


def _region_check(region: Region, configured: set[adapter.RegionRef]) -> RegionCheck:
    ref = region_ref(region)
    check = RegionCheck(region=region.slug, cloud_region=str(ref))
    if ref not in configured:
        check.problems.append(
            f"clouds.yaml has no cloud {ref.cloud!r} with region {ref.region!r} "
            f"(catalog region {region.slug})."
        )
        return check
    try:
        adapter.region_check(ref)
    except OpenStackError as error:
        check.problems.append(f"Cannot authenticate or reach Heat: {_cloud_message(error)}")
        return check
    check.notes.append("Keystone authenticated the service user; Heat answered.")
    _previews(region, ref, check)
    _stack_headroom(ref, check)
    _compute_headroom(ref, check)
    return check


def _previews(region: Region, ref: adapter.RegionRef, check: RegionCheck) -> None:
    offers = catalog_selectors.offer_list(region=region.slug)
    if not offers or not offers[0].instance_types or not offers[0].images:
        check.problems.append(
            f"Region {region.slug} offers no instance type or no image (or is in maintenance)."
        )
        return
    offer = offers[0]
    images = [image for image in offer.images if image.os_family in TEMPLATE_BY_OS_FAMILY]
    if not images:
        check.problems.append("No offered image has a template in the library.")
        return
    # Every flavor with one image, and every image (so every template) with one flavor.
    pairs = {(instance_type.slug, images[0].slug) for instance_type in offer.instance_types}
    pairs |= {(offer.instance_types[0].slug, image.slug) for image in images}
    for instance_type, image in sorted(pairs):
        spec = catalog_selectors.deployment_spec_resolve(
            region=region.slug, instance_type=instance_type, image=image
        )
        label = f"{instance_type} (flavor {spec.flavor}) with {image} (image {spec.glance_image})"
        try:
            rendered = stack_render(
                spec.server_spec(
                    name="cloud-check",
                    ssh_public_keys=(PREFLIGHT_KEY,),
                    tags=(settings.OPENSTACK_STACK_TAG,),
                )
            )
            adapter.stack_preview(
                region=ref,
                name=PREFLIGHT_STACK_NAME,
                template=rendered.template,
                parameters=rendered.parameters.as_dict(),
            )
        except TemplateRenderError as error:
            check.problems.append(f"{label}: the template does not render: {error}")
        except OpenStackError as error:
            check.problems.append(f"{label}: Heat refused it: {_cloud_message(error)}")
        else:
            check.previews += 1
    check.notes.append(f"Heat accepted {check.previews} of {len(pairs)} template/mapping checks.")


def _stack_headroom(ref: adapter.RegionRef, check: RegionCheck) -> None:
    limit = settings.OPENSTACK_MAX_STACKS_PER_PROJECT
    try:
        count = adapter.stacks_count(region=ref)
    except OpenStackError as error:
        check.problems.append(f"Cannot count the project's stacks: {_cloud_message(error)}")
        return
    check.notes.append(f"Stacks: {count} of {limit} (Heat's max_stacks_per_tenant).")
    if count >= limit:
        check.problems.append(
            f"The project holds {count} stacks, Heat's limit is {limit}: creates will fail."
        )
    elif limit - count < limit * LOW_HEADROOM:
        check.problems.append(f"Only {limit - count} stacks left before Heat's limit of {limit}.")


def _compute_headroom(ref: adapter.RegionRef, check: RegionCheck) -> None:
    try:
        limits = adapter.compute_limits(region=ref)
    except OpenStackError as error:
        check.problems.append(f"Cannot read Nova's limits: {_cloud_message(error)}")
        return
    if limits is None:
        check.notes.append("No compute service in the catalog: quota headroom not checked.")
        return
    for name, (used, maximum) in limits.items():
        if maximum < 0:
            check.notes.append(f"Nova {name}: {used} used, unlimited.")
            continue
        check.notes.append(f"Nova {name}: {used} of {maximum} used.")
        if maximum - used <= maximum * LOW_HEADROOM:
            check.problems.append(f"Nova {name} quota nearly used up: {used} of {maximum}.")
