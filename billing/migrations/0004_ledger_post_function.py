"""`billing_ledger_post(...)`: one posting in one round trip, on PostgreSQL.

`billing.services.ledger_post` calls it; the lock on the accounts is then held only while
the server runs this function (plus the commit), never while a Python process that may be
descheduled works between statements — what lets 8 writers share one hot account.

It inserts the transaction unless its key exists (then returns the existing one's id and
hash, posting nothing), locks the accounts the lines touch in id order (creating missing
ones first; a line's account is its code and shard), applies each line (balance and sequence on the account row, an entry with the
balance after), and, when `p_must_cover` (the caller's overdraw rule says the kind may not
overdraw), raises SQLSTATE BL001 with the shortfall as DETAIL if a wallet the transaction
debits ends with posted - held below zero; the whole statement is then undone.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION billing_ledger_post(
    p_public_id text, p_key text, p_kind text, p_memo text, p_currency text, p_hash text,
    p_metadata jsonb, p_created_at timestamptz, p_must_cover boolean,
    p_codes text[], p_shards smallint[], p_customer_ids bigint[], p_amounts bigint[]
) RETURNS TABLE (transaction_id bigint, created boolean, stored_hash text)
LANGUAGE plpgsql AS $$
DECLARE
  v_txn bigint;
  v_found integer;
  v_code text;
  v_shard smallint;
  v_customer bigint;
  v_account bigint;
  v_balance bigint;
  v_seq bigint;
  v_shortfall bigint;
BEGIN
  INSERT INTO billing_ledgertransaction
         (public_id, idempotency_key, kind, memo, currency, payload_hash, metadata, created_at)
  VALUES (p_public_id, p_key, p_kind, p_memo, p_currency, p_hash, p_metadata, p_created_at)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id INTO v_txn;
  IF v_txn IS NULL THEN
    RETURN QUERY SELECT t.id, false, t.payload_hash::text
      FROM billing_ledgertransaction t WHERE t.idempotency_key = p_key;
    RETURN;
  END IF;

  -- Missing accounts are created first, one by one in (code, shard) order and before any
  -- lock is taken: two postings creating the same rows queue on the first they share
  -- instead of each holding a row the other waits for.
  SELECT count(*) INTO v_found FROM billing_ledgeraccount a
   WHERE a.currency = p_currency
     AND (a.code, a.shard) IN (SELECT * FROM unnest(p_codes, p_shards));
  IF v_found < (SELECT count(DISTINCT (l.c, l.s)) FROM unnest(p_codes, p_shards) AS l(c, s)) THEN
    FOR v_code, v_shard, v_customer IN
        SELECT DISTINCT l.code, l.shard, l.customer_id
          FROM unnest(p_codes, p_shards, p_customer_ids) AS l(code, shard, customer_id)
         ORDER BY l.code, l.shard LOOP
      INSERT INTO billing_ledgeraccount
             (code, shard, kind, customer_id, currency, posted_balance, held_amount, entry_seq,
              created_at)
      VALUES (v_code, v_shard, split_part(v_code, ':', 1), v_customer, p_currency, 0, 0, 0,
              p_created_at)
      ON CONFLICT (code, currency, shard) DO NOTHING;
    END LOOP;
  END IF;
  PERFORM 1 FROM billing_ledgeraccount a
    WHERE a.currency = p_currency
      AND (a.code, a.shard) IN (SELECT * FROM unnest(p_codes, p_shards))
    ORDER BY a.id FOR UPDATE;

  FOR i IN 1 .. array_length(p_codes, 1) LOOP
    UPDATE billing_ledgeraccount a
       SET posted_balance = a.posted_balance + p_amounts[i], entry_seq = a.entry_seq + 1
     WHERE a.code = p_codes[i] AND a.shard = p_shards[i] AND a.currency = p_currency
    RETURNING a.id, a.posted_balance, a.entry_seq INTO v_account, v_balance, v_seq;
    INSERT INTO billing_ledgerentry
           (transaction_id, account_id, amount, currency, account_seq, balance_after, created_at)
    VALUES (v_txn, v_account, p_amounts[i], p_currency, v_seq, v_balance, p_created_at);
  END LOOP;

  IF p_must_cover THEN
    SELECT max(a.held_amount - a.posted_balance) INTO v_shortfall
      FROM billing_ledgeraccount a
     WHERE a.currency = p_currency AND a.kind = 'wallet'
       AND a.posted_balance - a.held_amount < 0 AND a.shard = 0
       AND a.code IN (SELECT l.code FROM unnest(p_codes, p_amounts) AS l(code, amount)
                       GROUP BY l.code HAVING sum(l.amount) < 0);
    IF v_shortfall IS NOT NULL THEN
      RAISE EXCEPTION 'The balance available does not cover this payment.'
        USING ERRCODE = 'BL001', DETAIL = v_shortfall::text;
    END IF;
  END IF;
  RETURN QUERY SELECT v_txn, true, p_hash;
END $$
"""

DROP = (
    "DROP FUNCTION billing_ledger_post(text, text, text, text, text, text, jsonb, timestamptz, "
    "boolean, text[], smallint[], bigint[], bigint[])"
)


# SQLite rebuilt billing_ledgerentry for 0003 (its way to alter a column), which dropped
# the append-only triggers 0002 made: make them again.
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'The ledger is append-only: {operation} on {table} is refused'); END"
    for table in ("billing_ledgerentry", "billing_ledgertransaction")
    for operation in ("UPDATE", "DELETE")
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_account_shards")]

    operations = [migrations.RunPython(install, remove)]
