"""Public ids: a short prefix and a ULID (`dep_01J9Z3...`), the only ids that leave the server.

ULIDs sort by creation time, so lists ordered by public id are ordered by age, and the
prefix tells a reader (and a support engineer) what kind of object an id names.
"""

from typing import Any

from django.db import models
from ulid import ULID

ULID_LENGTH = 26


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


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
