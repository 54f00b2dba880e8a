"""Static checks of HOT templates, run by the test suite before any template reaches Heat.

A library template must parse as HOT, declare exactly the parameters the renderer passes
(`rendering.stack_parameter_names`), produce every output of the contract
(`contract.CONTRACT_OUTPUTS`), and reference only parameters, resources and conditions it
declares. `parameters_check` checks rendered values against the declared constraints.
Each function returns a list of problems (empty when the template is fine).
"""

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from heat.contract import CONTRACT_OUTPUTS
from heat.rendering import TEMPLATES_DIR, hot_parse, stack_parameter_names, template_names

# heat_template_version values Heat registers (dates and release names).
HOT_VERSIONS = frozenset(
    {
        "2013-05-23", "2014-10-16", "2015-04-30", "2015-10-15", "2016-04-08", "2016-10-14",
        "2017-02-24", "2017-09-01", "2018-03-02", "2018-08-31", "2021-04-16",
        "newton", "ocata", "pike", "queens", "rocky", "wallaby",
    }
)  # fmt: skip
TOP_LEVEL_KEYS = frozenset(
    {
        "heat_template_version", "description", "parameter_groups", "parameters",
        "resources", "outputs", "conditions",
    }
)  # fmt: skip
PARAMETER_TYPES = frozenset({"string", "number", "json", "comma_delimited_list", "boolean"})
PSEUDO_PARAMETERS = frozenset({"OS::stack_name", "OS::stack_id", "OS::project_id"})


def _walk_functions(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (function name, argument) in a template subtree, e.g. ("get_param", "image")."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if len(node) == 1 and key in {"get_param", "get_resource", "get_attr", "if"}:
                yield key, value
            yield from _walk_functions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_functions(item)


def _reference_problems(
    document: Mapping[str, Any], parameters: set[str], resources: set[str], conditions: set[str]
) -> list[str]:
    problems: list[str] = []
    known_parameters = parameters | PSEUDO_PARAMETERS
    for function, argument in _walk_functions(
        {key: document.get(key) for key in ("resources", "outputs", "conditions")}
    ):
        target = argument[0] if isinstance(argument, list) and argument else argument
        if function == "get_param" and target not in known_parameters:
            problems.append(f"get_param refers to undeclared parameter {target!r}.")
        elif function in {"get_resource", "get_attr"} and target not in resources:
            problems.append(f"{function} refers to unknown resource {target!r}.")
        elif function == "if" and isinstance(target, str) and target not in conditions:
            problems.append(f"if refers to unknown condition {target!r}.")
    for section in ("resources", "outputs"):
        for name, body in (document.get(section) or {}).items():
            condition = body.get("condition") if isinstance(body, Mapping) else None
            if isinstance(condition, str) and condition not in conditions:
                problems.append(f"{section[:-1]} {name!r} uses unknown condition {condition!r}.")
    return problems


def template_validate(
    text: str,
    *,
    parameter_names: frozenset[str] | None = None,
    contract_outputs: tuple[str, ...] = CONTRACT_OUTPUTS,
) -> list[str]:
    """Problems of one template; parameters default to what the renderer passes."""
    expected_parameters = stack_parameter_names() if parameter_names is None else parameter_names
    try:
        document = hot_parse(text)
    except yaml.YAMLError as error:
        return [f"Not valid YAML: {error}"]
    if not isinstance(document, Mapping):
        return ["Not a HOT template: the document is not a mapping."]

    problems: list[str] = []
    version = document.get("heat_template_version")
    if str(version) not in HOT_VERSIONS:
        problems.append(f"Unknown heat_template_version {version!r}.")
    unknown_keys = sorted(set(document) - TOP_LEVEL_KEYS)
    if unknown_keys:
        problems.append(f"Unknown top-level sections: {', '.join(map(str, unknown_keys))}.")

    parameters = document.get("parameters") or {}
    resources = document.get("resources") or {}
    outputs = document.get("outputs") or {}
    conditions = document.get("conditions") or {}
    for section, value in [
        ("parameters", parameters),
        ("resources", resources),
        ("outputs", outputs),
        ("conditions", conditions),
    ]:
        if not isinstance(value, Mapping):
            problems.append(f"Section {section} is not a mapping.")
    if problems:
        return problems

    if not resources:
        problems.append("The template has no resources.")
    for name, body in resources.items():
        if not isinstance(body, Mapping) or not isinstance(body.get("type"), str):
            problems.append(f"Resource {name!r} has no type.")
    for name, body in parameters.items():
        if not isinstance(body, Mapping) or body.get("type") not in PARAMETER_TYPES:
            problems.append(f"Parameter {name!r} has no valid type.")

    declared = set(parameters)
    for name in sorted(expected_parameters - declared):
        problems.append(f"Does not declare parameter {name!r} that the renderer passes.")
    for name in sorted(declared - expected_parameters):
        problems.append(f"Declares parameter {name!r} that the renderer does not pass.")

    for name in contract_outputs:
        if name not in outputs:
            problems.append(f"Lacks contract output {name!r}.")
        elif not isinstance(outputs[name], Mapping) or "value" not in outputs[name]:
            problems.append(f"Output {name!r} has no value.")

    problems += _reference_problems(document, declared, set(resources), set(conditions))
    return problems


def template_library_validate() -> dict[str, list[str]]:
    """Problems of every template in the library, by file name (all empty when healthy)."""
    return {
        name: template_validate((TEMPLATES_DIR / name).read_text(encoding="utf-8"))
        for name in template_names()
    }


def _constraint_problems(name: str, value: Any, constraint: Mapping[str, Any]) -> list[str]:
    pattern = constraint.get("allowed_pattern")
    if isinstance(pattern, str) and isinstance(value, str) and not re.fullmatch(pattern, value):
        return [f"{name}={value!r} does not match {constraint['allowed_pattern']!r}."]
    if "length" in constraint and isinstance(value, str):
        bounds = constraint["length"]
        if not bounds.get("min", 0) <= len(value) <= bounds.get("max", len(value)):
            return [f"{name} has length {len(value)} outside {bounds}."]
    if "range" in constraint and isinstance(value, int | float):
        bounds = constraint["range"]
        if not bounds.get("min", value) <= value <= bounds.get("max", value):
            return [f"{name}={value} is outside {bounds}."]
    if "allowed_values" in constraint and value not in constraint["allowed_values"]:
        return [f"{name}={value!r} is not one of {constraint['allowed_values']}."]
    return []


def parameters_check(text: str, parameters: Mapping[str, Any]) -> list[str]:
    """Problems of parameter values against the template's declarations and constraints.

    Custom constraints (`nova.flavor`, `glance.image`, ...) need the cloud and are left to Heat.
    """
    declared: Mapping[str, Any] = hot_parse(text).get("parameters") or {}
    problems: list[str] = []
    for name, declaration in declared.items():
        if name not in parameters:
            if "default" not in declaration:
                problems.append(f"Parameter {name!r} has no value and no default.")
            continue
        value = parameters[name]
        kind = declaration.get("type")
        if kind == "string" and not isinstance(value, str):
            problems.append(f"Parameter {name!r} should be a string, not {value!r}.")
        elif kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"Parameter {name!r} should be a number, not {value!r}.")
        for constraint in declaration.get("constraints") or []:
            problems += _constraint_problems(name, value, constraint)
    for name in sorted(set(parameters) - set(declared)):
        problems.append(f"Parameter {name!r} is not declared by the template.")
    return problems
