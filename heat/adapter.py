"""The OpenStack adapter: typed Heat operations for the portal's services.

Every function takes a `RegionRef` (cloud + region from clouds.yaml), returns frozen
dataclasses from `heat.adapter_types`, and raises only `heat.exceptions` errors. Callers
resolve catalog choices into plain values first: this module knows no domain app.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from keystoneauth1.identity.base import BaseIdentityPlugin
from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection
from openstack.orchestration.v1.stack import Stack as SdkStack

from heat.adapter_connections import configured_regions, token_drop
from heat.adapter_errors import call
from heat.adapter_types import (
    RegionRef,
    ResourceProgress,
    Stack,
    StackEvent,
    StackListing,
    StackOutput,
    StackRef,
    StackResource,
    StackSummary,
)
from heat.exceptions import OpenStackError, StackNotFound
from heat.rendering import hot_parse

__all__ = [
    "RegionRef",
    "ResourceProgress",
    "Stack",
    "StackEvent",
    "StackListing",
    "StackOutput",
    "StackRef",
    "StackResource",
    "StackSummary",
    "compute_limits",
    "configured_regions",
    "region_check",
    "stack_create",
    "stack_delete",
    "stack_events",
    "stack_find",
    "stack_get",
    "stack_preview",
    "stack_resources",
    "stack_resume",
    "stack_suspend",
    "stack_update",
    "stacks_count",
    "stacks_list",
    "stacks_listing",
    "template_validate",
]

HEALTH_TIMEOUT_SECONDS = 2.0

logger = logging.getLogger(__name__)


def _template_dict(template: Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(template, str):
        loaded = hot_parse(template)
        return dict(loaded) if isinstance(loaded, dict) else {"template": loaded}
    return dict(template)


def _json(response: Any) -> dict[str, Any]:
    """The body of a successful Heat reply. An error status raises as openstacksdk does; a
    body that is not a JSON object (a proxy's HTML page, a truncated reply) raises
    InvalidResponse, which callers see as CloudUnavailable rather than a raw ValueError."""
    sdk_exceptions.raise_from_response(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise sdk_exceptions.InvalidResponse(f"Heat answered {response.status_code} without JSON.")
    return body


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    # Heat's times are UTC to the second ("2026-11-26T02:40:18Z", at times with a fraction
    # or "+00:00"). fromisoformat is ~30x cheaper than strptime, which matters per listed stack.
    try:
        return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)
    except ValueError:
        return None  # an unreadable time is not worth failing a whole list for


def _summary_fields(stack: SdkStack) -> dict[str, Any]:
    return {
        "id": str(stack.id),
        "name": str(stack.name),
        "status": str(stack.status or ""),
        "status_reason": str(stack.status_reason or ""),
        "tags": tuple(stack.tags or ()),
        "created_at": _time(stack.created_at),
        "updated_at": _time(stack.updated_at),
    }


def _summary_from_json(item: Mapping[str, Any]) -> StackSummary:
    if not isinstance(item, dict) or not item.get("id") or not item.get("stack_name"):
        raise sdk_exceptions.InvalidResponse(f"Heat listed a stack without id or name: {item!r}")
    return StackSummary(
        id=str(item["id"]),
        name=str(item["stack_name"]),
        status=str(item.get("stack_status") or ""),
        status_reason=str(item.get("stack_status_reason") or ""),
        tags=tuple(item.get("tags") or ()),
        created_at=_time(item.get("creation_time")),
        updated_at=_time(item.get("updated_time")),
    )


def _next_marker(body: Mapping[str, Any]) -> str | None:
    for link in body.get("links") or []:
        if link.get("rel") == "next":
            markers = parse_qs(urlsplit(str(link.get("href", ""))).query).get("marker")
            return markers[-1] if markers else None
    return None


def _outputs(items: Sequence[Mapping[str, Any]] | None) -> tuple[StackOutput, ...]:
    return tuple(
        StackOutput(
            key=str(item.get("output_key")),
            value=item.get("output_value"),
            description=str(item.get("description") or ""),
            error=item.get("output_error"),
        )
        for item in (items or [])
        if isinstance(item, dict)
    )


def _parameters(values: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(key): str(value) for key, value in (values or {}).items()}


def _stack(stack: SdkStack) -> Stack:
    return Stack(
        **_summary_fields(stack),
        outputs=_outputs(stack.outputs),
        parameters=_parameters(stack.parameters),
    )


def _stack_from_json(body: Mapping[str, Any]) -> Stack:
    return Stack(
        **vars(_summary_from_json(body)),
        outputs=_outputs(body.get("outputs")),
        parameters=_parameters(body.get("parameters")),
    )


def _existing(stack: StackRef) -> SdkStack:
    # With id and name known, openstacksdk addresses /stacks/<name>/<id> without a lookup.
    return SdkStack.existing(id=stack.id, name=stack.name)


def stack_create(
    *,
    region: RegionRef,
    name: str,
    template: Mapping[str, Any] | str,
    parameters: Mapping[str, Any],
    tags: Sequence[str],
    timeout_minutes: int,
    environment: Mapping[str, Any] | None = None,
    files: Mapping[str, str] | None = None,
) -> StackRef:
    """Create a stack, rollback disabled; idempotent by name.

    The name is the idempotency key (derived from the deployment by the caller): when a
    create is ambiguous (a 5xx or timeout after Heat may have acted), the retry first looks
    the name up, and a 409 "already exists" adopts the existing stack — so a retried create
    never makes a second stack. A same-named stack that is being deleted is a conflict.
    """
    body = _template_dict(template)
    extra: dict[str, Any] = {}
    if environment is not None:
        extra["environment"] = dict(environment)
    if files is not None:
        extra["files"] = dict(files)

    def attempt(connection: Connection) -> StackRef:
        try:
            created = connection.orchestration.create_stack(
                name=name,
                template=body,
                parameters=dict(parameters),
                timeout_mins=timeout_minutes,
                is_rollback_disabled=True,
                # Heat splits tags on commas: a JSON list is refused with 400 AttributeError.
                tags=",".join(tags),
                **extra,
            )
        except sdk_exceptions.ConflictException:
            existing = _adoptable(connection)
            if existing is None:
                raise
            logger.info("heat.stack_adopted", extra={"stack": name, "region": str(region)})
            return existing
        return StackRef(id=str(created.id), name=str(created.name or name))

    def create(connection: Connection) -> StackRef:
        try:
            return attempt(connection)
        except sdk_exceptions.HttpException as error:
            if error.status_code != 500:
                raise
            # A token Keystone has revoked still passes heat-api's token cache for minutes,
            # but the engine's trust creation fails and the create answers 500
            # (heat-observed.md "Tokens"). Drop the shared token for every process and try
            # once more with a fresh one before the failure counts. The 500 may also have
            # come after Heat made the stack: look for it first.
            logger.warning(
                "heat.create_refused_token_dropped",
                extra={"stack": name, "region": str(region), "cloud_message": error.details},
            )
            token_drop(connection)
            existing = _adoptable(connection)
            return existing if existing is not None else attempt(connection)

    def _adoptable(connection: Connection) -> StackRef | None:
        found = connection.orchestration.find_stack(name, ignore_missing=True)
        if found is None or str(found.status or "").startswith("DELETE"):
            return None
        return StackRef(id=str(found.id), name=str(found.name))

    def after_ambiguous_failure(error: OpenStackError) -> StackRef | None:
        return call("stack_find", region, _adoptable, retry=False)

    return call("stack_create", region, create, on_retry=after_ambiguous_failure)


def _stack_path(stack: StackRef, suffix: str = "") -> str:
    return f"/stacks/{quote(stack.name, safe='')}/{quote(stack.id, safe='')}{suffix}"


def stack_get(*, region: RegionRef, stack: StackRef) -> Stack:
    """Status, reason and outputs; StackNotFound once the stack is gone (DELETE_COMPLETE).

    One request to /stacks/<name>/<id>: openstacksdk's get_stack asks /stacks/<id> and
    follows Heat's 302, which doubles the reconciler's detail reads.
    """

    def get(connection: Connection) -> Stack:
        body = _json(connection.orchestration.get(_stack_path(stack))).get("stack")
        if not isinstance(body, dict):
            raise sdk_exceptions.InvalidResponse(f"Heat answered no stack for {stack.name}.")
        if body.get("stack_status") == "DELETE_COMPLETE":
            # Heat still shows a soft-deleted stack; like openstacksdk, call it gone.
            raise sdk_exceptions.NotFoundException(f"Stack {stack.name} is DELETE_COMPLETE.")
        return _stack_from_json(body)

    return call("stack_get", region, get)


def stack_find(*, region: RegionRef, name: str) -> Stack | None:
    """The live stack with this name, or None (a deleted stack's name finds nothing)."""

    def find(connection: Connection) -> Stack | None:
        found = connection.orchestration.find_stack(name, ignore_missing=True)
        return _stack(found) if found is not None else None

    return call("stack_find", region, find)


def stacks_listing(*, region: RegionRef, tags: Sequence[str], page_size: int = 200) -> StackListing:
    """Every live stack carrying all `tags`, across all pages, and whether the listing can
    be trusted to be whole: the reconciler's bulk read.

    Heat's list can leave stacks out without an error (heat-observed.md: filters combined
    with tags, a marker purged between pages restarts the list at the first page). A
    listing that shows such a sign — a stack listed twice, a stack without the asked tags,
    fewer stacks than the first page's count — comes back with `complete` False and the
    reason, so nothing is concluded from what it lacks.
    """

    def list_stacks(connection: Connection) -> StackListing:
        # Raw JSON rather than openstacksdk objects: building one costs ~1 ms, which at
        # 10,000 stacks is the whole cycle budget. Pages follow Heat's `links.next`.
        params: dict[str, Any] = {"tags": ",".join(tags), "limit": page_size, "with_count": "true"}
        wanted = set(tags)
        unique: dict[str, StackSummary] = {}
        problems: list[str] = []
        count: int | None = None
        while True:
            body = _json(connection.orchestration.get("/stacks", params=params))
            if count is None and isinstance(body.get("count"), int):
                count = int(body["count"])
            page = body.get("stacks") or []
            for item in page:
                summary = _summary_from_json(item)
                if summary.id in unique:
                    problems.append(f"stack {summary.id} listed twice (the listing restarted)")
                if not wanted <= set(summary.tags):
                    problems.append(f"stack {summary.id} listed without the tags asked for")
                unique[summary.id] = summary
            marker = _next_marker(body)
            if not page or marker is None or problems:
                break
            params = {key: value for key, value in params.items() if key != "with_count"}
            params["marker"] = marker
        if count is not None and len(unique) < count and not problems:
            problems.append(f"{len(unique)} stacks listed of {count} counted")
        return StackListing(
            stacks=tuple(unique.values()), complete=not problems, problem="; ".join(problems[:3])
        )

    return call("stacks_list", region, list_stacks)


def stacks_list(
    *, region: RegionRef, tags: Sequence[str], page_size: int = 200
) -> tuple[StackSummary, ...]:
    """Every live stack carrying all `tags` (see `stacks_listing` for whether it is whole)."""
    return stacks_listing(region=region, tags=tags, page_size=page_size).stacks


def stack_events(
    *, region: RegionRef, stack: StackRef, since_event_id: str | None = None
) -> tuple[StackEvent, ...]:
    """Events after `since_event_id`, oldest first, each id once.

    Heat restarts the list from the beginning when the marker is unknown (purged), so the
    result may repeat events the caller already has: store them idempotently by id.
    """

    def events(connection: Connection) -> tuple[StackEvent, ...]:
        # One GET of raw JSON (no `limit`, so Heat answers every event at once): building
        # openstacksdk objects costs milliseconds per event, which a reconciler cycle
        # reading events of many stacks cannot afford.
        query: dict[str, Any] = {"sort_dir": "asc"}
        if since_event_id:
            query["marker"] = since_event_id
        body = _json(connection.orchestration.get(_stack_path(stack, "/events"), params=query))
        seen: dict[str, StackEvent] = {}
        for item in body.get("events") or []:
            if not isinstance(item, dict):
                raise sdk_exceptions.InvalidResponse(
                    f"Heat listed an event that is no object: {item!r}"
                )
            event_id = str(item.get("id") or "")
            if not event_id or event_id == since_event_id or event_id in seen:
                continue
            physical_id = str(item.get("physical_resource_id") or "")
            resource_name = str(item.get("resource_name") or "")
            seen[event_id] = StackEvent(
                id=event_id,
                time=_time(item.get("event_time")),
                resource_name=resource_name,
                resource_status=str(item.get("resource_status") or ""),
                reason=str(item.get("resource_status_reason") or ""),
                physical_resource_id=physical_id,
                is_stack_event=resource_name == stack.name and physical_id == stack.id,
            )
        return tuple(seen.values())

    return call("stack_events", region, events)


def stack_resources(*, region: RegionRef, stack: StackRef) -> ResourceProgress:
    """The stack's resources and their states, for a progress count (one GET, raw JSON)."""

    def resources(connection: Connection) -> ResourceProgress:
        body = _json(connection.orchestration.get(_stack_path(stack, "/resources")))
        return ResourceProgress(
            resources=tuple(
                StackResource(
                    name=str(item.get("resource_name") or ""),
                    type=str(item.get("resource_type") or ""),
                    status=str(item.get("resource_status") or ""),
                    reason=str(item.get("resource_status_reason") or ""),
                    physical_id=str(item.get("physical_resource_id") or ""),
                )
                for item in body.get("resources") or []
                if isinstance(item, dict)
            )
        )

    return call("stack_resources", region, resources)


def stack_delete(*, region: RegionRef, stack: StackRef) -> bool:
    """Ask Heat to delete; False when the stack was already gone (404 is success).

    Deleting while CREATE_IN_PROGRESS is accepted (Heat cancels the create). A 409 is
    retried inside the budget, then raised as StackConflict for the caller to retry later.
    """

    def delete(connection: Connection) -> bool:
        response = connection.orchestration.delete(_stack_path(stack))
        sdk_exceptions.raise_from_response(response)
        return True

    try:
        return call("stack_delete", region, delete, retry_conflicts=True)
    except StackNotFound:
        return False


def stack_update(
    *,
    region: RegionRef,
    stack: StackRef,
    template: Mapping[str, Any] | str,
    parameters: Mapping[str, Any],
    tags: Sequence[str],
) -> None:
    """Replace the stack's template and parameters (Heat's PUT update); Heat answers 202 and
    works on: watch the stack for UPDATE_COMPLETE or UPDATE_FAILED.

    Resources the new parameters' conditions drop are deleted and new ones made, the rest
    kept (stop and start rely on that to keep the volumes). A stack already in an action
    answers 409, raised as StackConflict for the caller to try on a later cycle; sending
    the same update again is harmless (nothing changes, the update completes at once).
    """
    body = _template_dict(template)

    def update(connection: Connection) -> None:
        connection.orchestration.update_stack(
            _existing(stack),
            template=body,
            parameters=dict(parameters),
            # Heat splits tags on commas, on update as on create.
            tags=",".join(tags),
        )

    call("stack_update", region, update)


def stack_suspend(*, region: RegionRef, stack: StackRef) -> None:
    call(
        "stack_suspend",
        region,
        lambda connection: connection.orchestration.suspend_stack(_existing(stack)),
    )


def stack_resume(*, region: RegionRef, stack: StackRef) -> None:
    call(
        "stack_resume",
        region,
        lambda connection: connection.orchestration.resume_stack(_existing(stack)),
    )


def template_validate(*, region: RegionRef, template: Mapping[str, Any] | str) -> tuple[str, ...]:
    """Heat's own validation of a template; returns its parameter names."""
    body = _template_dict(template)

    def validate(connection: Connection) -> tuple[str, ...]:
        result = connection.orchestration.validate_template(body)
        return tuple((result.parameters or {}).keys())

    return call("template_validate", region, validate)


def stack_preview(
    *,
    region: RegionRef,
    name: str,
    template: Mapping[str, Any] | str,
    parameters: Mapping[str, Any],
) -> tuple[str, ...]:
    """Heat's stack preview: every check of a create (parameters against their custom
    constraints — flavors, images, networks — and the stack limit) with nothing made.
    Returns the names of the resources a create would make; raises InvalidStackRequest
    with Heat's message when a value does not exist in the region."""
    body = {
        "stack_name": name,
        "template": _template_dict(template),
        "parameters": dict(parameters),
        "disable_rollback": True,
    }

    def preview(connection: Connection) -> tuple[str, ...]:
        stack = _json(connection.orchestration.post("/stacks/preview", json=body)).get("stack")
        resources = (stack or {}).get("resources") or []
        return tuple(
            str(item.get("resource_name"))
            for item in resources
            if isinstance(item, dict)  # nested stacks answer lists; the library has none
        )

    return call("stack_preview", region, preview)


def stacks_count(*, region: RegionRef) -> int:
    """How many stacks the portal's project holds (every stack, not only the portal's)."""

    def count(connection: Connection) -> int:
        body = _json(
            connection.orchestration.get("/stacks", params={"limit": 1, "with_count": "true"})
        )
        value = body.get("count")
        if not isinstance(value, int):
            raise sdk_exceptions.InvalidResponse("Heat answered no stack count.")
        return value

    return call("stacks_count", region, count)


def compute_limits(*, region: RegionRef) -> dict[str, tuple[int, int]] | None:
    """Nova's absolute limits as {name: (used, max)} for instances, cores and RAM; None
    when the region's catalog has no compute service (nothing to report)."""

    def limits(connection: Connection) -> dict[str, tuple[int, int]] | None:
        plugin = connection.session.auth
        if not isinstance(plugin, BaseIdentityPlugin):
            return None
        catalog = plugin.get_access(connection.session).service_catalog
        if not catalog.get_endpoints(service_type="compute", region_name=region.region):
            return None
        absolute = connection.compute.get_limits().absolute
        pairs = {
            "instances": (absolute.instances_used, absolute.instances),
            "cores": (absolute.total_cores_used, absolute.total_cores),
            "ram_mb": (absolute.total_ram_used, absolute.total_ram),
        }
        return {name: (int(used or 0), int(limit)) for name, (used, limit) in pairs.items()}

    return call("compute_limits", region, limits, retry=False)


def region_check(region: RegionRef) -> None:
    """One cheap authenticated Heat read, no retries: raises when the region fails."""

    def probe(connection: Connection) -> None:
        response = connection.orchestration.get("/stacks", params={"limit": 1})
        sdk_exceptions.raise_from_response(response)

    call("region_check", region, probe, retry=False, timeout=HEALTH_TIMEOUT_SECONDS)
