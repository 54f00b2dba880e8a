"""Heat v1 routes under /heat/<region>/v1/<project_id>: stacks, lookups, events, outputs."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode

import yaml

from heat.devcloud import engine, heat_views, hot
from heat.devcloud.errors import HeatApiError, stack_not_found
from heat.devcloud.store import Store
from heat.devcloud.wire import Request, Response

STACK_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_.-]{0,254}")
LOOKUP_SUBPATHS = {"resources", "events", "template", "actions", "environment", "files", "outputs"}
ACCEPTED_PAGE = (
    "<html>\n <head>\n  <title>202 Accepted</title>\n </head>\n <body>\n  <h1>202 Accepted</h1>\n"
    "  The request is accepted for processing.<br /><br />\n\n\n\n </body>\n</html>"
)
SORT_KEYS = {
    "stack_name": "name",
    "stack_status": "status",
    "creation_time": "created_at",
    "updated_time": "updated_at",
}


def new_stack(
    store: Store,
    *,
    region: str,
    project_id: str,
    name: str,
    template: dict[str, Any],
    given: dict[str, Any],
    tags: list[str],
    timeout_mins: int | None,
    disable_rollback: bool,
    created_at: float | None = None,
) -> dict[str, Any]:
    """Resolve the parameters, lay out the stack and start its CREATE (the caller saves)."""
    stack_id = str(uuid.uuid4())
    pseudo = {"OS::stack_name": name, "OS::stack_id": stack_id, "OS::project_id": project_id}
    parameters = hot.resolve_parameters(
        template, given, pseudo=pseudo, known=store.known_names(region)
    )
    stack = {
        "id": stack_id,
        "name": name,
        "region": region,
        "project_id": project_id,
        "user_project_id": uuid.uuid4().hex,
        "template": template,
        "given": {k: str(v) for k, v in given.items()},
        "parameters": parameters,
        "tags": tags,
        "timeout_mins": timeout_mins,
        "disable_rollback": disable_rollback,
        "created_at": store.now() if created_at is None else created_at,
        "updated_at": None,
        "deleted_at": None,
        "action": "CREATE",
        "status": "IN_PROGRESS",
        "reason": "",
        "order": [],
        "resources": {},
        "events": [],
        "plan": None,
        "interrupted": False,
    }
    engine.create_stack(store, stack)
    store.data["stacks"][stack_id] = stack
    engine.advance_stack(store, stack)
    return stack


class HeatApi:
    def __init__(self, store: Store, request: Request, region: str, project_id: str) -> None:
        self.store = store
        self.request = request
        self.region = region
        self.project_id = project_id
        self.root = f"{request.base_url}/heat/{region}/v1/{project_id}"

    # --- helpers ------------------------------------------------------------------------

    def stacks(self) -> list[dict[str, Any]]:
        result = []
        for stack in self.store.data["stacks"].values():
            if stack["region"] == self.region and stack["project_id"] == self.project_id:
                if engine.advance_stack(self.store, stack):
                    self.store.save()
                result.append(stack)
        return result

    def self_link(self, stack: dict[str, Any]) -> str:
        return f"{self.root}/stacks/{stack['name']}/{stack['id']}"

    def by_id(self, stack_id: str) -> dict[str, Any] | None:
        """One stack of this region and project by id (a dict lookup: stacks are keyed by id)."""
        stack: dict[str, Any] | None = self.store.data["stacks"].get(stack_id)
        if stack is None or (stack["region"], stack["project_id"]) != (
            self.region,
            self.project_id,
        ):
            return None
        if engine.advance_stack(self.store, stack):
            self.store.save()
        return stack

    def find(self, name_or_id: str) -> dict[str, Any]:
        """Heat's lookup: by id even when soft-deleted, by name only when not."""
        stack = self.by_id(name_or_id)
        if stack is not None:
            return stack
        for stack in self.stacks():
            if stack["name"] == name_or_id and not engine.is_deleted(stack):
                return stack
        raise stack_not_found(name_or_id)

    def identified(self, name: str, stack_id: str) -> dict[str, Any]:
        stack = self.by_id(stack_id)
        if stack is None or stack["name"] != name:
            raise stack_not_found(name)
        return stack

    def redirect(self, stack: dict[str, Any], suffix: str) -> Response:
        location = self.self_link(stack) + suffix
        if self.request.raw_query:
            location += "?" + self.request.raw_query
        body = {
            "code": "302 Found",
            "title": "Found",
            "message": f'The resource was found at <a href="{location}">{location}</a>;'
            " you should be redirected automatically.",
        }
        return Response(302, body, headers={"Location": location})

    # --- dispatch -----------------------------------------------------------------------

    def handle(self, rest: str) -> Response:
        method = self.request.method
        parts = [part for part in rest.split("/") if part]
        if parts == ["stacks", "preview"] and method == "POST":
            return self.preview()
        if parts == ["stacks"]:
            if method == "POST":
                return self.create()
            if method == "GET":
                return self.list()
        elif parts == ["validate"] and method == "POST":
            return self.validate()
        elif len(parts) == 2 and parts[0] == "stacks":
            return self.redirect(self.find(parts[1]), "")
        elif len(parts) == 3 and parts[0] == "stacks" and parts[2] in LOOKUP_SUBPATHS:
            return self.redirect(self.find(parts[1]), "/" + parts[2])
        elif len(parts) >= 3 and parts[0] == "stacks":
            stack = self.identified(parts[1], parts[2])
            return self.stack_route(stack, method, parts[3:])
        elif not parts:
            return Response(
                300,
                {
                    "versions": [
                        {
                            "id": "v1.0",
                            "status": "CURRENT",
                            "links": [
                                {
                                    "rel": "self",
                                    "href": f"{self.request.base_url}/heat/{self.region}/v1/",
                                }
                            ],
                        }
                    ]
                },
            )
        raise HeatApiError(404, "HTTPNotFound", "The resource could not be found.")

    def stack_route(self, stack: dict[str, Any], method: str, sub: list[str]) -> Response:
        if not sub:
            if method == "GET":
                return Response(
                    200,
                    {
                        "stack": heat_views.detail(
                            stack,
                            self.self_link(stack),
                            resolve_outputs=self.request.param("resolve_outputs")
                            not in ("False", "false", "0"),
                        )
                    },
                )
            if method == "DELETE":
                if engine.is_deleted(stack):
                    raise stack_not_found(stack["name"])
                engine.delete_stack(self.store, stack)
                return Response(204)
            if method in {"PUT", "PATCH"}:
                return self.update(stack, patch=method == "PATCH")
            raise HeatApiError(405, "HTTPMethodNotAllowed", "Method not allowed")
        if sub == ["events"] and method == "GET":
            return Response(200, {"events": self.events(stack, None)})
        if len(sub) == 3 and sub[0] == "resources" and sub[2] == "events" and method == "GET":
            events = self.events(stack, sub[1])
            if not events:
                raise HeatApiError(404, "HTTPNotFound", f"No events found for resource {sub[1]}")
            return Response(200, {"events": events})
        if sub == ["resources"] and method == "GET":
            return Response(200, {"resources": heat_views.resources(stack, self.self_link(stack))})
        if sub == ["outputs"] and method == "GET":
            return Response(
                200,
                {
                    "outputs": [
                        {"output_key": item["output_key"], "description": item["description"]}
                        for item in engine.outputs(stack)
                    ]
                },
            )
        if len(sub) == 2 and sub[0] == "outputs" and method == "GET":
            for item in engine.outputs(stack):
                if item["output_key"] == sub[1]:
                    return Response(200, {"output": item})
            raise HeatApiError(404, "NotFound", f"Specified output key {sub[1]} not found.")
        if sub == ["actions"] and method == "POST":
            return self.action(stack)
        if sub == ["template"] and method == "GET":
            return Response(200, stack["template"])
        if sub == ["environment"] and method == "GET":
            return Response(
                200,
                {
                    "encrypted_param_names": [],
                    "event_sinks": [],
                    "parameter_defaults": {},
                    "parameters": stack["given"],
                    "resource_registry": {"resources": {}},
                },
            )
        raise HeatApiError(404, "HTTPNotFound", "The resource could not be found.")

    # --- representations ----------------------------------------------------------------

    def events(self, stack: dict[str, Any], resource_name: str | None) -> list[dict[str, Any]]:
        events = list(stack["events"])
        resource_name = resource_name or self.request.param("resource_name")
        if resource_name:
            events = [e for e in events if e["resource_name"] == resource_name]
        if statuses := self.request.params("resource_status"):
            events = [
                e
                for e in events
                if e["resource_status"].split("_", 1)[1] in statuses
                or e["resource_status"] in statuses
            ]
        if actions := self.request.params("resource_action"):
            events = [e for e in events if e["resource_status"].split("_", 1)[0] in actions]
        if types := self.request.params("resource_type"):
            events = [e for e in events if e["resource_type"] in types]
        # Newest first unless asked otherwise; the internal number breaks same-second ties.
        ascending = self.request.param("sort_dir") == "asc"
        events.sort(key=lambda e: (e["time"], e["number"]), reverse=not ascending)
        return [heat_views.event(stack, self.self_link(stack), e) for e in self._page(events)]

    def _page(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        marker = self.request.param("marker")
        if marker:
            ids = [item["id"] for item in items]
            # An unknown (or purged) marker is ignored: the list starts over, as in Heat.
            if marker in ids:
                items = items[ids.index(marker) + 1 :]
        limit = self.request.param("limit")
        if limit is not None:
            try:
                items = items[: max(int(limit), 0)]
            except ValueError as error:
                raise HeatApiError(400, "HTTPBadRequest", "Invalid limit value") from error
        return items

    def list(self) -> Response:
        show_deleted = self.request.flag("show_deleted")
        hidden = set(self.store.faults.get("list_hidden") or [])
        stacks = [
            s
            for s in self.stacks()
            if (show_deleted or not engine.is_deleted(s))
            # Heat's filters can drop a live stack without an error (heat-observed.md).
            and s["name"] not in hidden
            and s["id"] not in hidden
        ]

        def csv(name: str) -> list[set[str]]:
            return [set(filter(None, value.split(","))) for value in self.request.params(name)]

        for tags in csv("tags"):
            stacks = [s for s in stacks if tags <= set(s["tags"])]
        for tags in csv("tags_any"):
            stacks = [s for s in stacks if tags & set(s["tags"])]
        for tags in csv("not_tags"):
            stacks = [s for s in stacks if not tags <= set(s["tags"])]
        for tags in csv("not_tags_any"):
            stacks = [s for s in stacks if not tags & set(s["tags"])]
        for key, field in (
            ("name", "name"),
            ("stack_name", "name"),
            ("id", "id"),
            ("action", "action"),
        ):
            if values := self.request.params(key):
                stacks = [s for s in stacks if s[field] in values]
        if statuses := self.request.params("status"):
            stacks = [
                s for s in stacks if engine.status_of(s) in statuses or s["status"] in statuses
            ]
        sort_key = SORT_KEYS.get(self.request.param("sort_keys") or "", "created_at")
        descending = self.request.param("sort_dir") != "asc"
        stacks.sort(key=lambda s: (s.get(sort_key) or 0, s["id"]), reverse=descending)
        count = len(stacks)
        if self.request.param("marker") and self.store.faults.get("list_marker_lost", 0) > 0:
            self.store.faults["list_marker_lost"] -= 1
            self.store.save()
            # The marker is unknown to Heat now: it starts over at the first page.
            self.request.query.pop("marker", None)
        page = self._page(stacks)
        body: dict[str, Any] = {"stacks": [heat_views.summary(s, self.self_link(s)) for s in page]}
        limit = self.request.param("limit")
        if limit and page and len(page) == int(limit):
            query = [
                (k, v) for k, values in self.request.query.items() if k != "marker" for v in values
            ] + [("marker", page[-1]["id"])]
            body["links"] = [{"rel": "next", "href": f"{self.root}/stacks?{urlencode(query)}"}]
        if self.request.flag("with_count"):
            body["count"] = count
        return Response(200, body)

    def _request(self) -> dict[str, Any]:
        """A create's (or preview's) body, checked as Heat checks it before anything is made."""
        body = self.request.body
        if not isinstance(body, dict):
            raise HeatApiError(400, "HTTPBadRequest", "The request body must be a JSON object")
        name = body.get("stack_name")
        if not name:
            raise HeatApiError(400, "HTTPBadRequest", "No stack name specified")
        tags = body.get("tags")
        if tags is not None and not isinstance(tags, str):
            # Heat does tags.split(','): a JSON list raises AttributeError, shown without text.
            raise HeatApiError(400, "AttributeError")
        tag_list = [tag.strip() for tag in tags.split(",")] if tags else []
        if any(len(tag) > 80 for tag in tag_list):
            raise HeatApiError(400, "HTTPBadRequest", "Tags must be 80 characters or less")
        timeout = body.get("timeout_mins")
        if timeout is not None:
            try:
                timeout = int(timeout)
            except (TypeError, ValueError) as error:
                raise HeatApiError(
                    400, "ValueError", "Only integer is acceptable by 'timeout_mins'."
                ) from error
            if timeout <= 0:
                raise HeatApiError(400, "ValueError", "timeout_mins must be greater than 0")
        rollback = body.get("disable_rollback", True)
        if str(rollback).lower() not in {"true", "false", "1", "0"}:
            raise HeatApiError(400, "ValueError", f"Unrecognized value '{rollback}'")
        if not STACK_NAME.fullmatch(name):
            raise hot.validation_failed(
                f'Invalid stack name {name} must contain only alphanumeric or "_-." characters, '
                "must start with alpha and must be 255 characters or less."
            )
        stacks = self.stacks()
        live = [s for s in stacks if not engine.is_deleted(s)]
        hold = float(self.store.faults.get("name_hold_seconds") or 0)
        now = self.store.now()
        if any(
            s["name"] == name and (not engine.is_deleted(s) or (s["deleted_at"] or 0) + hold > now)
            for s in stacks
        ):
            # A deleted stack's name stays taken for a moment after its GET says
            # DELETE_COMPLETE (heat-observed.md: about 0.8 s).
            raise HeatApiError(409, "StackExists", f"The Stack ({name}) already exists.")
        quota = int(self.store.faults.get("stack_quota") or 512)
        if len(live) >= quota:
            raise HeatApiError(
                400,
                "RequestLimitExceeded",
                f"Request limit exceeded: You have reached the maximum stacks per "
                f"tenant, {quota}. Please delete some stacks.",
            )
        template = hot.parse_template(body.get("template"))
        given = dict(self._environment(body.get("environment")))
        given.update(body.get("parameters") or {})
        return {
            "name": name,
            "template": template,
            "given": given,
            "tags": tag_list,
            "timeout_mins": timeout,
            "disable_rollback": str(rollback).lower() in {"true", "1"},
        }

    def create(self) -> Response:
        checked = self._request()
        stack = new_stack(self.store, region=self.region, project_id=self.project_id, **checked)
        stack_id = stack["id"]
        self.store.save()
        if self.store.faults.get("ambiguous_create", 0) > 0:
            self.store.faults["ambiguous_create"] -= 1
            self.store.save()
            raise HeatApiError(
                500,
                "MessagingTimeout",
                f"Timed out waiting for a reply to message ID {uuid.uuid4().hex}",
            )
        link = self.self_link(stack)
        return Response(
            201,
            {"stack": {"id": stack_id, "links": [{"href": link, "rel": "self"}]}},
            headers={"Location": link},
        )

    def preview(self) -> Response:
        """Heat's stack preview: every check a create makes (parameters against their
        constraints, the stack limit), nothing made; answers the resources it would make."""
        checked = self._request()
        name = checked["name"]
        pseudo = {"OS::stack_name": name, "OS::stack_id": "None", "OS::project_id": self.project_id}
        parameters = hot.resolve_parameters(
            checked["template"],
            checked["given"],
            pseudo=pseudo,
            known=self.store.known_names(self.region),
        )
        evaluator = hot.Evaluator(
            checked["template"],
            parameters,
            resource_id=lambda resource: None,
            resource_attr=lambda resource, attribute: None,
        )
        order = hot.creation_order(checked["template"], evaluator)
        resources = checked["template"].get("resources") or {}
        return Response(
            200,
            {
                "stack": {
                    "id": "None",
                    "stack_name": name,
                    "description": checked["template"].get("description") or "",
                    "parameters": {key: str(value) for key, value in parameters.items()},
                    "disable_rollback": checked["disable_rollback"],
                    "timeout_mins": checked["timeout_mins"],
                    "resources": [
                        {
                            "resource_name": resource,
                            "resource_type": resources[resource]["type"],
                            "resource_action": "INIT",
                            "resource_status": "COMPLETE",
                            "stack_name": name,
                        }
                        for resource in order
                    ],
                }
            },
        )

    def _environment(self, environment: Any) -> dict[str, Any]:
        if isinstance(environment, str):
            environment = yaml.safe_load(environment) or {}
        if not isinstance(environment, dict):
            return {}
        merged = dict(environment.get("parameter_defaults") or {})
        merged.update(environment.get("parameters") or {})
        return merged

    def update(self, stack: dict[str, Any], *, patch: bool) -> Response:
        """PUT replaces the template and parameters; PATCH (Heat's `existing`) keeps what
        it is not given. 202 with webob's HTML page, as Heat answers (heat-observed.md)."""
        if engine.is_deleted(stack):
            raise stack_not_found(stack["name"])
        body = self.request.body
        if not isinstance(body, dict):
            raise HeatApiError(400, "HTTPBadRequest", "The request body must be a JSON object")
        if body.get("template") is not None:
            template = hot.parse_template(body.get("template"))
        elif patch:
            template = stack["template"]
        else:
            raise HeatApiError(400, "HTTPBadRequest", "No template specified")
        given = dict(stack["given"]) if patch else {}
        given.update(self._environment(body.get("environment")))
        given.update(body.get("parameters") or {})
        tags = body.get("tags")
        if tags is not None and not isinstance(tags, str):
            raise HeatApiError(400, "AttributeError")
        pseudo = {
            "OS::stack_name": stack["name"],
            "OS::stack_id": stack["id"],
            "OS::project_id": self.project_id,
        }
        parameters = hot.resolve_parameters(
            template, given, pseudo=pseudo, known=self.store.known_names(self.region)
        )
        engine.update_stack(
            self.store, stack, template=template, parameters=parameters, given=given
        )
        if tags is not None:
            stack["tags"] = [tag.strip() for tag in tags.split(",")] if tags else []
        if body.get("timeout_mins") is not None:
            stack["timeout_mins"] = int(body["timeout_mins"])
        self.store.save()
        return Response(202, html=ACCEPTED_PAGE)

    def action(self, stack: dict[str, Any]) -> Response:
        body = self.request.body
        if not isinstance(body, dict) or not body:
            raise HeatApiError(400, "HTTPBadRequest", "No action specified")
        if len(body) > 1:
            raise HeatApiError(400, "HTTPBadRequest", "Multiple actions specified")
        (name,) = body
        if name not in {"suspend", "resume", "check"}:
            raise HeatApiError(400, "HTTPBadRequest", f"Invalid action {name} specified")
        engine.run_action(self.store, stack, name.upper())
        self.store.save()
        return Response(200, None)

    def validate(self) -> Response:
        body = self.request.body if isinstance(self.request.body, dict) else {}
        template = hot.parse_template(body.get("template"))
        return Response(200, heat_views.validate_result(template))
