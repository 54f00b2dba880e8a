"""Turn plain deployment values into a HOT template and its parameters, ready for Heat.

Callers (the deployments app) resolve catalog choices into plain values first
(`catalog.selectors.deployment_spec_resolve`) and hand them in as a `ServerSpec`; this
module imports no domain app. `stack_render` returns the template text, the parameters
as a frozen dataclass and the stack tags; nothing here calls OpenStack.
"""

import json
import re
from dataclasses import asdict, dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
# One template per image OS family; Windows joins with its own template.
TEMPLATE_BY_OS_FAMILY: dict[str, str] = {"linux": "linux-gpu-vm.yaml"}
MAX_VOLUME_SIZE_GB = 16384

# The template's server_state values: a stopped stack has no server, only its volumes.
SERVER_RUNNING = "running"
SERVER_STOPPED = "stopped"

_HOSTNAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class TemplateRenderError(ValueError):
    """The values cannot make a valid stack (a caller bug: the catalog checks choices first)."""


class _HotLoader(yaml.SafeLoader):
    """YAML as Heat reads it: `2021-04-16` stays a string, not a date."""


_HotLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def hot_parse(text: str) -> Any:
    """Parse HOT text the way Heat does (timestamps stay strings)."""
    return yaml.load(text, Loader=_HotLoader)  # noqa: S506 - a SafeLoader subclass


@cache
def template_text(template_name: str) -> str:
    """The text of one library template, e.g. `linux-gpu-vm.yaml`."""
    path = TEMPLATES_DIR / template_name
    if path.parent != TEMPLATES_DIR or not path.is_file():
        raise TemplateRenderError(f"There is no template {template_name!r} in the library.")
    return path.read_text(encoding="utf-8")


@cache
def template_resource_names(template_name: str) -> frozenset[str]:
    """The top-level resources a library template declares: what a stack of it has to
    create, hence the denominator of a provisioning progress count."""
    return frozenset((hot_parse(template_text(template_name)).get("resources") or {}).keys())


def template_names() -> list[str]:
    return sorted(path.name for path in TEMPLATES_DIR.glob("*.yaml"))


@dataclass(frozen=True)
class ServerSpec:
    """Everything one GPU VM stack needs, as plain values."""

    name: str  # server name and hostname: an RFC 1123 label
    flavor: str  # Nova flavor
    image: str  # Glance image name or id
    login_user: str
    ssh_public_keys: tuple[str, ...]
    private_network: str
    public_network: str
    volume_type: str | None = None  # Cinder volume type; None without a volume
    volume_size_gb: int = 0  # 0 = no data volume
    # The system disk, a volume made from the image (at least the image's min_disk); it
    # outlives the server across stop and start. The flavor's local disk is not it.
    # Deployments pass `settings.SYSTEM_DISK_GB` (the size they are priced for); this
    # default is the same setting's default.
    system_volume_size_gb: int = 100
    os_family: str = "linux"
    tags: tuple[str, ...] = ()  # stack tags (portal, customer, deployment)


@dataclass(frozen=True)
class StackParameters:
    """The template's parameters, one field each; the test suite checks the templates match."""

    name: str
    flavor: str
    image: str
    login_user: str
    ssh_authorized_keys: str
    private_network: str
    public_network: str
    volume_type: str
    volume_size: int
    system_volume_size: int
    server_state: str = SERVER_RUNNING

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stack_parameter_names() -> frozenset[str]:
    """The parameter names the renderer passes: every template declares exactly these."""
    return frozenset(field.name for field in fields(StackParameters))


@dataclass(frozen=True)
class RenderedStack:
    template_name: str
    template: str  # HOT text, sent to Heat as is
    parameters: StackParameters
    tags: tuple[str, ...]

    @property
    def tags_csv(self) -> str:
        """Heat parses stack tags as one comma-separated string (heat-protocol.md §1.1)."""
        return ",".join(self.tags)

    def template_document(self) -> dict[str, Any]:
        """The template as a JSON-ready dict, for clients that send a document."""
        document = hot_parse(self.template)
        assert isinstance(document, dict)
        return document


def _spec_check(spec: ServerSpec) -> None:
    if spec.os_family not in TEMPLATE_BY_OS_FAMILY:
        raise TemplateRenderError(f"No template for OS family {spec.os_family!r} yet.")
    if not _HOSTNAME.fullmatch(spec.name):
        raise TemplateRenderError(f"{spec.name!r} is not a valid hostname label.")
    for label, value in [
        ("flavor", spec.flavor),
        ("image", spec.image),
        ("login_user", spec.login_user),
        ("private_network", spec.private_network),
        ("public_network", spec.public_network),
    ]:
        if not value.strip():
            raise TemplateRenderError(f"{label} is empty.")
    if not spec.ssh_public_keys:
        raise TemplateRenderError("At least one SSH public key is needed to log in.")
    for key in spec.ssh_public_keys:
        if not key.strip() or "\n" in key or "\r" in key:
            raise TemplateRenderError("An SSH public key must be one non-empty line.")
    if not 0 <= spec.volume_size_gb <= MAX_VOLUME_SIZE_GB:
        raise TemplateRenderError(f"Volume size must be 0..{MAX_VOLUME_SIZE_GB} GB.")
    if not 1 <= spec.system_volume_size_gb <= MAX_VOLUME_SIZE_GB:
        raise TemplateRenderError(f"System volume size must be 1..{MAX_VOLUME_SIZE_GB} GB.")
    if spec.volume_size_gb and not spec.volume_type:
        raise TemplateRenderError("A data volume needs a volume type.")
    if not spec.volume_size_gb and spec.volume_type:
        raise TemplateRenderError("A volume type was given without a volume size.")
    for tag in spec.tags:
        if not tag or "," in tag:
            raise TemplateRenderError(f"Stack tag {tag!r} is empty or has a comma.")


def stack_render(spec: ServerSpec) -> RenderedStack:
    """The template for the spec's OS family and its parameters; raises TemplateRenderError."""
    _spec_check(spec)
    template_name = TEMPLATE_BY_OS_FAMILY[spec.os_family]
    parameters = StackParameters(
        name=spec.name,
        flavor=spec.flavor,
        image=spec.image,
        login_user=spec.login_user,
        # A JSON list is a YAML flow sequence: safe to drop into the cloud-config as is.
        ssh_authorized_keys=json.dumps([key.strip() for key in spec.ssh_public_keys]),
        private_network=spec.private_network,
        public_network=spec.public_network,
        volume_type=spec.volume_type or "",
        volume_size=spec.volume_size_gb,
        system_volume_size=spec.system_volume_size_gb,
    )
    return RenderedStack(
        template_name=template_name,
        template=template_text(template_name),
        parameters=parameters,
        tags=spec.tags,
    )
