"""Every write to the ledger: posting transactions, wallets, holds, staff adjustments.

The API other apps call (keyword-only, amounts in integer micro-units):

- `ledger_post(key=, kind=, memo=, lines=[Line.wallet(...), Line.system(...)])` posts one
  balanced transaction exactly once per idempotency key and returns it.
- `hold_place` / `hold_change` / `hold_release` reserve money on a wallet.
- `wallet_adjust` is the staff "adjust balance" (credit or debit with a reason).
- `usage_charge_post` charges one subject's use of one component in one window.

Every amount is an int of micro-units; `billing.money` converts from Decimal.

Reads (balances, entries, holds) are in `billing.selectors`.
"""

import hashlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

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
POST_FUNCTION_CALL = (
    "SELECT * FROM billing_ledger_post(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::smallint[], "
    "%s, %s)"
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
        [line.code for line in lines],
        [_line_shard(line, shard) for line in lines],
        [line.customer_id for line in lines],
        [line.amount for line in lines],
    ]
    try:
        # In a caller's transaction, a savepoint keeps it usable after a refusal.
        with (
            transaction.atomic() if connection.in_atomic_block else nullcontext(),
            connection.cursor() as cursor,
        ):
            cursor.execute(POST_FUNCTION_CALL, params)
            transaction_id, created, _ = cursor.fetchone()
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
        elif line.code not in SystemAccount.values or line.customer_id is not None:
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
