"""Base classes for everything a client sends: write bodies and list filters.

Validation and the OpenAPI document agree because each input is declared once, as one of
these, and the schema is generated from the same declaration.

- `StrictInput` (every write body, named `…Input`): a field the serializer does not declare
  is refused with 400 naming it, as Stripe does, so a typo never passes silently.
- `QueryFilter` (every list's query parameters, named `…Filter`/`…Filters`): a parameter
  given empty (`region=`) is refused instead of meaning "no filter"; `cursor` and `limit`
  belong to the paginator.
- Both refuse control characters in text with a message that says so (DRF strips some of
  them as whitespace and then answers "may not be blank").
"""

import unicodedata
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

CONTROL_CHARACTERS_MESSAGE = "Contains control characters."
UNKNOWN_FIELD_MESSAGE = "Unknown field: this endpoint does not accept it."
EMPTY_PARAMETER_MESSAGE = "May not be empty: leave the parameter out to not filter by it."
# Text fields may span lines (ticket bodies, SSH public keys pasted with a newline).
_ALLOWED_CONTROL_CHARACTERS = frozenset("\t\n\r")


def has_control_characters(value: Any) -> bool:
    if isinstance(value, str):
        return any(
            unicodedata.category(character) == "Cc" and character not in _ALLOWED_CONTROL_CHARACTERS
            for character in value
        )
    if isinstance(value, list | tuple):
        return any(has_control_characters(item) for item in value)
    if isinstance(value, Mapping):
        return any(has_control_characters(k) or has_control_characters(v) for k, v in value.items())
    return False


class _ControlCharactersRefused(serializers.Serializer):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {
                name: [CONTROL_CHARACTERS_MESSAGE]
                for name in _field_names(self)
                if name in data and has_control_characters(_values(data, name))
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _field_names(serializer: serializers.Serializer) -> list[str]:
    return [str(name) for name in serializer.fields]


def _values(data: Mapping[str, Any], name: str) -> Any:
    """Every value given for `name`: a query string or form may repeat a parameter."""
    getlist = getattr(data, "getlist", None)
    return getlist(name) if getlist is not None else data[name]


class StrictInput(_ControlCharactersRefused):
    """A request body: only the declared fields, each without control characters."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {name: [UNKNOWN_FIELD_MESSAGE] for name in unknown}
                )
        return super().to_internal_value(data)


class QueryFilter(_ControlCharactersRefused):
    """A list's filters from the query string: an empty value is an error, not "any"."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {
                name: [EMPTY_PARAMETER_MESSAGE]
                for name in _field_names(self)
                if name in data and "" in _as_list(_values(data, name))
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]
