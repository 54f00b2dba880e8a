"""Public ids: a short prefix and a ULID (`dep_01J9Z3...`), the only ids that leave the server.

ULIDs sort by creation time, so lists ordered by public id are ordered by age, and the
prefix tells a reader (and a support engineer) what kind of object an id names.
"""

import re
from typing import Any

from django.db import models
from ulid import ULID

ULID_LENGTH = 26
# A prefix and a ULID in Crockford's base32, as `new_public_id` writes them.
PUBLIC_ID_PATTERN = r"[a-z]{2,8}_[0-9A-HJKMNP-TV-Z]{26}"
_PUBLIC_ID = re.compile(PUBLIC_ID_PATTERN)


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


def public_id_is_valid(value: str) -> bool:
    """Whether `value` could be a public id; anything else names nothing (and may hold
    bytes, such as NUL, that the database refuses outright)."""
    return _PUBLIC_ID.fullmatch(value) is not None


class PublicIdField(models.CharField):
    """A unique, immutable `<prefix>_<ULID>` assigned when the row is first saved."""

    def __init__(self, *args: Any, prefix: str, **kwargs: Any) -> None:
        self.prefix = prefix
        kwargs.setdefault("max_length", len(prefix) + 1 + ULID_LENGTH)
        kwargs.setdefault("unique", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = getattr(model_instance, self.attname)
        if not value:
            value = new_public_id(self.prefix)
            setattr(model_instance, self.attname, value)
        return str(value)


class PublicIdConverter:
    """`<public_id:name>` in a URL: matches only a well-formed id (any prefix), so a path
    with anything else in it (`%00`, quotes, a raw integer) is a 404 before a view runs."""

    regex = PUBLIC_ID_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
