"""Heat's JSON shapes for stacks, events and resources (heat/engine/api.py, views/)."""

from __future__ import annotations

import json
from typing import Any

from heat.devcloud import engine, hot
from heat.devcloud.keystone import isotime

PARAMETER_TYPES = {
    "string": "String",
    "number": "Number",
    "json": "Json",
    "boolean": "Boolean",
    "comma_delimited_list": "CommaDelimitedList",
}


def summary(stack: dict[str, Any], link: str) -> dict[str, Any]:
    def time_or_none(value: float | None) -> str | None:
        return isotime(value) if value is not None else None

    return {
        "id": stack["id"],
        "links": [{"href": link, "rel": "self"}],
        "stack_name": stack["name"],
        "description": "",
        "stack_status": engine.status_of(stack),
        "stack_status_reason": stack["reason"],
        "creation_time": isotime(stack["created_at"]),
        "updated_time": time_or_none(stack.get("updated_at")),
        "deletion_time": time_or_none(stack.get("deleted_at")),
        "stack_owner": "portal-svc",
        "parent": None,
        "stack_user_project_id": stack["user_project_id"],
        "tags": list(stack["tags"]),
    }


def detail(stack: dict[str, Any], link: str, *, resolve_outputs: bool) -> dict[str, Any]:
    body = summary(stack, link)
    declared = stack["template"].get("parameters") or {}
    parameters = {}
    for name, value in stack["parameters"].items():
        hidden = (declared.get(name) or {}).get("hidden")
        if isinstance(value, list):
            value = ",".join(value)
        elif isinstance(value, dict):
            value = json.dumps(value)
        parameters[name] = "******" if hidden else str(value)
    description = stack["template"].get("description") or ""
    body.update(
        {
            "description": description,
            "template_description": description,
            "capabilities": [],
            "notification_topics": [],
            "disable_rollback": stack["disable_rollback"],
            "timeout_mins": stack["timeout_mins"],
            "parameters": parameters,
        }
    )
    if resolve_outputs and not engine.is_deleted(stack):
        body["outputs"] = engine.outputs(stack)
    return body


def event(stack: dict[str, Any], link: str, event: dict[str, Any]) -> dict[str, Any]:
    name = event["resource_name"]
    resource_link = f"{link}/resources/{name}"
    return {
        "id": event["id"],
        "event_time": isotime(event["time"]),
        "resource_name": name,
        "logical_resource_id": name,
        "physical_resource_id": event["physical_resource_id"],
        "resource_status": event["resource_status"],
        "resource_status_reason": event["reason"],
        "links": [
            {"href": f"{resource_link}/events/{event['id']}", "rel": "self"},
            {"href": resource_link, "rel": "resource"},
            {"href": link, "rel": "stack"},
        ],
    }


def resources(stack: dict[str, Any], link: str) -> list[dict[str, Any]]:
    result = []
    for name in stack["order"]:
        resource = stack["resources"][name]
        created = resource["created_at"]
        updated = resource["updated_at"]
        result.append(
            {
                "resource_name": name,
                "logical_resource_id": name,
                "physical_resource_id": resource["physical_id"],
                "resource_type": resource["type"],
                "resource_status": f"{resource['action']}_{resource['status']}",
                "resource_status_reason": resource["reason"],
                "creation_time": isotime(created),
                "updated_time": isotime(updated) if updated else isotime(created),
                "required_by": [
                    other
                    for other in stack["order"]
                    if name
                    in hot.references(stack["template"]["resources"][other].get("properties") or {})
                ],
                "links": [
                    {"href": f"{link}/resources/{name}", "rel": "self"},
                    {"href": link, "rel": "stack"},
                ],
            }
        )
    return result


# --- operations ---------------------------------------------------------------------


def validate_result(template: dict[str, Any]) -> dict[str, Any]:
    parameters = {}
    for name, spec in (template.get("parameters") or {}).items():
        spec = spec or {}
        item: dict[str, Any] = {
            "Type": PARAMETER_TYPES.get(str(spec.get("type")), spec.get("type")),
            "NoEcho": "true" if spec.get("hidden") else "false",
            "Description": spec.get("description", ""),
            "Label": spec.get("label", name),
        }
        if "default" in spec:
            item["Default"] = spec["default"]
        parameters[name] = item
    return {
        "Description": template.get("description", "No description"),
        "Parameters": parameters,
        "Environment": {
            "parameters": {},
            "parameter_defaults": {},
            "resource_registry": {"resources": {}},
        },
    }
