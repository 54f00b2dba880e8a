"""`billing_ledger_post`: the overdraw check finds the debited wallets by their unique key.

0004's check selected wallets by `kind = 'wallet' AND code IN (...)`, which PostgreSQL
answered by walking every wallet of the currency (3 ms with 1,000 wallets, in every
posting that may not overdraw); now each debited wallet is one index lookup.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION billing_ledger_post(
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
    -- The wallets this transaction takes money from, each found by its unique key.
    SELECT max(a.held_amount - a.posted_balance) INTO v_shortfall
      FROM (SELECT l.code FROM unnest(p_codes, p_amounts) AS l(code, amount)
             WHERE l.code LIKE 'wallet:%'
             GROUP BY l.code HAVING sum(l.amount) < 0) AS debited
      JOIN billing_ledgeraccount a
        ON a.code = debited.code AND a.currency = p_currency AND a.shard = 0
     WHERE a.posted_balance - a.held_amount < 0;
    IF v_shortfall IS NOT NULL THEN
      RAISE EXCEPTION 'The balance available does not cover this payment.'
        USING ERRCODE = 'BL001', DETAIL = v_shortfall::text;
    END IF;
  END IF;
  RETURN QUERY SELECT v_txn, true, p_hash;
END $$
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION billing_ledger_post(
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


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_customer_balance_proxy")]

    operations = [migrations.RunPython(install, restore)]
