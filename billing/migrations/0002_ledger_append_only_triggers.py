"""Ledger entries and transactions are append-only, and each transaction balances.

PostgreSQL: row triggers refuse UPDATE and DELETE, statement triggers refuse TRUNCATE
(unless the session sets `billing.allow_truncate = on`: test teardown flushes tables
that way), and a deferred constraint trigger refuses, at commit, a transaction whose
entries do not sum to zero or number fewer than two. SQLite (`make run`'s zero-setup
database) gets the UPDATE/DELETE refusal too.
"""

from django.db import migrations

TABLES = ("billing_ledgerentry", "billing_ledgertransaction")

POSTGRES_INSTALL = [
    """
    CREATE FUNCTION billing_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'TRUNCATE' AND current_setting('billing.allow_truncate', true) = 'on' THEN
        RETURN NULL;
      END IF;
      RAISE EXCEPTION 'The ledger is append-only: % on % is refused; post a correcting transaction instead.',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
    END $$
    """,
    """
    CREATE FUNCTION billing_ledger_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      total numeric;
      legs integer;
    BEGIN
      SELECT coalesce(sum(amount), 0), count(*) INTO total, legs
        FROM billing_ledgerentry WHERE transaction_id = NEW.transaction_id;
      IF total <> 0 OR legs < 2 THEN
        RAISE EXCEPTION 'Ledger transaction % does not balance: % entries summing to %.',
          NEW.transaction_id, legs, total USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$
    """,
    *(
        statement
        for table in TABLES
        for statement in (
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION billing_ledger_append_only()",
        )
    ),
    "CREATE CONSTRAINT TRIGGER billing_ledgerentry_balanced AFTER INSERT ON billing_ledgerentry "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_ledger_balanced()",
]

POSTGRES_REMOVE = [
    "DROP TRIGGER billing_ledgerentry_balanced ON billing_ledgerentry",
    *(
        f"DROP TRIGGER {table}_{name} ON {table}"
        for table in TABLES
        for name in ("append_only", "no_truncate")
    ),
    "DROP FUNCTION billing_ledger_balanced()",
    "DROP FUNCTION billing_ledger_append_only()",
]

SQLITE_INSTALL = [
    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'The ledger is append-only: {operation} on {table} is refused'); END"
    for table in TABLES
    for operation in ("UPDATE", "DELETE")
]

SQLITE_REMOVE = [
    f"DROP TRIGGER {table}_no_{operation.lower()}"
    for table in TABLES
    for operation in ("UPDATE", "DELETE")
]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": POSTGRES_INSTALL, "sqlite": SQLITE_INSTALL}.get(vendor, [])
    for statement in statements:
        schema_editor.execute(statement, params=None)


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": POSTGRES_REMOVE, "sqlite": SQLITE_REMOVE}.get(vendor, [])
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_ledger")]

    operations = [migrations.RunPython(install, remove)]
