"""HOT templates as devcloud understands them: parsing, parameters, conditions, functions.

Only the part of the HOT spec the portal's templates use is implemented, with Heat's
error types and messages, so a template that devcloud accepts is one Heat accepts too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from heat.devcloud.errors import HeatApiError

VERSIONS = {
    "2013-05-23",
    "2014-10-16",
    "2015-04-30",
    "2015-10-15",
    "2016-04-08",
    "2016-10-14",
    "2017-02-24",
    "2017-09-01",
    "2018-03-02",
    "2018-08-31",
    "2021-04-16",
    "newton",
    "ocata",
    "pike",
    "queens",
    "rocky",
    "wallaby",
}
PSEUDO_PARAMETERS = ("OS::stack_name", "OS::stack_id", "OS::project_id")
PARAMETER_TYPES = {"string", "number", "json", "comma_delimited_list", "boolean"}
# Attributes each supported resource type exposes; values come from the resource's record.
RESOURCE_TYPES = {
    "OS::Nova::Server",
    "OS::Cinder::Volume",
    "OS::Cinder::VolumeAttachment",
    "OS::Neutron::Port",
    "OS::Neutron::FloatingIP",
    "OS::Neutron::SecurityGroup",
    "OS::Heat::None",
    "OS::Heat::Value",
    "OS::Heat::RandomString",
}


class _HotLoader(yaml.SafeLoader):
    """YAML as Heat reads it: `2021-04-16` stays a string, never a date."""


_HotLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def validation_failed(message: str) -> HeatApiError:
    return HeatApiError(400, "StackValidationFailed", message)


def parse_template(raw: Any) -> dict[str, Any]:
    """A template dict from a request body's `template` (dict, or JSON/YAML text)."""
    if raw is None:
        raise HeatApiError(400, "HTTPBadRequest", "No template specified")
    template = raw
    if isinstance(raw, str):
        try:
            template = yaml.load(raw, Loader=_HotLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as error:
            raise HeatApiError(
                400,
                "HTTPBadRequest",
                f"Template not in valid format: Error parsing template [root stack] {error}",
            ) from error
    if not isinstance(template, dict):
        raise HeatApiError(400, "HTTPBadRequest", "Template not in valid format: not a mapping")
    version = template.get("heat_template_version")
    if version is None:
        raise HeatApiError(400, "InvalidTemplateVersion", "Template format version not found.")
    if str(version) not in VERSIONS:
        raise HeatApiError(
            400,
            "InvalidTemplateVersion",
            f'The template version is invalid: "heat_template_version: {version}". '
            f"Should be one of: {', '.join(sorted(VERSIONS))}",
        )
    for section in ("parameters", "resources", "outputs", "conditions"):
        if template.get(section) is not None and not isinstance(template[section], dict):
            raise HeatApiError(
                400, "InvalidTemplateSection", f"The template section is invalid: {section}"
            )
    for name, resource in (template.get("resources") or {}).items():
        resource_type = (resource or {}).get("type")
        if resource_type not in RESOURCE_TYPES:
            raise validation_failed(f"The Resource Type ({resource_type}) could not be found.")
        if not isinstance(name, str):
            raise validation_failed(f"Invalid resource name {name}")
    return template


def _convert(name: str, kind: str, value: Any) -> Any:
    invalid = f"Parameter '{name}' is invalid: "
    if kind == "number":
        if isinstance(value, bool):
            raise validation_failed(f"{invalid}Value '{value}' is not an integer")
        try:
            number = float(value)
        except (TypeError, ValueError) as error:
            raise validation_failed(f"{invalid}could not convert string to float: '{value}'") from (
                error
            )
        return int(number) if number.is_integer() and math.isfinite(number) else number
    if kind == "boolean":
        text = str(value).lower()
        if text in {"true", "t", "on", "y", "yes", "1"}:
            return True
        if text in {"false", "f", "off", "n", "no", "0"}:
            return False
        raise validation_failed(f"{invalid}Unrecognized value '{value}', acceptable values are ...")
    if kind == "json":
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as error:
                raise validation_failed(f"{invalid}Value must be valid JSON: {error}") from error
        return value
    if kind == "comma_delimited_list":
        if isinstance(value, list):
            return [str(item) for item in value]
        return [item.strip() for item in str(value).split(",")] if str(value) else []
    return value if isinstance(value, str) else str(value)


def _check_constraints(
    name: str, value: Any, constraints: list[Any], known: Mapping[str, list[str]]
) -> None:
    invalid = f"Parameter '{name}' is invalid: "
    for constraint in constraints or []:
        description = constraint.get("description")
        if "allowed_values" in constraint:
            allowed = constraint["allowed_values"]
            if value not in allowed and str(value) not in [str(item) for item in allowed]:
                raise validation_failed(
                    invalid
                    + (
                        description
                        or f'"{value}" is not an allowed value {allowed}'.replace("'", "")
                    )
                )
        elif "range" in constraint:
            bounds = constraint["range"]
            low, high = bounds.get("min"), bounds.get("max")
            if (low is not None and value < low) or (high is not None and value > high):
                raise validation_failed(
                    invalid + (description or f"{value} is out of range (min: {low}, max: {high})")
                )
        elif "length" in constraint:
            bounds = constraint["length"]
            low, high = bounds.get("min"), bounds.get("max")
            if (low is not None and len(value) < low) or (high is not None and len(value) > high):
                raise validation_failed(
                    invalid
                    + (
                        description
                        or f"length ({len(value)}) is out of range (min: {low}, max: {high})"
                    )
                )
        elif "allowed_pattern" in constraint:
            pattern = constraint["allowed_pattern"]
            if not re.fullmatch(pattern, str(value)):
                raise validation_failed(
                    invalid + (description or f'"{value}" does not match pattern "{pattern}"')
                )
        elif "custom_constraint" in constraint:
            kind = constraint["custom_constraint"]
            names = known.get(kind)
            # Unless the operator listed what exists, any name is taken to exist.
            if names is not None and value not in names:
                label = {"nova.flavor": "Flavor", "glance.image": "Image"}.get(kind, "Network")
                raise validation_failed(
                    f"{invalid}Error validating value '{value}': "
                    f"The {label} ({value}) could not be found."
                )


def resolve_parameters(
    template: Mapping[str, Any],
    given: Mapping[str, Any],
    *,
    pseudo: Mapping[str, str],
    known: Mapping[str, list[str]],
) -> dict[str, Any]:
    """Typed parameter values, checked against types and constraints as Heat does."""
    declared: dict[str, Any] = template.get("parameters") or {}
    for name in given:
        if name not in declared:
            raise HeatApiError(
                400, "UnknownUserParameter", f"The Parameter ({name}) was not defined in template."
            )
    values: dict[str, Any] = dict(pseudo)
    for name, spec in declared.items():
        spec = spec or {}
        kind = spec.get("type")
        if kind not in PARAMETER_TYPES:
            raise validation_failed(f"Invalid type ({kind})")
        if name in given:
            raw = given[name]
        elif "default" in spec:
            raw = spec["default"]
        else:
            raise HeatApiError(
                400, "UserParameterMissing", f"The Parameter ({name}) was not provided."
            )
        value = _convert(name, kind, raw)
        _check_constraints(name, value, spec.get("constraints") or [], known)
        values[name] = value
    return values


class Evaluator:
    """Evaluates conditions and intrinsic functions against parameters and resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, Any],
        *,
        resource_id: Callable[[str], Any] = lambda name: None,
        resource_attr: Callable[[str, str], Any] = lambda name, attr: None,
    ) -> None:
        self.template = template
        self.parameters = parameters
        self.resource_id = resource_id
        self.resource_attr = resource_attr
        self._conditions: dict[str, bool] = {}

    def condition(self, name_or_expression: Any) -> bool:
        if isinstance(name_or_expression, bool):
            return name_or_expression
        if isinstance(name_or_expression, str):
            definitions = self.template.get("conditions") or {}
            if name_or_expression not in definitions:
                raise validation_failed(f"Invalid condition {name_or_expression}")
            if name_or_expression not in self._conditions:
                self._conditions[name_or_expression] = bool(
                    self.evaluate(definitions[name_or_expression])
                )
            return self._conditions[name_or_expression]
        return bool(self.evaluate(name_or_expression))

    def evaluate(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.evaluate(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((function, argument),) = node.items()
            handler = getattr(self, "_fn_" + str(function).replace("-", "_"), None)
            if handler is not None:
                return handler(argument)
        return {key: self.evaluate(value) for key, value in node.items()}

    def _fn_get_param(self, argument: Any) -> Any:
        path = argument if isinstance(argument, list) else [argument]
        name = self.evaluate(path[0])
        if name not in self.parameters:
            raise validation_failed(f"The Parameter ({name}) was not provided.")
        value = self.parameters[name]
        for key in path[1:]:
            value = value[self.evaluate(key)]
        return value

    def _fn_get_resource(self, argument: Any) -> Any:
        return self.resource_id(argument)

    def _fn_get_attr(self, argument: Any) -> Any:
        name, attribute, *path = self.evaluate(argument)
        value = self.resource_attr(name, attribute)
        for key in path:
            if value is None:
                return None
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    def _fn_str_replace(self, argument: Any) -> Any:
        text = str(self.evaluate(argument["template"]))
        for key, value in (self.evaluate(argument.get("params")) or {}).items():
            text = text.replace(str(key), "" if value is None else str(value))
        return text

    def _fn_list_join(self, argument: Any) -> Any:
        delimiter, *lists = self.evaluate(argument)
        items: list[Any] = []
        for part in lists:
            items.extend(part if isinstance(part, list) else [part])
        return str(delimiter).join("" if item is None else str(item) for item in items)

    def _fn_str_split(self, argument: Any) -> Any:
        delimiter, text, *index = self.evaluate(argument)
        parts = str(text).split(delimiter)
        return parts[int(index[0])] if index else parts

    def _fn_equals(self, argument: Any) -> Any:
        left, right = self.evaluate(argument)
        return left == right or str(left) == str(right)

    def _fn_not(self, argument: Any) -> Any:
        return not self.condition(argument)

    def _fn_and(self, argument: Any) -> Any:
        return all(self.condition(item) for item in argument)

    def _fn_or(self, argument: Any) -> Any:
        return any(self.condition(item) for item in argument)

    def _fn_if(self, argument: Any) -> Any:
        condition, when_true, *when_false = argument
        if self.condition(condition):
            return self.evaluate(when_true)
        return self.evaluate(when_false[0]) if when_false else None

    def _fn_get_file(self, argument: Any) -> Any:
        return ""


def references(node: Any) -> set[str]:
    """Names of resources a property tree refers to (get_resource, get_attr)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "get_resource" and isinstance(value, str):
                found.add(value)
            elif key == "get_attr" and isinstance(value, list) and value:
                found.add(str(value[0]))
            else:
                found |= references(value)
    return found


def dependencies(template: Mapping[str, Any], evaluator: Evaluator) -> dict[str, set[str]]:
    """Each active resource (its condition holds) and the active resources it needs first."""
    resources: dict[str, Any] = template.get("resources") or {}
    active = [
        name
        for name, spec in resources.items()
        if "condition" not in spec or evaluator.condition(spec["condition"])
    ]
    depends: dict[str, set[str]] = {}
    for name in active:
        spec = resources[name]
        needed = references(spec.get("properties") or {})
        explicit = spec.get("depends_on") or []
        needed |= set([explicit] if isinstance(explicit, str) else explicit)
        missing = needed - set(resources)
        if missing:
            raise validation_failed(
                f'The specified reference "{sorted(missing)[0]}" (in {name}) is incorrect.'
            )
        depends[name] = needed & set(active)
    return depends


def creation_order(template: Mapping[str, Any], evaluator: Evaluator) -> list[str]:
    """Active resources (their condition holds) in an order that respects dependencies."""
    depends = dependencies(template, evaluator)
    order: list[str] = []
    remaining = list(depends)
    while remaining:
        ready = [name for name in remaining if depends[name] <= set(order)]
        if not ready:
            raise validation_failed(f"Circular Dependency Found: {', '.join(remaining)}")
        order.extend(ready)
        remaining = [name for name in remaining if name not in ready]
    return order
