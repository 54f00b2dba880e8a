"""The control endpoint under /_devcloud/: clock, faults, tokens, request log, reset.

GET    /_devcloud/state              clock, faults, timing, stack count, token requests
POST   /_devcloud/clock              {"advance": seconds}
GET    /_devcloud/faults             the armed faults
POST   /_devcloud/faults             merge keys into the faults (see store.DEFAULT_FAULTS)
DELETE /_devcloud/faults             back to the defaults
POST   /_devcloud/timing             {"create": s, "delete": s, "action": s} per resource
POST   /_devcloud/token-lifetime     {"seconds": n}
POST   /_devcloud/tokens/revoke      revoke every issued token (clients get 401 once)
GET    /_devcloud/requests           the last requests (method, path, query, body)
POST   /_devcloud/reset              forget everything: stacks, tokens, faults, log
"""

from __future__ import annotations

import copy
from typing import Any

from heat.devcloud import engine, keystone
from heat.devcloud.errors import HeatApiError
from heat.devcloud.store import DEFAULT_FAULTS, Store
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
        if rest == "token-lifetime" and method == "POST":
            store.data["token_lifetime"] = int(_body(request)["seconds"])
            store.save()
            return Response(200, {"token_lifetime": store.data["token_lifetime"]})
        if rest == "tokens/revoke" and method == "POST":
            return Response(200, {"revoked": keystone.revoke_all(store)})
        if rest == "requests" and method == "GET":
            return Response(
                200, {"requests": list(store.requests), "token_requests": store.token_requests}
            )
        if rest == "reset" and method == "POST":
            store.reset()
            return Response(200, {"reset": True})
    raise HeatApiError(404, "HTTPNotFound", f"No control route {method} /_devcloud/{rest}")
