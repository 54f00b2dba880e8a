"""The stack engine: resources walk through Heat's states as devcloud's clock moves.

Stacks progress lazily: every read first replays what the clock says has happened since
the last one (`advance_stack`), so nothing runs in the background and a frozen clock
freezes every stack. Event texts, reasons and orders follow heat-protocol.md §4 and
heat-observed.md (convergence engine, rollback disabled by default).
"""

from __future__ import annotations

import secrets
import string
import uuid
from typing import Any

from heat.devcloud import hot
from heat.devcloud.errors import HeatApiError
from heat.devcloud.store import Store

STACK_TYPE = "OS::Heat::Stack"
# Heat's reasons for the failures the portal must recognise (heat-protocol.md §4).
FAILURE_REASONS = {
    "no_valid_host": 'ResourceInError: resources.{name}: Went to status ERROR due to "Message: '
    'No valid host was found. There are not enough hosts available., Code: 500"',
    "quota": "Forbidden: resources.{name}: Quota exceeded for cores: Requested 16, but already "
    "used 0 of 8 cores (HTTP 403)",
}
RETRY_SECONDS = 15.0  # one of Heat's retries of a resource that went to ERROR
IN_PROGRESS_ACTIONS = {"CREATE", "DELETE", "SUSPEND", "RESUME", "ROLLBACK", "CHECK", "UPDATE"}


def status_of(stack: dict[str, Any]) -> str:
    return f"{stack['action']}_{stack['status']}"


def is_deleted(stack: dict[str, Any]) -> bool:
    return bool(stack["action"] == "DELETE" and stack["status"] == "COMPLETE")


def add_event(
    store: Store,
    stack: dict[str, Any],
    at: float,
    resource_name: str,
    status: str,
    reason: str,
    *,
    physical_id: str | None,
    resource_type: str,
) -> None:
    stack["events"].append(
        {
            "number": store.next_event_number(),
            "id": str(uuid.uuid4()),
            "time": at,
            "resource_name": resource_name,
            "physical_resource_id": physical_id or "",
            "resource_status": status,
            "reason": reason,
            "resource_type": resource_type,
        }
    )


def _stack_event(
    store: Store, stack: dict[str, Any], at: float, action: str, status: str, reason: str
) -> None:
    stack["action"], stack["status"], stack["reason"] = action, status, reason
    if action != "CREATE":
        stack["updated_at"] = at
    add_event(
        store,
        stack,
        at,
        stack["name"],
        f"{action}_{status}",
        reason,
        physical_id=stack["id"],
        resource_type=STACK_TYPE,
    )


def _resource_event(
    store: Store,
    stack: dict[str, Any],
    at: float,
    name: str,
    action: str,
    status: str,
    reason: str = "state changed",
) -> None:
    resource = stack["resources"][name]
    resource["action"], resource["status"], resource["reason"] = action, status, reason
    resource["updated_at"] = at
    add_event(
        store,
        stack,
        at,
        name,
        f"{action}_{status}",
        reason,
        physical_id=resource["physical_id"],
        resource_type=resource["type"],
    )


def evaluator_for(stack: dict[str, Any]) -> hot.Evaluator:
    resources = stack["resources"]

    def resource_id(name: str) -> Any:
        resource = resources.get(name)
        return (resource["physical_id"] or None) if resource else None

    def resource_attr(name: str, attribute: str) -> Any:
        resource = resources.get(name)
        if not resource or resource["action"] == "INIT":
            return None
        return resource["attributes"].get(attribute)

    return hot.Evaluator(
        stack["template"],
        stack["parameters"],
        resource_id=resource_id,
        resource_attr=resource_attr,
    )


def _materialise(store: Store, stack: dict[str, Any], name: str) -> None:
    """Give a resource its physical id and attributes, as the real service would."""
    resource = stack["resources"][name]
    spec = stack["template"]["resources"][name]
    properties = evaluator_for(stack).evaluate(spec.get("properties") or {})
    resource_type = resource["type"]
    physical_id = str(uuid.uuid4())
    attributes: dict[str, Any] = {}
    if resource_type == "OS::Neutron::Port":
        address = store.next_address("private_ip")
        attributes = {
            "fixed_ips": [{"ip_address": address, "subnet_id": str(uuid.uuid4())}],
            "mac_address": "fa:16:3e:%02x:%02x:%02x" % tuple(secrets.token_bytes(3)),  # noqa: UP031
            "network_id": properties.get("network"),
        }
    elif resource_type == "OS::Neutron::FloatingIP":
        attributes = {
            "floating_ip_address": store.next_address("floating_ip"),
            "port_id": properties.get("port_id"),
            "floating_network_id": properties.get("floating_network"),
        }
    elif resource_type == "OS::Nova::Server":
        attributes = {"name": properties.get("name"), "networks": {}, "addresses": {}}
    elif resource_type == "OS::Cinder::Volume":
        attributes = {"size": properties.get("size"), "status": "available"}
    elif resource_type == "OS::Heat::Value":
        attributes = {"value": properties.get("value")}
    elif resource_type == "OS::Heat::RandomString":
        length = int(properties.get("length", 32))
        alphabet = string.ascii_letters + string.digits
        attributes = {"value": "".join(secrets.choice(alphabet) for _ in range(length))}
    resource["physical_id"] = physical_id
    resource["attributes"] = attributes


def create_stack(store: Store, stack: dict[str, Any]) -> None:
    """Lay out the resources and start the CREATE traversal."""
    at = stack["created_at"]
    evaluator = evaluator_for(stack)
    order = hot.creation_order(stack["template"], evaluator)
    depends = hot.dependencies(stack["template"], evaluator)
    stack["resources"] = {
        name: {
            "type": stack["template"]["resources"][name]["type"],
            "action": "INIT",
            "status": "COMPLETE",
            "reason": "",
            "physical_id": "",
            "attributes": {},
            "created_at": at,
            "updated_at": None,
        }
        for name in order
    }
    stack["order"] = order
    stack["depends"] = {name: sorted(depends[name]) for name in order}
    fault = store.faults.get("fail_resource") or None
    failure = None
    if fault and fault.get("name") in stack["resources"]:
        reason = FAILURE_REASONS.get(fault.get("reason", ""), fault.get("reason") or "")
        # Heat retries a resource that went to ERROR action_retry_limit times first.
        retries = int(store.faults.get("action_retry_limit") or 0)
        failure = {
            "name": fault["name"],
            "reason": reason.format(name=fault["name"]),
            "delay": retries * float(store.data["timing"].get("retry", RETRY_SECONDS)),
        }
    _start(store, stack, "CREATE", list(order), at)
    stack["plan"]["failure"] = failure


def _needs(stack: dict[str, Any], action: str, members: list[str]) -> dict[str, list[str]]:
    """What each resource of a traversal waits for: its dependencies when making things,
    the resources that depend on it when taking them away."""
    depends: dict[str, list[str]] = stack.get("depends") or {
        # A stack saved before dependencies were kept: one resource after the other.
        name: stack["order"][: stack["order"].index(name)][-1:]
        for name in stack["order"]
    }
    inside = set(members)
    if action in {"CREATE", "RESUME"}:
        return {name: [n for n in depends.get(name, []) if n in inside] for name in members}
    return {
        name: [other for other in members if name in depends.get(other, [])] for name in members
    }


def _start(store: Store, stack: dict[str, Any], action: str, members: list[str], at: float) -> None:
    _stack_event(store, stack, at, action, "IN_PROGRESS", f"Stack {action} started")
    stack["plan"] = {
        "action": action,
        "pending": members,
        "needs": _needs(stack, action, members),
        "running": {},
        "done": [],
        "t": at,
        "failure": None,
    }


def _upgraded(stack: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """A plan saved by a devcloud that walked resources one at a time."""
    if "queue" not in plan:
        return plan
    members = ([plan["current"]] if plan.get("current") else []) + list(plan["queue"])
    upgraded = {
        "action": plan["action"],
        "pending": members,
        "needs": _needs(stack, plan["action"], members),
        "running": {},
        "done": [],
        "t": plan["due"],
        "failure": plan.get("failure"),
    }
    stack["plan"] = upgraded
    return upgraded


def _seconds(store: Store, action: str) -> float:
    key = {"CREATE": "create", "DELETE": "delete", "ROLLBACK": "delete"}.get(action, "action")
    return float(store.data["timing"][key])


def advance_stack(store: Store, stack: dict[str, Any]) -> bool:
    """Replay every transition due by now; True when anything changed.

    Like Heat's convergence engine, every resource whose dependencies are done starts at
    once, so independent resources run side by side and their events share a second.
    """
    plan = stack.get("plan")
    if not plan or stack.get("interrupted"):
        return False
    plan = _upgraded(stack, plan)
    now = store.now()
    changed = False
    action = plan["action"]
    default_action = "DELETE" if action == "ROLLBACK" else action
    # An update creates, updates and deletes resources in one traversal.
    per_resource: dict[str, str] = plan.get("resource_actions") or {}
    deadline = stack["created_at"] + 60 * (stack["timeout_mins"] or 60)
    failure = plan.get("failure")
    while True:
        at = plan["t"]
        done = set(plan["done"])
        ready = [name for name in plan["pending"] if set(plan["needs"].get(name, [])) <= done]
        for name in ready:
            plan["pending"].remove(name)
            resource_action = per_resource.get(name, default_action)
            _resource_event(store, stack, at, name, resource_action, "IN_PROGRESS")
            seconds = _seconds(store, action if action == "ROLLBACK" else resource_action)
            if failure and failure["name"] == name:
                seconds += float(failure.get("delay") or 0)
            plan["running"][name] = at + seconds
            changed = True
        if not plan["running"]:
            _finish(store, stack, at, "COMPLETE", None)
            return True
        due = min(plan["running"].values())
        if action == "CREATE" and deadline <= now and deadline <= due:
            for name in list(plan["running"]):
                _resource_event(
                    store, stack, deadline, name, "CREATE", "FAILED", "CREATE aborted (Timed out)"
                )
            _finish(store, stack, deadline, "FAILED", "Timed out")
            return True
        if due > now:
            return changed
        plan["t"] = due
        for name in [name for name, until in plan["running"].items() if until == due]:
            del plan["running"][name]
            resource_action = per_resource.get(name, default_action)
            if failure and failure["name"] == name:
                reason = failure["reason"]
                _resource_event(store, stack, due, name, resource_action, "FAILED", reason)
                for other in list(plan["running"]):
                    # The traversal stops: what else was under way is abandoned.
                    other_action = per_resource.get(other, default_action)
                    _resource_event(
                        store, stack, due, other, other_action, "FAILED",
                        f"{other_action} aborted",
                    )  # fmt: skip
                _finish(
                    store,
                    stack,
                    due,
                    "FAILED",
                    f"Resource {resource_action} failed: {failure['reason']}",
                )
                return True
            if resource_action == "CREATE":
                _materialise(store, stack, name)
            _resource_event(store, stack, due, name, resource_action, "COMPLETE")
            plan["done"].append(name)
        changed = True


def _finish(
    store: Store, stack: dict[str, Any], at: float, status: str, reason: str | None
) -> None:
    action = stack["plan"]["action"]
    stack["plan"] = None
    if action == "UPDATE":
        # What the update removed leaves the resource list (its events stay).
        gone = [
            name
            for name in stack["order"]
            if (stack["resources"][name]["action"], stack["resources"][name]["status"])
            == ("DELETE", "COMPLETE")
        ]
        for name in gone:
            stack["order"].remove(name)
            del stack["resources"][name]
            (stack.get("depends") or {}).pop(name, None)
    _stack_event(
        store, stack, at, action, status, reason or f"Stack {action} completed successfully"
    )
    if action == "DELETE" and status == "COMPLETE":
        stack["deleted_at"] = at
    elif action == "CREATE" and status == "FAILED" and not stack["disable_rollback"]:
        started = [n for n in reversed(stack["order"]) if stack["resources"][n]["action"] != "INIT"]
        _start(store, stack, "ROLLBACK", started, at)
        advance_stack(store, stack)


def delete_stack(store: Store, stack: dict[str, Any]) -> None:
    """Heat's convergence delete: cancel what runs, then delete every resource made."""
    at = store.now()
    advance_stack(store, stack)
    stack["interrupted"] = False
    plan = stack.get("plan")
    if plan and "queue" in plan:
        plan = _upgraded(stack, plan)
    if plan and plan["action"] != "DELETE":
        action = plan["action"]
        for name in plan["running"]:
            resource_action = (plan.get("resource_actions") or {}).get(name, action)
            reason = f"{resource_action} aborted (user triggered cancel)"
            _resource_event(store, stack, at, name, resource_action, "FAILED", reason)
        _stack_event(store, stack, at, action, "FAILED", f"Stack {action} cancelled")
    if plan and plan["action"] == "DELETE":
        return  # deleting again while DELETE_IN_PROGRESS just lets it go on
    made = [n for n in reversed(stack["order"]) if stack["resources"][n]["action"] != "INIT"]
    made = [
        n
        for n in made
        if stack["resources"][n]["action"] != "DELETE"
        or stack["resources"][n]["status"] != "COMPLETE"
    ]
    _start(store, stack, "DELETE", made, at)
    if store.faults.get("delete_failures", 0) > 0 and made:
        store.faults["delete_failures"] -= 1
        reason = f"Conflict: resources.{made[0]}: Volume is in use (HTTP 409)"
        stack["plan"]["failure"] = {"name": made[0], "reason": reason}
    advance_stack(store, stack)


def _properties(stack: dict[str, Any], names: list[str]) -> dict[str, Any]:
    evaluator = evaluator_for(stack)
    result: dict[str, Any] = {}
    for name in names:
        spec = (stack["template"].get("resources") or {}).get(name) or {}
        try:
            result[name] = (spec.get("type"), evaluator.evaluate(spec.get("properties") or {}))
        except (HeatApiError, KeyError, IndexError, TypeError, ValueError):
            result[name] = (spec.get("type"), None)
    return result


def _failure_for(store: Store, names: list[str]) -> dict[str, Any] | None:
    fault = store.faults.get("fail_resource") or None
    if not fault or fault.get("name") not in names:
        return None
    reason = FAILURE_REASONS.get(fault.get("reason", ""), fault.get("reason") or "")
    # Heat retries a resource that went to ERROR action_retry_limit times first.
    retries = int(store.faults.get("action_retry_limit") or 0)
    return {
        "name": fault["name"],
        "reason": reason.format(name=fault["name"]),
        "delay": retries * float(store.data["timing"].get("retry", RETRY_SECONDS)),
    }


def update_stack(
    store: Store,
    stack: dict[str, Any],
    *,
    template: dict[str, Any],
    parameters: dict[str, Any],
    given: dict[str, Any],
) -> None:
    """Heat's convergence update: resources the new template (under its conditions) no
    longer has are deleted, new ones created, changed ones updated in place; the rest are
    left alone, so a kept volume keeps its id. Refused while another action runs."""
    advance_stack(store, stack)
    if stack["status"] == "IN_PROGRESS":
        raise HeatApiError(
            409,
            "ActionInProgress",
            f"Stack {stack['name']} already has an action ({stack['action']}) in progress.",
        )
    at = store.now()
    resources = stack["resources"]
    made = [
        name
        for name in stack["order"]
        if resources[name]["action"] != "INIT"
        and (resources[name]["action"], resources[name]["status"]) != ("DELETE", "COMPLETE")
    ]
    before = _properties(stack, made)
    old_depends = stack.get("depends") or {}
    old_order = list(stack["order"])
    stack["template"], stack["parameters"] = template, parameters
    stack["given"] = {key: str(value) for key, value in given.items()}
    evaluator = evaluator_for(stack)
    order = hot.creation_order(template, evaluator)
    depends = hot.dependencies(template, evaluator)
    after = _properties(stack, order)
    actions: dict[str, str] = {}
    for name in order:
        resource = resources.get(name)
        if resource is None or name not in made or resource["status"] == "FAILED":
            actions[name] = "CREATE"  # new, or failed before: made afresh
        elif before.get(name) != after[name]:
            actions[name] = "UPDATE"
    removed = [name for name in reversed(old_order) if name in made and name not in order]
    for name in removed:
        actions[name] = "DELETE"
    for name, action in actions.items():
        if action == "CREATE":
            resources[name] = {
                "type": template["resources"][name]["type"],
                "action": "INIT",
                "status": "COMPLETE",
                "reason": "",
                "physical_id": "",
                "attributes": {},
                "created_at": at,
                "updated_at": None,
            }
    stack["order"] = order + [name for name in old_order if name in removed]
    stack["depends"] = {
        **{name: sorted(old_depends.get(name, [])) for name in removed},
        **{name: sorted(depends[name]) for name in order},
    }
    building = [name for name in order if name in actions]
    needs = {name: [n for n in stack["depends"][name] if n in building] for name in building}
    for name in removed:
        # Taken away after whatever (also removed) still depends on it.
        needs[name] = [other for other in removed if name in stack["depends"].get(other, [])]
    _start(store, stack, "UPDATE", building + removed, at)
    stack["plan"]["needs"] = needs
    stack["plan"]["resource_actions"] = actions
    failure = _failure_for(store, [name for name in building if actions[name] == "CREATE"])
    if failure is None and removed and store.faults.get("delete_failures", 0) > 0:
        # The same fault as a stack delete's: taking a resource away fails (Heat 27 seen).
        store.faults["delete_failures"] -= 1
        reason = f"Conflict: resources.{removed[0]}: Volume is in use (HTTP 409)"
        failure = {"name": removed[0], "reason": reason}
    stack["plan"]["failure"] = failure
    advance_stack(store, stack)


def run_action(store: Store, stack: dict[str, Any], action: str) -> None:
    """suspend / resume / check, with Heat's refusals."""
    advance_stack(store, stack)
    if stack["status"] == "IN_PROGRESS":
        raise HeatApiError(
            409,
            "ActionInProgress",
            f"Stack {stack['name']} already has an action ({stack['action']}) in progress.",
        )
    if action == "RESUME" and status_of(stack) != "SUSPEND_COMPLETE":
        raise HeatApiError(
            400,
            "NotSupported",
            f"Resuming a stack that is {status_of(stack)} is not supported.",
        )
    if action == "SUSPEND" and stack["status"] != "COMPLETE":
        raise HeatApiError(
            400,
            "NotSupported",
            f"Suspending a stack that is {status_of(stack)} is not supported.",
        )
    order = list(reversed(stack["order"])) if action == "SUSPEND" else list(stack["order"])
    _start(store, stack, action, order, store.now())
    advance_stack(store, stack)


def interrupt_in_progress(store: Store) -> None:
    """An engine crash: whatever was mid-traversal stays IN_PROGRESS until deleted."""
    for stack in store.data["stacks"].values():
        advance_stack(store, stack)
        if stack.get("plan") and stack["plan"]["action"] != "DELETE":
            stack["interrupted"] = True


def outputs(stack: dict[str, Any]) -> list[dict[str, Any]]:
    evaluator = evaluator_for(stack)
    result = []
    for key, spec in (stack["template"].get("outputs") or {}).items():
        spec = spec or {}
        item: dict[str, Any] = {
            "output_key": key,
            "description": spec.get("description") or "No description given",
        }
        try:
            if "condition" in spec and not evaluator.condition(spec["condition"]):
                item["output_value"] = None
            else:
                item["output_value"] = evaluator.evaluate(spec.get("value"))
        except (HeatApiError, KeyError, IndexError, TypeError, ValueError) as error:
            item["output_value"] = None
            item["output_error"] = str(error)
        result.append(item)
    return result
