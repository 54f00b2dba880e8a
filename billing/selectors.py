"""Every read of the ledger, already scoped to its owner."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet, Sum
from django.shortcuts import get_object_or_404

from accounts.models import Customer, User
from billing.models import (
    DEFAULT_CURRENCY,
    AccountKind,
    BillingDetails,
    CreditNote,
    Hold,
    Invoice,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Receipt,
    SystemAccount,
    TopUp,
    UsageCharge,
    UsageWatermark,
)


def usage_posted_until() -> datetime | None:
    """Every usage window starting before this is posted on the wallets; None: usage has
    never been posted (metering has not run yet), so none is pending either."""
    return UsageWatermark.objects.values_list("posted_until", flat=True).first()


@dataclass(frozen=True)
class WalletBalance:
    """Micro-units. available = posted - held; posted may be negative after usage."""

    currency: str
    posted: int
    held: int

    @property
    def available(self) -> int:
        return self.posted - self.held


def wallet_balance(*, customer: Customer, currency: str = DEFAULT_CURRENCY) -> WalletBalance:
    """One indexed row; a customer without a wallet yet reads zero."""
    row = (
        LedgerAccount.objects.filter(customer=customer, kind=AccountKind.WALLET, currency=currency)
        .values_list("posted_balance", "held_amount")
        .first()
    )
    posted, held = row or (0, 0)
    return WalletBalance(currency=currency, posted=posted, held=held)


def wallet_balance_for_user(*, user: User, currency: str = DEFAULT_CURRENCY) -> WalletBalance:
    """The same single row, found from the signed-in user (the page header's balance)."""
    row = (
        LedgerAccount.objects.filter(
            customer__user=user, kind=AccountKind.WALLET, currency=currency
        )
        .values_list("posted_balance", "held_amount")
        .first()
    )
    posted, held = row or (0, 0)
    return WalletBalance(currency=currency, posted=posted, held=held)


def system_account_balance(*, account: SystemAccount, currency: str = DEFAULT_CURRENCY) -> int:
    """A system account's posted balance: the sum of its shards (see SYSTEM_ACCOUNT_SHARDS)."""
    shards = LedgerAccount.objects.filter(code=SystemAccount(account).value, currency=currency)
    return int(shards.aggregate(total=Sum("posted_balance"))["total"] or 0)


def wallet_entry_list(
    *,
    customer: Customer,
    currency: str = DEFAULT_CURRENCY,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[LedgerEntry]:
    """The wallet's entries, newest first, each with its transaction."""
    entries = LedgerEntry.objects.filter(
        account__customer=customer, account__kind=AccountKind.WALLET, currency=currency
    ).select_related("transaction")
    if kind:
        entries = entries.filter(transaction__kind=kind)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    return entries.order_by("-account_seq")


def wallet_entry_get(
    *, customer: Customer, transaction_public_id: str, currency: str = DEFAULT_CURRENCY
) -> LedgerEntry:
    """The customer's wallet entry of one transaction; another customer's answers 404."""
    return get_object_or_404(
        wallet_entry_list(customer=customer, currency=currency),
        transaction__public_id=transaction_public_id,
    )


def hold_list(*, customer: Customer, active_only: bool = True) -> QuerySet[Hold]:
    holds = Hold.objects.filter(account__customer=customer)
    if active_only:
        holds = holds.filter(status=Hold.Status.ACTIVE)
    return holds.order_by("-created_at")


def hold_get(*, customer: Customer, public_id: str) -> Hold:
    return get_object_or_404(hold_list(customer=customer, active_only=False), public_id=public_id)


# --- Verification -------------------------------------------------------------------------

# Each query returns (subject, message) rows; the tables' names are the models'.
_VERIFY_QUERIES = (
    # The cached balance and sequence equal what the entries say.
    """
    SELECT a.code || CASE WHEN a.shard > 0 THEN '#' || a.shard ELSE '' END
           || ' (' || a.currency || ')',
           'cached balance ' || a.posted_balance || ' but its entries sum to '
           || coalesce(sum(e.amount), 0) || '; entry_seq ' || a.entry_seq || ' but '
           || count(e.id) || ' entries'
      FROM billing_ledgeraccount a LEFT JOIN billing_ledgerentry e ON e.account_id = a.id
     GROUP BY a.id, a.code, a.shard, a.currency, a.posted_balance, a.entry_seq
    HAVING a.posted_balance <> coalesce(sum(e.amount), 0) OR a.entry_seq <> count(e.id)
    """,
    # Each entry's balance_after is the previous one's plus its amount, seq has no gaps.
    """
    SELECT a.code || CASE WHEN a.shard > 0 THEN '#' || a.shard ELSE '' END
           || ' (' || a.currency || ')',
           'entry #' || c.account_seq || ' records balance ' || c.balance_after
           || ' after ' || c.amount || ' on ' || c.previous_balance
      FROM (SELECT account_id, account_seq, amount, balance_after,
                   lag(balance_after, 1, 0) OVER w AS previous_balance,
                   lag(account_seq, 1, 0) OVER w AS previous_seq
              FROM billing_ledgerentry
            WINDOW w AS (PARTITION BY account_id ORDER BY account_seq)) c
      JOIN billing_ledgeraccount a ON a.id = c.account_id
     WHERE c.balance_after <> c.previous_balance + c.amount
        OR c.account_seq <> c.previous_seq + 1
    """,
    # The held amount is the sum of the active holds.
    """
    SELECT a.code || CASE WHEN a.shard > 0 THEN '#' || a.shard ELSE '' END
           || ' (' || a.currency || ')',
           'held ' || a.held_amount || ' but its active holds sum to '
           || coalesce(sum(h.amount), 0)
      FROM billing_ledgeraccount a
      LEFT JOIN billing_hold h ON h.account_id = a.id AND h.status = 'active'
     GROUP BY a.id, a.code, a.shard, a.currency, a.held_amount
    HAVING a.held_amount <> coalesce(sum(h.amount), 0)
    """,
    # Every transaction has two or more entries summing to zero, in its currency.
    """
    SELECT t.public_id,
           count(e.id) || ' entries summing to ' || coalesce(sum(e.amount), 0)
           || ' (' || t.idempotency_key || ')'
      FROM billing_ledgertransaction t
      LEFT JOIN billing_ledgerentry e ON e.transaction_id = t.id
     GROUP BY t.id, t.public_id, t.idempotency_key
    HAVING count(e.id) < 2 OR coalesce(sum(e.amount), 0) <> 0
    """,
    """
    SELECT a.code || CASE WHEN a.shard > 0 THEN '#' || a.shard ELSE '' END
           || ' (' || a.currency || ')',
           count(*) || ' entries in another currency'
      FROM billing_ledgerentry e JOIN billing_ledgeraccount a ON a.id = e.account_id
     WHERE e.currency <> a.currency
     GROUP BY a.id, a.code, a.shard, a.currency
    """,
    # Per currency, all accounts together are zero (trial balance).
    """
    SELECT 'all ' || currency || ' accounts',
           'cached balances sum to ' || sum(posted_balance) || ', not zero'
      FROM billing_ledgeraccount GROUP BY currency HAVING sum(posted_balance) <> 0
    """,
)


@dataclass(frozen=True)
class LedgerReport:
    accounts: int
    transactions: int
    entries: int
    problems: list[str]


def ledger_verify() -> LedgerReport:
    """Prove the ledger's invariants from the stored rows; `problems` is empty when it holds."""
    problems: list[str] = []
    with connection.cursor() as cursor:
        for query in _VERIFY_QUERIES:
            cursor.execute(query)
            problems.extend(f"{subject}: {message}" for subject, message in cursor.fetchall())
    return LedgerReport(
        accounts=LedgerAccount.objects.count(),
        transactions=LedgerTransaction.objects.count(),
        entries=LedgerEntry.objects.count(),
        problems=problems,
    )


def usage_amount_by_subject(
    *, customer: Customer, subjects: Iterable[str], since: datetime
) -> dict[str, int]:
    """Micro-units charged per subject for windows starting at or after `since`."""
    rows = (
        UsageCharge.objects.filter(customer=customer, subject__in=subjects, window_start__gte=since)
        .values("subject")
        .annotate(total=Sum("amount"))
    )
    return {row["subject"]: int(row["total"] or 0) for row in rows}


# --- Invoices, credit notes, receipts -----------------------------------------------------


def invoice_list(*, customer: Customer) -> QuerySet[Invoice]:
    return Invoice.objects.filter(customer=customer).order_by("-period_start", "-issued_at")


def invoice_get(*, customer: Customer, public_id: str) -> Invoice:
    """One of the customer's invoices with its lines and credit notes; another's is a 404."""
    return get_object_or_404(
        invoice_list(customer=customer).prefetch_related("lines", "credit_notes"),
        public_id=public_id,
    )


def credit_note_get(*, customer: Customer, public_id: str) -> CreditNote:
    return get_object_or_404(
        CreditNote.objects.filter(customer=customer).select_related("invoice"),
        public_id=public_id,
    )


def receipt_list(*, customer: Customer) -> QuerySet[Receipt]:
    return (
        Receipt.objects.filter(customer=customer)
        .select_related("transaction")
        .order_by("-paid_at", "-id")
    )


def receipt_get(*, customer: Customer, public_id: str) -> Receipt:
    return get_object_or_404(receipt_list(customer=customer), public_id=public_id)


def billing_details_get(*, customer: Customer) -> BillingDetails | None:
    return BillingDetails.objects.filter(customer=customer).first()


# --- Top-ups ------------------------------------------------------------------------------


def topup_list(*, customer: Customer) -> QuerySet[TopUp]:
    return TopUp.objects.filter(customer=customer).order_by("-created_at")


def topup_get(*, customer: Customer, public_id: str) -> TopUp:
    """The customer's top-up; another customer's answers 404."""
    return get_object_or_404(topup_list(customer=customer), public_id=public_id)
