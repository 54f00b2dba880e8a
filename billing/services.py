"""Every write to the ledger: posting transactions, wallets, holds, staff adjustments.

The API other apps call (keyword-only, amounts in integer micro-units):

- `ledger_post(key=, kind=, memo=, lines=[Line.wallet(...), Line.system(...)])` posts one
  balanced transaction exactly once per idempotency key and returns it.
- `hold_place` / `hold_change` / `hold_release` reserve money on a wallet.
- `wallet_adjust` is the staff "adjust balance" (credit or debit with a reason).
- `usage_charge_post` charges one subject's use of one component in one window.
- `usage_watermark_advance` records how far usage is posted (invoices wait for it).

Every amount is an int of micro-units; `billing.money` converts from Decimal.

Reads (balances, entries, holds) are in `billing.selectors`.
"""

import hashlib
import json
import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import psycopg
from django.db import DatabaseError, connection, transaction
from django.db.models import Field, Q
from django.utils import timezone

from accounts import services as accounts_services
from accounts.activity import Actor
from accounts.models import ActivityVerb, Customer
from billing import signals
from billing.exceptions import (
    AdjustmentInvalid,
    HoldNotActive,
    InsufficientFunds,
    LedgerKeyReused,
    LedgerTransactionInvalid,
)
from billing.models import (
    CURRENCIES,
    DEFAULT_CURRENCY,
    KINDS_THAT_MAY_OVERDRAW,
    SYSTEM_ACCOUNT_SHARDS,
    AccountKind,
    Hold,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    SystemAccount,
    TransactionKind,
    UsageCharge,
    UsageWatermark,
    wallet_code,
)
from billing.money import micros_to_decimal
from cloudportal.db import rows_update
from cloudportal.ids import new_public_id

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Line:
    """One leg of a transaction: `amount` micro-units on one account, > 0 credits it,
    < 0 debits it. Build it with `Line.wallet(customer, amount)` or
    `Line.system(SystemAccount.REVENUE_COMPUTE, amount)`."""

    code: str
    amount: int
    customer_id: int | None = None

    @classmethod
    def wallet(cls, customer: Customer, amount: int) -> "Line":
        return cls(code=wallet_code(customer.public_id), amount=amount, customer_id=customer.pk)

    @classmethod
    def system(cls, account: SystemAccount, amount: int) -> "Line":
        return cls(code=SystemAccount(account).value, amount=amount)


# --- Posting ------------------------------------------------------------------------------


def ledger_post(
    *,
    key: str,
    kind: TransactionKind | str,
    memo: str,
    lines: Sequence[Line],
    currency: str = DEFAULT_CURRENCY,
    metadata: Mapping[str, Any] | None = None,
) -> LedgerTransaction:
    """Post one balanced transaction, exactly once per `key`; returns it.

    `key` is a business key naming the event (`stripe:pi:<id>`, `usage:<dep>:<window>`,
    `adjust:<uuid>`). If a transaction with that key exists — posted before, or by another
    process at this very moment — it is returned and nothing is posted; if it was posted
    with other contents, `LedgerKeyReused` is raised. `lines` are two or more non-zero
    integer amounts (micro-units, `billing.money.micros_from_decimal` rounds a Decimal)
    summing to zero, else `LedgerTransactionInvalid`. Wallets are created on first use.
    A debit a wallet cannot cover raises `InsufficientFunds` unless `kind` may overdraw
    (`models.KINDS_THAT_MAY_OVERDRAW`, the overdraw rule). Atomic on its own (a savepoint
    inside a caller's transaction); the touched account rows are locked in id order, and
    each entry records the balance after it.
    """
    kind = TransactionKind(kind)
    _validate(key=key, memo=memo, lines=lines, currency=currency)
    payload_hash = _payload_hash(kind=kind, currency=currency, lines=lines)
    txn = LedgerTransaction(
        public_id=new_public_id("txn"),
        idempotency_key=key,
        kind=kind,
        memo=memo,
        currency=currency,
        payload_hash=payload_hash,
        metadata=dict(metadata or {}),
        created_at=timezone.now(),
    )
    must_cover = kind not in KINDS_THAT_MAY_OVERDRAW
    shard = _key_shard(key)
    post = _post_in_database if connection.vendor == "postgresql" else _post_in_python
    existing_id = post(txn=txn, lines=lines, shard=shard, must_cover=must_cover)
    if existing_id is not None:
        existing = LedgerTransaction.objects.get(pk=existing_id)
        if existing.payload_hash != payload_hash:
            raise LedgerKeyReused(
                f"The key '{key}' already names {existing.public_id}, posted with "
                "other amounts, accounts or kind."
            )
        return existing
    logger.info(
        "ledger.posted",
        extra={"transaction": txn.public_id, "key": key, "kind": kind.value},
    )
    for customer_id in {line.customer_id for line in lines if line.customer_id is not None}:
        _wallet_changed_on_commit(customer_id=customer_id, currency=currency)
    return txn


def _wallet_changed_on_commit(*, customer_id: int, currency: str) -> None:
    transaction.on_commit(
        lambda: signals.wallet_changed.send_robust(
            sender=LedgerAccount, customer_id=customer_id, currency=currency
        )
    )


# Raised by the database function `billing_ledger_post` (migration 0003), shortfall as DETAIL.
INSUFFICIENT_FUNDS_SQLSTATE = "BL001"
# The legs go as array literals (`_pg_array`): psycopg adapting each list element by
# element cost a fifth of a posting's Python time.
POST_FUNCTION_CALL = (
    "SELECT * FROM billing_ledger_post(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::text[], "
    "%s::smallint[], %s::bigint[], %s::bigint[])"
)


def _key_shard(key: str) -> int:
    """Which row of each system account a posting uses: any spread works, this one is stable."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % SYSTEM_ACCOUNT_SHARDS


def _line_shard(line: Line, shard: int) -> int:
    return 0 if line.customer_id is not None else shard


def _post_in_database(
    *, txn: LedgerTransaction, lines: Sequence[Line], shard: int, must_cover: bool
) -> int | None:
    """PostgreSQL: one statement does the whole posting (migration 0003 has the function).

    Outside a transaction it runs in autocommit, so the account locks are held only while
    the server runs it. Returns None when posted, the existing transaction's id when the
    key was taken.
    """
    metadata_field = LedgerTransaction._meta.get_field("metadata")
    assert isinstance(metadata_field, Field)
    params = [
        txn.public_id,
        txn.idempotency_key,
        txn.kind,
        txn.memo,
        txn.currency,
        txn.payload_hash,
        metadata_field.get_db_prep_save(txn.metadata, connection),
        txn.created_at,
        must_cover,
        _pg_array([line.code for line in lines]),
        _pg_array([_line_shard(line, shard) for line in lines]),
        _pg_array([line.customer_id for line in lines]),
        _pg_array([line.amount for line in lines]),
    ]
    try:
        # In a caller's transaction, a savepoint keeps it usable after a refusal.
        with (
            transaction.atomic() if connection.in_atomic_block else nullcontext(),
            connection.wrap_database_errors,
        ):
            connection.ensure_connection()
            row = _post_function_call(connection.connection, params)
            transaction_id, created, _ = row
    except DatabaseError as error:
        diagnostics = getattr(error.__cause__, "diag", None)
        if getattr(error.__cause__, "sqlstate", None) != INSUFFICIENT_FUNDS_SQLSTATE:
            raise
        assert diagnostics is not None
        raise InsufficientFunds(
            "The balance available does not cover this payment.",
            shortfall=int(diagnostics.message_detail or 0),
        ) from None
    txn.pk = transaction_id
    txn._state.adding = False
    return None if created else int(transaction_id)


# psycopg prepares nothing while a connection's threshold is None, as Django leaves it
# (`prepare=True` included). A threshold no count reaches prepares only what asks.
_PREPARE_ONLY_WHEN_ASKED = 2**31


def _post_function_call(raw: psycopg.Connection[Any], params: list[Any]) -> tuple[Any, ...]:
    """The posting function's call as a statement prepared on this connection: the server
    parses and plans it once per connection instead of at every posting, its parameters
    bound by the server (psycopg quotes nothing)."""
    threshold = raw.prepare_threshold
    raw.prepare_threshold = _PREPARE_ONLY_WHEN_ASKED
    try:
        with psycopg.Cursor(raw) as cursor:
            cursor.execute(POST_FUNCTION_CALL, params, prepare=True)
            row = cursor.fetchone()
    finally:
        raw.prepare_threshold = threshold
    assert row is not None
    return row


def _post_in_python(
    *, txn: LedgerTransaction, lines: Sequence[Line], shard: int, must_cover: bool
) -> int | None:
    """The same posting for `make run`'s SQLite database (one writer at a time there)."""
    with transaction.atomic():
        existing = (
            LedgerTransaction.objects.filter(idempotency_key=txn.idempotency_key)
            .values_list("pk", flat=True)
            .first()
        )
        if existing is not None:
            return existing
        txn.save(force_insert=True)
        accounts = _accounts_lock(lines=lines, currency=txn.currency, shard=shard)
        entries = []
        for line in lines:
            account = accounts[line.code, _line_shard(line, shard)]
            account.posted_balance += line.amount
            account.entry_seq += 1
            entries.append(
                LedgerEntry(
                    transaction=txn,
                    account=account,
                    amount=line.amount,
                    currency=txn.currency,
                    account_seq=account.entry_seq,
                    balance_after=account.posted_balance,
                    created_at=txn.created_at,
                )
            )
        if must_cover:
            _cover_check(lines=lines, accounts=accounts)
        LedgerEntry.objects.bulk_create(entries)
        rows_update(list(accounts.values()), ["posted_balance", "entry_seq"])
    return None


_SYSTEM_CODES = frozenset(SystemAccount.values)  # `.values` builds its list at every read


def _validate(*, key: str, memo: str, lines: Sequence[Line], currency: str) -> None:
    problems = []
    if not key or len(key) > MAX_KEY_LENGTH:
        problems.append(f"The key must be 1 to {MAX_KEY_LENGTH} characters.")
    if len(memo) > LedgerTransaction._meta.get_field("memo").max_length:  # type: ignore[operator]
        problems.append("The memo is too long.")
    if currency not in CURRENCIES:
        problems.append(f"Unknown currency {currency!r}.")
    if len(lines) < 2:
        problems.append("A transaction has at least two lines.")
    for line in lines:
        # bool is an int; Decimal and float are not: money reaches here already rounded.
        if type(line.amount) is not int or line.amount == 0:
            problems.append(f"{line.code}: the amount must be a non-zero integer of micro-units.")
        if line.code.startswith(f"{AccountKind.WALLET}:"):
            if line.customer_id is None:
                problems.append(f"{line.code}: build wallet lines with Line.wallet().")
        elif line.code not in _SYSTEM_CODES or line.customer_id is not None:
            problems.append(f"{line.code}: not an account of the chart.")
    if not problems and sum(line.amount for line in lines) != 0:
        problems.append(
            f"The lines sum to {sum(line.amount for line in lines)}, not zero: unbalanced."
        )
    if problems:
        raise LedgerTransactionInvalid(" ".join(problems))


def _payload_hash(*, kind: str, currency: str, lines: Sequence[Line]) -> str:
    payload = [kind, currency, sorted([line.code, line.amount] for line in lines)]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def _accounts_lock(
    *, lines: Sequence[Line], currency: str, shard: int
) -> dict[tuple[str, int], LedgerAccount]:
    """Lock the accounts the lines touch, in id order (no deadlocks), creating missing ones."""
    wanted = {(line.code, _line_shard(line, shard)): line.customer_id for line in lines}
    selection = Q()
    for code, line_shard in wanted:
        selection |= Q(code=code, shard=line_shard)

    def locked() -> dict[tuple[str, int], LedgerAccount]:
        rows = LedgerAccount.objects.select_for_update().filter(selection, currency=currency)
        return {(account.code, account.shard): account for account in rows.order_by("id")}

    accounts = locked()
    if len(accounts) == len(wanted):
        return accounts
    LedgerAccount.objects.bulk_create(
        [
            _account_new(code=code, shard=line_shard, currency=currency, customer_id=customer_id)
            for (code, line_shard), customer_id in wanted.items()
            if (code, line_shard) not in accounts
        ],
        ignore_conflicts=True,
    )
    return locked()


def _account_new(
    *, code: str, currency: str, customer_id: int | None, shard: int = 0
) -> LedgerAccount:
    kind = code.split(":", 1)[0]  # codes were checked by _validate
    return LedgerAccount(
        code=code, shard=shard, kind=kind, customer_id=customer_id, currency=currency
    )


def _cover_check(
    *, lines: Sequence[Line], accounts: Mapping[tuple[str, int], LedgerAccount]
) -> None:
    """SQLite's copy of the database function's check: with the new balances, every wallet
    the transaction debits keeps posted - held >= 0."""
    net: dict[str, int] = {}
    for line in lines:
        if line.customer_id is not None:
            net[line.code] = net.get(line.code, 0) + line.amount
    for code, change in net.items():
        account = accounts[code, 0]
        if account.kind != AccountKind.WALLET or change >= 0:
            continue
        if account.available < 0:
            raise InsufficientFunds(
                "The balance available does not cover this payment.",
                shortfall=-account.available,
            )


# --- Holds --------------------------------------------------------------------------------


def _wallet_lock(*, customer: Customer, currency: str) -> LedgerAccount:
    """The customer's wallet, created if missing, locked for the rest of the transaction."""
    code = wallet_code(customer.public_id)
    wallets = LedgerAccount.objects.select_for_update().filter(code=code, currency=currency)
    wallet = wallets.first()
    if wallet is None:
        LedgerAccount.objects.bulk_create(
            [_account_new(code=code, currency=currency, customer_id=customer.pk)],
            ignore_conflicts=True,
        )
        wallet = wallets.get()
    return wallet


def hold_place(
    *,
    customer: Customer,
    key: str,
    amount: int,
    subject: str = "",
    memo: str = "",
    currency: str = DEFAULT_CURRENCY,
    allow_short: bool = False,
) -> Hold:
    """Reserve `amount` micro-units on the customer's wallet, once per `key`; returns the hold.

    The available balance (posted - held) must cover it (`InsufficientFunds`), unless
    `allow_short`: a running machine keeps reserving its next hour even when short.
    A hold with this key that exists is returned as it is.
    """
    _hold_amount_check(amount)
    with transaction.atomic():
        wallet = _wallet_lock(customer=customer, currency=currency)
        existing = Hold.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        if not allow_short and wallet.available < amount:
            raise InsufficientFunds(
                "The balance available does not cover this reservation.",
                shortfall=amount - wallet.available,
                available=wallet.available,
            )
        hold = Hold.objects.create(
            account=wallet, idempotency_key=key, amount=amount, subject=subject, memo=memo
        )
        wallet.held_amount += amount
        wallet.save(update_fields=["held_amount"])
        _wallet_changed_on_commit(customer_id=customer.pk, currency=currency)
    logger.info("hold.placed", extra={"hold": hold.public_id, "amount": amount})
    return hold


def hold_change(*, hold: Hold, amount: int, allow_short: bool = False) -> Hold:
    """Resize an active hold to `amount`; growing it needs the available balance to cover
    the difference unless `allow_short`."""
    _hold_amount_check(amount)
    with transaction.atomic():
        wallet = LedgerAccount.objects.select_for_update().get(pk=hold.account_id)
        locked = Hold.objects.select_for_update().get(pk=hold.pk)
        if locked.status != Hold.Status.ACTIVE:
            raise HoldNotActive(f"{locked.public_id} was released.")
        growth = amount - locked.amount
        if growth > 0 and not allow_short and wallet.available < growth:
            raise InsufficientFunds(
                "The balance available does not cover this reservation.",
                shortfall=growth - wallet.available,
                available=wallet.available,
            )
        locked.amount = amount
        locked.updated_at = timezone.now()
        locked.save(update_fields=["amount", "updated_at"])
        wallet.held_amount += growth
        wallet.save(update_fields=["held_amount"])
        _hold_wallet_changed(wallet)
    logger.info("hold.changed", extra={"hold": locked.public_id, "amount": amount})
    return locked


def hold_release(*, hold: Hold) -> Hold:
    """Release a hold: its amount is spendable again. Releasing twice changes nothing."""
    with transaction.atomic():
        wallet = LedgerAccount.objects.select_for_update().get(pk=hold.account_id)
        locked = Hold.objects.select_for_update().get(pk=hold.pk)
        if locked.status == Hold.Status.RELEASED:
            return locked
        locked.status = Hold.Status.RELEASED
        locked.released_at = locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "released_at", "updated_at"])
        wallet.held_amount -= locked.amount
        wallet.save(update_fields=["held_amount"])
        _hold_wallet_changed(wallet)
    logger.info("hold.released", extra={"hold": locked.public_id})
    return locked


def _hold_wallet_changed(wallet: LedgerAccount) -> None:
    if wallet.customer_id is not None:
        _wallet_changed_on_commit(customer_id=wallet.customer_id, currency=wallet.currency)


def _hold_amount_check(amount: int) -> None:
    if type(amount) is not int or amount < 0:
        raise LedgerTransactionInvalid("A hold is a non-negative integer of micro-units.")


# --- Staff adjustments --------------------------------------------------------------------


def wallet_adjust(
    *,
    customer: Customer,
    amount: int,
    reason: str,
    actor: Actor,
    key: str | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> LedgerTransaction:
    """Staff credit (`amount` > 0) or debit (< 0) of a wallet, against the staff adjustments
    account, with a required reason; the customer's activity log names the staff member.

    A debit may not overdraw the wallet (`InsufficientFunds`). `key` defaults to a fresh
    `adjust:<uuid>`; with a key already posted, the existing transaction is returned.
    """
    reason = reason.strip()
    if not reason:
        raise AdjustmentInvalid("Give a reason.", errors={"reason": ["Give a reason."]})
    if type(amount) is not int or amount == 0:
        raise AdjustmentInvalid(
            "The amount must not be zero.", errors={"amount": ["The amount must not be zero."]}
        )
    key = key or f"adjust:{uuid.uuid4()}"
    with transaction.atomic():
        existing = LedgerTransaction.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        txn = ledger_post(
            key=key,
            kind=TransactionKind.ADJUSTMENT,
            memo=reason,
            lines=[
                Line.wallet(customer, amount),
                Line.system(SystemAccount.ADJUSTMENTS, -amount),
            ],
            currency=currency,
            metadata={"staff_user_id": actor.user_id, "staff": actor.label},
        )
        accounts_services.activity_record(
            customer=customer,
            verb=ActivityVerb.BALANCE_ADJUSTED,
            actor=actor,
            object_id=txn.public_id,
            data={
                "amount": str(micros_to_decimal(amount)),
                "currency": currency,
                "reason": reason,
            },
        )
    logger.info(
        "wallet.adjusted",
        extra={"customer_id": customer.public_id, "transaction": txn.public_id, "amount": amount},
    )
    return txn


# --- Usage --------------------------------------------------------------------------------

USAGE_REVENUE = {
    UsageCharge.Component.COMPUTE: SystemAccount.REVENUE_COMPUTE,
    UsageCharge.Component.STORAGE: SystemAccount.REVENUE_STORAGE,
}


def usage_key(*, subject: str, component: str, window_start: datetime) -> str:
    """The ledger key of one usage charge: `usage:<subject>:<component>:<window epoch>`."""
    return f"usage:{subject}:{component}:{int(window_start.timestamp())}"


def usage_charge_post(
    *,
    customer: Customer,
    subject: str,
    label: str,
    component: UsageCharge.Component | str,
    window_start: datetime,
    seconds: int,
    rate: Decimal,
    amount: int,
    quantity: Decimal = Decimal(1),
    currency: str = DEFAULT_CURRENCY,
) -> UsageCharge:
    """Charge the wallet `amount` micro-units for `subject`'s `component` in the window
    starting at `window_start`, exactly once: a second call (a rerun, or another process
    at the same moment) returns the charge that exists and posts nothing.

    Usage already consumed may take the wallet below zero (the overdraw rule). An amount
    of 0 records the charge without a posting.
    """
    component = UsageCharge.Component(component)
    if type(amount) is not int or amount < 0:
        raise LedgerTransactionInvalid("A usage amount is a non-negative integer of micro-units.")
    with transaction.atomic():
        txn = None
        if amount:
            txn = ledger_post(
                key=usage_key(subject=subject, component=component, window_start=window_start),
                kind=TransactionKind.USAGE,
                memo=f"{label or subject}: {component.label.lower()}",
                lines=[
                    Line.wallet(customer, -amount),
                    Line.system(USAGE_REVENUE[component], amount),
                ],
                currency=currency,
                metadata={
                    "subject": subject,
                    "component": component.value,
                    "window_start": window_start.isoformat(),
                    "seconds": seconds,
                },
            )
        charge, _ = UsageCharge.objects.get_or_create(
            subject=subject,
            component=component,
            window_start=window_start,
            defaults={
                "customer": customer,
                "label": label[:200],
                "seconds": seconds,
                "quantity": quantity,
                "rate": rate,
                "amount": amount,
                "currency": currency,
                "transaction": txn,
            },
        )
    return charge


class UsageLine(NamedTuple):
    """One usage charge for `usage_charges_post_many` (the fields of `UsageCharge`); a
    tuple, as metering builds 20,000 of them a minute."""

    customer_id: int
    customer_public_id: str
    subject: str
    label: str
    component: str
    window_start: datetime
    seconds: int
    rate: Decimal
    amount: int
    quantity: Decimal = Decimal(1)


@dataclass(frozen=True)
class UsagePosted:
    charges: int  # usage charges written (a rerun writes none)
    postings: int  # ledger transactions posted
    customer_ids: frozenset[int]  # whose wallets were debited


def usage_group_key(*, customer_public_id: str, window_start: datetime) -> str:
    """The ledger key of one customer's usage in one window, as `usage_charges_post_many`
    posts it: `usage:<customer>:<window epoch>`."""
    return f"usage:{customer_public_id}:{int(window_start.timestamp())}"


def usage_charges_post_many(
    *, lines: Sequence[UsageLine], currency: str = DEFAULT_CURRENCY
) -> UsagePosted:
    """Charge many usage lines at once, each exactly once, in a constant number of queries.

    Lines whose (subject, component, window) is already charged are skipped (a rerun, or a
    concurrent run, charges nothing twice). What is new is posted as ONE ledger transaction
    per customer and window (wallet debit, compute and storage revenue), which every new
    charge of that group points to; amounts of 0 are recorded without a posting. Usage may
    overdraw (`KINDS_THAT_MAY_OVERDRAW`). `wallet_changed` is sent after commit for each
    debited wallet, with `source="usage"` (metering pushes its own, throttled, updates).
    """
    if not lines:
        return UsagePosted(charges=0, postings=0, customer_ids=frozenset())
    for line in lines:
        if type(line.amount) is not int or line.amount < 0:
            raise LedgerTransactionInvalid(
                "A usage amount is a non-negative integer of micro-units."
            )
    if connection.vendor != "postgresql":
        return _usage_charges_post_one_by_one(lines=lines, currency=currency)
    now = timezone.now()
    groups: dict[tuple[int, datetime], list[UsageLine]] = {}
    for line in lines:
        groups.setdefault((line.customer_id, line.window_start), []).append(line)
    with transaction.atomic(), connection.cursor() as cursor:
        # Transaction ids first (FKs are checked at commit), so each charge is inserted
        # already pointing at its group's posting: one INSERT says which charges are new.
        paying = [group for group, members in groups.items() if any(m.amount for m in members)]
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('billing_ledgertransaction', 'id')) "
            "FROM generate_series(1, %s)",
            [len(paying)],
        )
        group_txn = dict(zip(paying, (row[0] for row in cursor.fetchall()), strict=True))
        cursor.execute(
            """
            INSERT INTO billing_usagecharge
                   (customer_id, subject, label, component, window_start, seconds, quantity,
                    rate, amount, currency, transaction_id, created_at)
            SELECT u.customer_id, u.subject, u.label, u.component, u.window_start, u.seconds,
                   u.quantity, u.rate, u.amount, %s, u.transaction_id, %s
              FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],
                          %s::int[], %s::numeric[], %s::numeric[], %s::bigint[], %s::bigint[])
                   AS u(customer_id, subject, label, component, window_start, seconds,
                        quantity, rate, amount, transaction_id)
            ON CONFLICT (subject, component, window_start) DO NOTHING
            RETURNING subject || ' ' || component || ' ' || extract(epoch FROM window_start)::bigint
            """,
            [
                currency,
                now,
                _pg_array([line.customer_id for line in lines]),
                _pg_array([line.subject for line in lines]),
                _pg_array([line.label[:200] for line in lines]),
                _pg_array([line.component for line in lines]),
                _pg_array([line.window_start for line in lines]),
                _pg_array([line.seconds for line in lines]),
                _pg_array([line.quantity for line in lines]),
                _pg_array([line.rate for line in lines]),
                _pg_array([line.amount for line in lines]),
                _pg_array(
                    [
                        group_txn.get((line.customer_id, line.window_start))
                        if line.amount
                        else None
                        for line in lines
                    ]
                ),
            ],
        )
        # Rows come back as "<subject> <component> <window epoch>": strings read fast.
        inserted = {row[0] for row in cursor.fetchall()}
        epochs = {start: int(start.timestamp()) for _, start in groups}
        postings = []
        for group, txn_id in group_txn.items():
            new = [
                line
                for line in groups[group]
                if line.amount
                and f"{line.subject} {line.component} {epochs[line.window_start]}" in inserted
            ]
            if new:
                postings.append((txn_id, new, len(new) < sum(1 for m in groups[group] if m.amount)))
        _usage_postings_write(cursor=cursor, postings=postings, currency=currency, now=now)
        debited = frozenset(new[0].customer_id for _, new, _ in postings)
        transaction.on_commit(lambda: _usage_wallets_changed(debited, currency))
    logger.info(
        "usage.posted",
        extra={"charges": len(inserted), "postings": len(postings), "customers": len(debited)},
    )
    return UsagePosted(charges=len(inserted), postings=len(postings), customer_ids=debited)


def usage_watermark_advance(*, posted_until: datetime) -> None:
    """Record that every usage window starting before `posted_until` is posted. Its poster
    calls this in the transaction that posts them, so the mark never runs ahead of the
    ledger; it never moves back. An invoice for a month waits until it has passed the end."""
    now = timezone.now()
    with transaction.atomic():
        moved = UsageWatermark.objects.filter(posted_until__lt=posted_until).update(
            posted_until=posted_until, updated_at=now
        )
        if not moved:
            UsageWatermark.objects.bulk_create(
                [UsageWatermark(posted_until=posted_until, updated_at=now)],
                ignore_conflicts=True,
            )


def _pg_array(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal, for `%s::type[]`: one string for the driver to quote
    instead of an array it adapts element by element (20,000 charges: 2 s of Python)."""
    first = next((value for value in values if value is not None), None)
    if isinstance(first, int):
        return "{" + ",".join("NULL" if value is None else str(value) for value in values) + "}"
    if isinstance(first, str) and None not in values:
        joined = "".join(values)
        if '"' not in joined and "\\" not in joined:
            return '{"' + '","'.join(values) + '"}'
    cache: dict[Any, str] = {}  # rates, windows: few distinct values
    items = []
    for value in values:
        item = cache.get(value)
        if item is None:
            if value is None:
                item = "NULL"
            elif isinstance(value, Decimal):
                item = str(value)
            else:
                text = value.isoformat() if isinstance(value, datetime) else str(value)
                item = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
            cache[value] = item
        items.append(item)
    return "{" + ",".join(items) + "}"


def _usage_wallets_changed(customer_ids: frozenset[int], currency: str) -> None:
    for customer_id in customer_ids:
        signals.wallet_changed.send_robust(
            sender=LedgerAccount, customer_id=customer_id, currency=currency, source="usage"
        )


def _usage_postings_write(
    *,
    cursor: Any,
    postings: Sequence[tuple[int, Sequence[UsageLine], bool]],
    currency: str,
    now: datetime,
) -> None:
    """Post (transaction id, its new charges, partial?) groups with a constant number of
    queries: the transactions, the accounts locked in id order, the entries with their
    running sequence and balance, the cached balances. Same rows as `ledger_post` writes."""
    if not postings:
        return
    transactions = []
    legs: list[tuple[int, str, int, int | None, int]] = []  # txn, code, shard, customer, amount
    for txn_id, charges, partial in postings:
        first = charges[0]
        key = usage_group_key(
            customer_public_id=first.customer_public_id, window_start=first.window_start
        )
        if partial:
            # Some of this window's charges were posted before, one by one: the rest gets
            # its own key, named by what it contains.
            contents = ",".join(sorted(f"{c.subject}:{c.component}" for c in charges))
            key = f"{key}:{hashlib.sha256(contents.encode()).hexdigest()[:12]}"
        shard = _key_shard(key)
        by_component: dict[str, int] = {}
        for charge in charges:
            by_component[charge.component] = by_component.get(charge.component, 0) + charge.amount
        wallet = Line(
            code=wallet_code(first.customer_public_id),
            amount=-sum(by_component.values()),
            customer_id=first.customer_id,
        )
        lines = [wallet] + [
            Line.system(USAGE_REVENUE[UsageCharge.Component(component)], amount)
            for component, amount in sorted(by_component.items())
        ]
        transactions.append(
            (
                txn_id,
                new_public_id("txn"),
                key,
                f"Usage {first.window_start:%Y-%m-%d %H:%M} UTC: {len(charges)} charges",
                _payload_hash(kind=TransactionKind.USAGE, currency=currency, lines=lines),
                json.dumps(
                    {
                        "window_start": first.window_start.isoformat(),
                        "subjects": sorted({c.subject for c in charges}),
                    }
                ),
            )
        )
        legs.extend(
            (txn_id, line.code, _line_shard(line, shard), line.customer_id, line.amount)
            for line in lines
        )
    cursor.execute(
        """
        INSERT INTO billing_ledgertransaction
               (id, public_id, idempotency_key, kind, memo, currency, payload_hash, metadata,
                created_at)
        SELECT t.id, t.public_id, t.key, %s, t.memo, %s, t.hash, t.metadata::jsonb, %s
          FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
               AS t(id, public_id, key, memo, hash, metadata)
        """,
        [
            TransactionKind.USAGE.value,
            currency,
            now,
            *(_pg_array(list(column)) for column in zip(*transactions, strict=True)),
        ],
    )
    accounts = _usage_accounts_lock(cursor=cursor, legs=legs, currency=currency, now=now)
    entries = []
    for txn_id, code, shard, _, amount in legs:
        account = accounts[code, shard]
        account[1] += amount
        account[2] += 1
        entries.append((txn_id, account[0], amount, account[2], account[1]))
    cursor.execute(
        """
        INSERT INTO billing_ledgerentry
               (transaction_id, account_id, amount, currency, account_seq, balance_after,
                created_at)
        SELECT e.transaction_id, e.account_id, e.amount, %s, e.seq, e.balance, %s
          FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
               AS e(transaction_id, account_id, amount, seq, balance)
        """,
        [currency, now, *(_pg_array(list(column)) for column in zip(*entries, strict=True))],
    )
    cursor.execute(
        """
        UPDATE billing_ledgeraccount a SET posted_balance = u.balance, entry_seq = u.seq
          FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS u(id, balance, seq)
         WHERE a.id = u.id
        """,
        [_pg_array(list(column)) for column in zip(*accounts.values(), strict=True)],
    )


def _usage_accounts_lock(
    *,
    cursor: Any,
    legs: Sequence[tuple[int, str, int, int | None, int]],
    currency: str,
    now: datetime,
) -> dict[tuple[str, int], list[int]]:
    """The legs' accounts as `[id, posted_balance, entry_seq]`, locked in id order; missing
    ones (a wallet's first usage) are created first, in (code, shard) order."""
    wanted = {(code, shard): customer for _, code, shard, customer, _ in legs}
    codes = [code for code, _ in wanted]
    shards = [shard for _, shard in wanted]
    lock = """
        SELECT a.code, a.shard, a.id, a.posted_balance, a.entry_seq
          FROM billing_ledgeraccount a
         WHERE a.currency = %s
           AND (a.code, a.shard) IN (SELECT * FROM unnest(%s::text[], %s::smallint[]))
         ORDER BY a.id FOR UPDATE
    """
    cursor.execute(lock, [currency, codes, shards])
    rows = cursor.fetchall()
    if len(rows) < len(wanted):
        missing = sorted(set(wanted) - {(code, shard) for code, shard, *_ in rows})
        cursor.execute(
            """
            INSERT INTO billing_ledgeraccount
                   (code, shard, kind, customer_id, currency, posted_balance, held_amount,
                    entry_seq, created_at)
            SELECT m.code, m.shard, split_part(m.code, ':', 1), m.customer_id, %s, 0, 0, 0, %s
              FROM unnest(%s::text[], %s::smallint[], %s::bigint[]) AS m(code, shard, customer_id)
            ON CONFLICT DO NOTHING
            """,
            [
                currency,
                now,
                [code for code, _ in missing],
                [shard for _, shard in missing],
                [wanted[key] for key in missing],
            ],
        )
        cursor.execute(lock, [currency, codes, shards])
        rows = cursor.fetchall()
    return {(code, shard): [pk, balance, seq] for code, shard, pk, balance, seq in rows}


def _usage_charges_post_one_by_one(*, lines: Sequence[UsageLine], currency: str) -> UsagePosted:
    """SQLite (`make run`): the same charges through `usage_charge_post`, one posting each."""
    customers = {
        customer.pk: customer
        for customer in Customer.objects.filter(pk__in={line.customer_id for line in lines})
    }
    created = 0
    debited: set[int] = set()
    with transaction.atomic():
        for line in lines:
            if UsageCharge.objects.filter(
                subject=line.subject, component=line.component, window_start=line.window_start
            ).exists():
                continue
            usage_charge_post(
                customer=customers[line.customer_id],
                subject=line.subject,
                label=line.label,
                component=line.component,
                window_start=line.window_start,
                seconds=line.seconds,
                rate=line.rate,
                amount=line.amount,
                quantity=line.quantity,
                currency=currency,
            )
            created += 1
            if line.amount:
                debited.add(line.customer_id)
    return UsagePosted(charges=created, postings=len(debited), customer_ids=frozenset(debited))


def holds_release(*, keys: Collection[str]) -> int:
    """Release the active holds with these keys, all at once (a constant number of queries,
    e.g. a reconciler cycle's failed deployments); returns how many were released."""
    if not keys:
        return 0
    with transaction.atomic():
        holds = Hold.objects.filter(idempotency_key__in=list(keys), status=Hold.Status.ACTIVE)
        wallets = list(
            LedgerAccount.objects.select_for_update()
            .filter(pk__in=holds.values("account_id"))
            .order_by("id")
        )
        released = list(holds.select_for_update().values_list("pk", "account_id", "amount"))
        if not released:
            return 0
        now = timezone.now()
        Hold.objects.filter(pk__in=[pk for pk, _, _ in released]).update(
            status=Hold.Status.RELEASED, released_at=now, updated_at=now
        )
        by_wallet: dict[int, int] = {}
        for _, account_id, amount in released:
            by_wallet[account_id] = by_wallet.get(account_id, 0) + amount
        for wallet in wallets:
            wallet.held_amount -= by_wallet.get(wallet.pk, 0)
        rows_update(wallets, ["held_amount"])
        for wallet in wallets:
            _hold_wallet_changed(wallet)
    logger.info("holds.released", extra={"holds": len(released)})
    return len(released)
