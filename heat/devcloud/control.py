"""The control endpoint under /_devcloud/: clock, faults, tokens, request log, reset.

GET    /_devcloud/state              clock, faults, timing, stack count, token requests
POST   /_devcloud/clock              {"advance": seconds}
GET    /_devcloud/faults             the armed faults
POST   /_devcloud/faults             merge keys into the faults (see store.DEFAULT_FAULTS)
DELETE /_devcloud/faults             back to the defaults
POST   /_devcloud/timing             {"create": s, "delete": s, "action": s} per resource
GET    /_devcloud/catalog            per region, the flavors/images/networks that exist
POST   /_devcloud/catalog            {"regions": {"RegionOne": {"flavors": [...], "images":
                                     [...], "networks": [...]}}}: replaces those regions'
POST   /_devcloud/token-lifetime     {"seconds": n}
POST   /_devcloud/tokens/revoke      revoke every issued token (clients get 401 once)
GET    /_devcloud/requests           the last requests (method, path, query, body), and
                                     `counts`: every request since the reset, by service
                                     ("heat", "keystone")
POST   /_devcloud/seed               many stacks at once, for benchmarks (see `_seed`)
POST   /_devcloud/reset              forget everything: stacks, tokens, faults, log
"""

from __future__ import annotations

import copy
from typing import Any

from heat.devcloud import engine, heat_api, hot, keystone
from heat.devcloud.errors import HeatApiError
from heat.devcloud.store import DEFAULT_FAULTS, PROJECT_ID, Store, catalog_load
from heat.devcloud.wire import Request, Response


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.body, dict):
        raise HeatApiError(400, "HTTPBadRequest", "A JSON object is expected")
    return request.body


def handle(store: Store, request: Request, rest: str) -> Response:
    method = request.method
    with store.lock:
        if rest == "state" and method == "GET":
            return Response(
                200,
                {
                    "now": store.now(),
                    "faults": store.faults,
                    "timing": store.data["timing"],
                    "stacks": len(store.data["stacks"]),
                    "live_stacks": sum(
                        not engine.is_deleted(stack) for stack in store.data["stacks"].values()
                    ),
                    "token_requests": store.token_requests,
                    "regions": list(store.options.regions),
                },
            )
        if rest == "clock" and method == "POST":
            now = store.advance(float(_body(request).get("advance", 0)))
            for stack in store.data["stacks"].values():
                engine.advance_stack(store, stack)
            store.save()
            return Response(200, {"now": now})
        if rest == "faults":
            if method == "POST":
                changes = _body(request)
                unknown = set(changes) - set(DEFAULT_FAULTS)
                if unknown:
                    raise HeatApiError(400, "HTTPBadRequest", f"Unknown faults: {sorted(unknown)}")
                if changes.get("engine_stall"):
                    engine.interrupt_in_progress(store)
                store.faults.update(copy.deepcopy(changes))
                store.save()
            elif method == "DELETE":
                store.data["faults"] = copy.deepcopy(DEFAULT_FAULTS)
                store.save()
            return Response(200, {"faults": store.faults})
        if rest == "timing" and method == "POST":
            store.data["timing"].update({k: float(v) for k, v in _body(request).items()})
            store.save()
            return Response(200, {"timing": store.data["timing"]})
        if rest == "catalog":
            if method == "POST":
                try:
                    regions = catalog_load(_body(request))
                except ValueError as error:
                    raise HeatApiError(400, "HTTPBadRequest", str(error)) from error
                store.data.setdefault("catalog", {}).update(regions)
                store.save()
            return Response(200, {"catalog": store.data.get("catalog") or {}})
        if rest == "token-lifetime" and method == "POST":
            store.data["token_lifetime"] = int(_body(request)["seconds"])
            store.save()
            return Response(200, {"token_lifetime": store.data["token_lifetime"]})
        if rest == "tokens/revoke" and method == "POST":
            return Response(200, {"revoked": keystone.revoke_all(store)})
        if rest == "requests" and method == "GET":
            return Response(
                200,
                {
                    "requests": list(store.requests),
                    "token_requests": store.token_requests,
                    "counts": dict(store.request_counts),
                },
            )
        if rest == "seed" and method == "POST":
            return Response(201, {"stacks": _seed(store, _body(request))})
        if rest == "reset" and method == "POST":
            store.reset()
            return Response(200, {"reset": True})
    raise HeatApiError(404, "HTTPNotFound", f"No control route {method} /_devcloud/{rest}")


def _seed(store: Store, body: dict[str, Any]) -> list[dict[str, str]]:
    """Create many stacks in one call, without Heat's per-request checks: for benchmarks.

    {"region": "RegionOne", "template": HOT (text or object), "parameters": {...},
     "stacks": [{"name": "...", "tags": ["..."]}, ...], "settled": true,
     "timeout_mins": 60}

    Each stack is made as `POST /stacks` would make it (parameters resolved, armed
    `fail_resource` applied, rollback disabled), in the project of devcloud's service user.
    `settled` backdates the create so that it has already finished (CREATE_COMPLETE, or
    CREATE_FAILED under `fail_resource`); otherwise it starts now (CREATE_IN_PROGRESS).
    Names are not checked for duplicates and the stack quota does not apply. Every stack
    shares the one parsed template (devcloud only reads templates). Answers the stacks'
    names and ids, in order.
    """
    region = body.get("region")
    if region not in store.options.regions:
        raise HeatApiError(400, "HTTPBadRequest", f"Unknown region {region!r}")
    entries = body.get("stacks")
    if not isinstance(entries, list):
        raise HeatApiError(400, "HTTPBadRequest", "`stacks` must be a list")
    template = hot.parse_template(body.get("template"))
    given = dict(body.get("parameters") or {})
    timeout_mins = int(body.get("timeout_mins") or 60)
    created_at = store.now()
    if body.get("settled"):
        # Long enough for every resource of the template to have been created.
        resources = len(template.get("resources") or {})
        created_at -= resources * float(store.data["timing"]["create"]) + 1
    seeded = []
    for entry in entries:
        stack = heat_api.new_stack(
            store,
            region=region,
            project_id=PROJECT_ID,
            name=str(entry["name"]),
            template=template,
            given=given,
            tags=[str(tag) for tag in entry.get("tags") or []],
            timeout_mins=timeout_mins,
            disable_rollback=True,
            created_at=created_at,
        )
        seeded.append({"name": stack["name"], "id": stack["id"]})
    store.save()
    return seeded
