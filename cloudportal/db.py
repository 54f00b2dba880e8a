"""Database helpers the ORM lacks."""

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model


def rows_update(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Write `fields` of each object in one `UPDATE … FROM (VALUES …)` statement.

    Same result as `QuerySet.bulk_update`, which builds a CASE expression per row and field
    and spends ~0.4 ms of Python per cell: a reconciler cycle writing a hundred rows would
    spend most of its time there. Values are plain (no expressions).
    """
    if not objs or not fields:
        return 0
    meta = type(objs[0])._meta
    quote = connection.ops.quote_name
    columns: list[Field[Any, Any]] = [meta.pk, *(meta.get_field(name) for name in fields)]  # type: ignore[list-item]
    # Casts on every value: VALUES infers nothing from the target table.
    row = "(" + ", ".join(f"%s::{column.db_type(connection)}" for column in columns) + ")"
    params: list[Any] = [
        column.get_db_prep_save(getattr(obj, column.attname), connection)
        for obj in objs
        for column in columns
    ]
    names = [quote(str(column.column)) for column in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    # Only identifiers from the model's own metadata are interpolated; values are params.
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM (VALUES {', '.join([row] * len(objs))}) AS v({', '.join(names)}) "
        f"WHERE t.{names[0]} = v.{names[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
