"""`billing_ledger_post`: every statement in it is planned once per session.

0007's function found and locked the accounts with `(code, shard) IN (SELECT * FROM
unnest(p_codes, p_shards))`. A plan for that depends on the arrays' length, so PostgreSQL's
plan cache never settled on a generic plan and planned three statements again at every
posting: a quarter of the server's time. Now each line's account is one probe of the
unique (code, currency, shard) index, and the lines are posted in account-id order, each
UPDATE taking its account's row lock: the same fixed order as 0007's `ORDER BY a.id FOR
UPDATE` (and every other locker of accounts), without the statement that took it. The
overdraw check reads the wallets' final balances off those UPDATEs instead of querying
them again. Entries are therefore inserted in account-id order, not the caller's order.
"""

import importlib

from django.db import migrations

_previous = importlib.import_module("billing.migrations.0007_ledger_post_wallet_race")

CREATE = """
CREATE OR REPLACE FUNCTION billing_ledger_post(
    p_public_id text, p_key text, p_kind text, p_memo text, p_currency text, p_hash text,
    p_metadata jsonb, p_created_at timestamptz, p_must_cover boolean,
    p_codes text[], p_shards smallint[], p_customer_ids bigint[], p_amounts bigint[]
) RETURNS TABLE (transaction_id bigint, created boolean, stored_hash text)
LANGUAGE plpgsql AS $$
DECLARE
  v_txn bigint;
  v_ids bigint[];
  v_missing boolean := false;
  v_code text;
  v_shard smallint;
  v_customer bigint;
  v_line integer;
  v_account bigint;
  v_previous bigint;
  v_balance bigint;
  v_held bigint;
  v_seq bigint;
  v_net bigint := 0;
  v_available bigint := 0;
  v_wallet boolean := false;
  v_shortfall bigint := 0;
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

  -- Each line's account: one unique-index probe, a plan that does not depend on the arrays.
  FOR i IN 1 .. array_length(p_codes, 1) LOOP
    SELECT a.id INTO v_account FROM billing_ledgeraccount a
     WHERE a.code = p_codes[i] AND a.currency = p_currency AND a.shard = p_shards[i];
    v_ids[i] := v_account;
    v_missing := v_missing OR v_account IS NULL;
  END LOOP;

  IF v_missing THEN
    -- Missing accounts are created first, one by one in (code, shard) order and before any
    -- lock is taken: two postings creating the same rows queue on the first they share
    -- instead of each holding a row the other waits for. Without an arbiter, a wallet's
    -- other unique index (customer, currency) yields too.
    FOR v_code, v_shard, v_customer IN
        SELECT DISTINCT l.code, l.shard, l.customer_id
          FROM unnest(p_codes, p_shards, p_customer_ids) AS l(code, shard, customer_id)
         ORDER BY l.code, l.shard LOOP
      INSERT INTO billing_ledgeraccount
             (code, shard, kind, customer_id, currency, posted_balance, held_amount, entry_seq,
              created_at)
      VALUES (v_code, v_shard, split_part(v_code, ':', 1), v_customer, p_currency, 0, 0, 0,
              p_created_at)
      ON CONFLICT DO NOTHING;
    END LOOP;
    FOR i IN 1 .. array_length(p_codes, 1) LOOP
      IF v_ids[i] IS NULL THEN
        SELECT a.id INTO STRICT v_account FROM billing_ledgeraccount a
         WHERE a.code = p_codes[i] AND a.currency = p_currency AND a.shard = p_shards[i];
        v_ids[i] := v_account;
      END IF;
    END LOOP;
  END IF;

  -- The lines in account-id order: each UPDATE locks its account, so postings sharing
  -- accounts lock them in the same order and never wait on each other in a circle.
  FOR v_line IN SELECT u.n FROM unnest(v_ids) WITH ORDINALITY AS u(id, n) ORDER BY u.id, u.n
  LOOP
    v_account := v_ids[v_line];
    IF v_account IS DISTINCT FROM v_previous THEN
      -- The previous account's lines are all in: a wallet this transaction took money
      -- from may not end below what it holds.
      IF v_wallet AND v_net < 0 AND v_available < 0 THEN
        v_shortfall := greatest(v_shortfall, -v_available);
      END IF;
      v_net := 0;
    END IF;
    UPDATE billing_ledgeraccount a
       SET posted_balance = a.posted_balance + p_amounts[v_line], entry_seq = a.entry_seq + 1
     WHERE a.id = v_account
    RETURNING a.posted_balance, a.held_amount, a.entry_seq INTO v_balance, v_held, v_seq;
    INSERT INTO billing_ledgerentry
           (transaction_id, account_id, amount, currency, account_seq, balance_after, created_at)
    VALUES (v_txn, v_account, p_amounts[v_line], p_currency, v_seq, v_balance, p_created_at);
    v_previous := v_account;
    v_net := v_net + p_amounts[v_line];
    v_available := v_balance - v_held;
    v_wallet := p_codes[v_line] LIKE 'wallet:%';
  END LOOP;
  IF v_wallet AND v_net < 0 AND v_available < 0 THEN
    v_shortfall := greatest(v_shortfall, -v_available);
  END IF;

  IF p_must_cover AND v_shortfall > 0 THEN
    RAISE EXCEPTION 'The balance available does not cover this payment.'
      USING ERRCODE = 'BL001', DETAIL = v_shortfall::text;
  END IF;
  transaction_id := v_txn;
  created := true;
  stored_hash := p_hash;
  RETURN NEXT;
END $$
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_previous.CREATE, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0011_refund_submission")]

    operations = [migrations.RunPython(install, restore)]
