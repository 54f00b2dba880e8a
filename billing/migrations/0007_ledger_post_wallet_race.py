"""`billing_ledger_post`: a wallet created by two first postings at once is created once.

0006 inserted missing accounts with `ON CONFLICT (code, currency, shard) DO NOTHING`. A
wallet row is also unique on (customer, currency), and a unique index that is not the
arbiter raises instead of yielding: two postings creating the same wallet in the same
instant could fail one of them with an IntegrityError. Without an arbiter, every unique
index yields. The function is otherwise 0006's, so its text is taken from there.
"""

import importlib

from django.db import migrations

_previous = importlib.import_module("billing.migrations.0006_ledger_post_cover_check_by_key")
_NARROW = "ON CONFLICT (code, currency, shard) DO NOTHING"
assert _previous.CREATE.count(_NARROW) == 1
CREATE = _previous.CREATE.replace(_NARROW, "ON CONFLICT DO NOTHING")


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_previous.CREATE, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0006_ledger_post_cover_check_by_key")]

    operations = [migrations.RunPython(install, restore)]
