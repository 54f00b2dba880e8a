"""Invoices, credit notes and receipts: building a month from the ledger, issuing it once.

- `invoice_build` computes a customer's UTC month from billing's own rows: one usage line
  per subject (deployment), component and rate from `UsageCharge` (month = the month of
  `window_start`), the other postings on the wallet in the month (adjustments, refunds,
  credits, disputes) as their own lines, the top-ups received, and the opening and closing
  balance. Nothing is written: the current month is shown as this live draft.
- `invoice_issue` stores a past month once, numbered without gaps per year
  (`INV-2026-000123`) under the year's counter row locked FOR UPDATE, with its lines and
  both parties' details as they stood. `invoices_issue_due` is the hourly job.
- A month is issued only once its usage is all posted: when the usage watermark
  (`billing.UsageWatermark`, advanced by metering as it posts) has passed the month's
  end. Until then the job issues nothing for it and logs `invoices.waiting_for_metering`;
  a later hourly run issues it, late usage included. No watermark at all: usage was never
  posted, so there is nothing to wait for.
- `credit_note_issue` corrects an issued invoice by crediting the wallet
  (`CN-2026-000001`, ledger key `creditnote:<public id>`).
- `receipt_issue` issues the receipt of one top-up posting, in the transaction that
  credits it (`billing.payments.topups`), with both parties' details as they stand then.

The rounding rule: amounts are exact micro-unit sums; a page rounds each figure to cents
once, half up (`billing.money.micros_to_cents`), so the cents of the lines may differ
from the rounded total by a cent.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import (
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone

from accounts import services as accounts_services
from accounts.activity import Actor
from accounts.models import ActivityVerb, Customer
from billing import selectors
from billing.exceptions import (
    BillingDetailsInvalid,
    CreditNoteInvalid,
    InvoicePeriodOpen,
    InvoiceUsagePending,
)
from billing.models import (
    DEFAULT_CURRENCY,
    AccountKind,
    BillingDetails,
    CreditNote,
    DocumentCounter,
    DocumentSeries,
    Invoice,
    InvoiceLine,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Receipt,
    SystemAccount,
    TransactionKind,
    UsageCharge,
)
from billing.money import micros_to_decimal
from billing.services import Line, ledger_post
from cloudportal.ids import new_public_id

logger = logging.getLogger(__name__)

SECONDS_PER_HOUR = Decimal(3600)
QUANTITY_PLACES = Decimal("0.0001")
UNITS = {UsageCharge.Component.COMPUTE: "h", UsageCharge.Component.STORAGE: "GB-h"}


# --- Months -------------------------------------------------------------------------------


def month_start(moment: date | datetime) -> date:
    """The first day of the UTC month `moment` falls in."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def month_next(period_start: date) -> date:
    if period_start.month == 12:
        return date(period_start.year + 1, 1, 1)
    return date(period_start.year, period_start.month + 1, 1)


def month_bounds(period_start: date) -> tuple[datetime, datetime]:
    """[start, end) of the month as UTC datetimes."""
    end = month_next(period_start)
    return (
        datetime(period_start.year, period_start.month, 1, tzinfo=UTC),
        datetime(end.year, end.month, 1, tzinfo=UTC),
    )


def month_usage_posted(*, period_start: date, posted_until: datetime | None) -> bool:
    """Whether every usage window of the month is posted, by the usage watermark (None:
    usage was never posted, so none is pending)."""
    _, end = month_bounds(month_start(period_start))
    return posted_until is None or posted_until >= end


# --- Parties ------------------------------------------------------------------------------


def seller_snapshot() -> dict[str, str]:
    return {
        "name": settings.BILLING_SELLER_NAME,
        "address": settings.BILLING_SELLER_ADDRESS,
        "country": settings.BILLING_SELLER_COUNTRY,
        "tax_id": settings.BILLING_SELLER_TAX_ID,
        "email": settings.BILLING_SELLER_EMAIL,
    }


def buyer_snapshot(*, customer: Customer) -> dict[str, str]:
    """The customer's billing details now; their company or email stands in for a name."""
    details = BillingDetails.objects.filter(customer=customer).first()
    email = customer.user.email
    fallback = customer.company or customer.display_name or email
    if details is None:
        return {"name": fallback, "address": "", "country": "", "tax_id": "", "email": email}
    return {
        "name": details.name or fallback,
        "address": details.address,
        "country": details.country,
        "tax_id": details.tax_id,
        "email": email,
    }


def billing_details_update(
    *, customer: Customer, actor: Actor, name: str, address: str, country: str, tax_id: str
) -> BillingDetails:
    """Set who the customer's future invoices and receipts are made out to; issued ones
    keep the details they were issued with."""
    country = country.strip().upper()
    errors: dict[str, list[str]] = {}
    if country and (len(country) != 2 or not country.isalpha()):
        errors["country"] = ["Use the two-letter country code, e.g. DE or US."]
    limits = {"name": (name, 200), "address": (address, 1000), "tax_id": (tax_id, 50)}
    for field_name, (value, limit) in limits.items():
        if len(value.strip()) > limit:
            errors[field_name] = [f"Keep it under {limit} characters."]
    if errors:
        raise BillingDetailsInvalid("Check the billing details.", errors=errors)
    values = {
        "name": name.strip(),
        "address": address.replace("\r\n", "\n").strip(),
        "country": country,
        "tax_id": tax_id.strip(),
        "updated_at": timezone.now(),
    }
    with transaction.atomic():
        details, _ = BillingDetails.objects.update_or_create(customer=customer, defaults=values)
        accounts_services.activity_record(
            customer=customer,
            verb=ActivityVerb.BILLING_DETAILS_UPDATED,
            actor=actor,
            data={key: value for key, value in values.items() if key != "updated_at"},
        )
    return details


# --- Building a month ---------------------------------------------------------------------


@dataclass
class InvoiceBuild:
    """An invoice and its lines, not saved: the live draft, or what `invoice_issue` stores."""

    invoice: Invoice
    lines: list[InvoiceLine] = field(default_factory=list)

    def lines_of(self, kind: str) -> list[InvoiceLine]:
        return [line for line in self.lines if line.kind == kind]

    @property
    def has_activity(self) -> bool:
        return bool(self.lines)


def _wallet_entries(*, customer: Customer, currency: str) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(
        account__customer=customer, account__kind=AccountKind.WALLET, currency=currency
    )


def _belongs_before(moment: datetime) -> Q:
    """Wallet entries that belong to a month before `moment`: usage by its window, anything
    else (and usage posted without a window) by when it was posted."""
    # Exists, not a join: metering posts one transaction for many charges, and a join would
    # count its entry once per charge.
    charges = UsageCharge.objects.filter(transaction=OuterRef("transaction"))
    return Q(Exists(charges.filter(window_start__lt=moment))) | Q(
        ~Exists(charges), created_at__lt=moment
    )


def invoice_build(
    *, customer: Customer, period_start: date, currency: str = DEFAULT_CURRENCY
) -> InvoiceBuild:
    """The customer's month as it stands in the ledger now (see the module docstring)."""
    period_start = month_start(period_start)
    start, end = month_bounds(period_start)
    lines: list[InvoiceLine] = []

    unit_seconds = ExpressionWrapper(
        F("seconds") * F("quantity"), output_field=DecimalField(max_digits=20, decimal_places=3)
    )
    groups = (
        UsageCharge.objects.filter(
            customer=customer, currency=currency, window_start__gte=start, window_start__lt=end
        )
        .values("subject", "component", "rate")
        .annotate(
            label=Max("label"),
            unit_seconds=Sum(unit_seconds),
            amount=Sum("amount"),
            first=Min("window_start"),
        )
        .order_by()
    )
    first_of_subject: dict[str, datetime] = {}
    for group in groups:
        subject_first = first_of_subject.get(group["subject"], group["first"])
        first_of_subject[group["subject"]] = min(subject_first, group["first"])
    component_order = list(UsageCharge.Component.values)
    for group in sorted(
        groups,
        key=lambda g: (
            first_of_subject[g["subject"]],
            g["subject"],
            component_order.index(g["component"]),
            g["first"],
        ),
    ):
        component = UsageCharge.Component(group["component"])
        lines.append(
            InvoiceLine(
                kind=InvoiceLine.Kind.USAGE,
                description=f"{group['label'] or group['subject']} — {component.label.lower()}",
                subject=group["subject"],
                component=component.value,
                quantity=(Decimal(group["unit_seconds"]) / SECONDS_PER_HOUR).quantize(
                    QUANTITY_PLACES
                ),
                unit=UNITS[component],
                rate=group["rate"],
                amount=int(group["amount"]),
            )
        )

    # Everything else on the wallet in the month, by when it was posted; usage posted
    # without a window (no UsageCharge) is still usage, so the total matches the ledger.
    others = (
        _wallet_entries(customer=customer, currency=currency)
        .filter(created_at__gte=start, created_at__lt=end, transaction__usage_charges__isnull=True)
        .select_related("transaction")
        .order_by("account_seq")
    )
    for entry in others:
        txn = entry.transaction
        if txn.kind == TransactionKind.USAGE:
            kind, amount = InvoiceLine.Kind.USAGE, -entry.amount
        elif txn.kind == TransactionKind.TOPUP:
            kind, amount = InvoiceLine.Kind.PAYMENT, entry.amount
        else:
            kind, amount = InvoiceLine.Kind.OTHER, entry.amount
        label = TransactionKind(txn.kind).label
        lines.append(
            InvoiceLine(
                kind=kind,
                description=(f"{label}: {txn.memo}" if txn.memo else label)[:500],
                amount=amount,
                reference=txn.public_id,
                posted_at=entry.created_at,
            )
        )
    for position, line in enumerate(lines, start=1):
        line.position = position

    opening = (
        _wallet_entries(customer=customer, currency=currency)
        .filter(_belongs_before(start))
        .aggregate(total=Sum("amount"))["total"]
        or 0
    )
    usage_total = sum(line.amount for line in lines if line.kind == InvoiceLine.Kind.USAGE)
    other_total = sum(line.amount for line in lines if line.kind == InvoiceLine.Kind.OTHER)
    payments_total = sum(line.amount for line in lines if line.kind == InvoiceLine.Kind.PAYMENT)
    invoice = Invoice(
        customer=customer,
        period_start=period_start,
        currency=currency,
        opening_balance=int(opening),
        usage_total=usage_total,
        other_total=other_total,
        payments_total=payments_total,
        closing_balance=int(opening) - usage_total + other_total + payments_total,
        seller=seller_snapshot(),
        buyer=buyer_snapshot(customer=customer),
        issued_at=timezone.now(),
    )
    return InvoiceBuild(invoice=invoice, lines=lines)


def invoice_draft(*, customer: Customer, currency: str = DEFAULT_CURRENCY) -> InvoiceBuild:
    """The current month so far: never numbered, never stored."""
    return invoice_build(
        customer=customer, period_start=month_start(timezone.now()), currency=currency
    )


# --- Numbering ----------------------------------------------------------------------------


def _counter_lock(*, series: DocumentSeries, year: int) -> DocumentCounter:
    """The series' counter of the year, locked until the issuing transaction ends: numbers
    are taken one transaction at a time, and a rollback gives its number back."""
    assert transaction.get_connection().in_atomic_block
    DocumentCounter.objects.bulk_create(
        [DocumentCounter(series=series, year=year)], ignore_conflicts=True
    )
    return DocumentCounter.objects.select_for_update().get(series=series, year=year)


def _number_take(counter: DocumentCounter) -> str:
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"{counter.series}-{counter.year}-{counter.last_number:06d}"


# --- Issuing ------------------------------------------------------------------------------


def invoice_issue(
    *, customer: Customer, period_start: date, currency: str = DEFAULT_CURRENCY
) -> Invoice | None:
    """Issue the customer's invoice for a month that is over, once: an invoice that exists
    is returned as it is; a month without activity issues nothing (None); a month whose
    usage is not all posted yet (metering behind) is refused. The customer is emailed the
    PDF after commit."""
    period_start = month_start(period_start)
    now = timezone.now()
    if period_start >= month_start(now):
        raise InvoicePeriodOpen(
            f"{period_start:%B %Y} is not over: it is shown as a draft until it is."
        )
    invoices = Invoice.objects.filter(
        customer=customer, period_start=period_start, currency=currency
    )
    existing = invoices.first()
    if existing is not None:
        return existing
    # The watermark only moves forward, so once passed it stays passed for the build below.
    posted_until = selectors.usage_posted_until()
    if not month_usage_posted(period_start=period_start, posted_until=posted_until):
        raise InvoiceUsagePending(
            f"{period_start:%B %Y}'s usage is posted only until "
            f"{posted_until:%Y-%m-%d %H:%M} UTC: the invoice is issued once all of it is."
        )
    with transaction.atomic():
        counter = _counter_lock(series=DocumentSeries.INVOICE, year=now.year)
        # Under the counter's lock, so a concurrent issuer of this month has committed.
        existing = invoices.first()
        if existing is not None:
            return existing
        build = invoice_build(customer=customer, period_start=period_start, currency=currency)
        if not build.has_activity:
            return None
        number = _number_take(counter)
        invoice = build.invoice
        invoice.number = number
        invoice.issued_at = now
        invoice.save(force_insert=True)
        for line in build.lines:
            line.invoice = invoice
        InvoiceLine.objects.bulk_create(build.lines)
        accounts_services.activity_record(
            customer=customer,
            verb=ActivityVerb.INVOICE_ISSUED,
            actor=Actor.system(),
            object_id=invoice.public_id,
            data={
                "number": number,
                "period": f"{period_start:%Y-%m}",
                "total": str(micros_to_decimal(invoice.total)),
                "currency": currency,
            },
        )
        _email_on_commit(kind="invoice", object_id=invoice.pk)
    logger.info(
        "invoice.issued",
        extra={"invoice": invoice.public_id, "number": number, "customer": customer.public_id},
    )
    return invoice


def _email_on_commit(*, kind: str, object_id: int) -> None:
    from billing.tasks import document_email_task

    transaction.on_commit(lambda: document_email_task.delay(kind, object_id))


def invoices_due(*, now: datetime | None = None) -> list[tuple[int, date, str]]:
    """(customer id, month, currency) of every month over, within the catch-up window,
    that had activity and has no invoice yet, oldest first. A month whose usage is not all
    posted yet (metering behind) is left out and logged: a later run issues it.

    Usage is found with one index probe per wallet and month (usage charges are indexed
    by customer and window), never by reading the months' charges: a running machine
    adds two a minute. The other postings (top-ups, refunds, adjustments…) are few and
    have their own partial index on LedgerTransaction."""
    now = now or timezone.now()
    current = month_start(now)
    months = [current]
    for _ in range(settings.BILLING_INVOICE_CATCH_UP_MONTHS):
        months.insert(0, month_start(months[0] - timedelta(days=1)))
    months.pop()  # the current month is a draft
    due: set[tuple[int, date, str]] = set()
    wallets = LedgerAccount.objects.filter(kind=AccountKind.WALLET)
    for period in months:
        start, end = month_bounds(period)
        used = UsageCharge.objects.filter(
            customer=OuterRef("customer"),
            currency=OuterRef("currency"),
            window_start__gte=start,
            window_start__lt=end,
        )
        invoiced = Invoice.objects.filter(
            customer=OuterRef("customer"), currency=OuterRef("currency"), period_start=period
        )
        rows = (
            wallets.filter(Exists(used))
            .exclude(Exists(invoiced))
            .values_list("customer_id", "currency")
        )
        due.update((customer_id, period, currency) for customer_id, currency in rows)
    since, _ = month_bounds(months[0])
    until, _ = month_bounds(current)
    postings = (
        LedgerEntry.objects.filter(
            account__kind=AccountKind.WALLET,
            transaction__created_at__gte=since,
            transaction__created_at__lt=until,
        )
        .exclude(transaction__kind=TransactionKind.USAGE)
        .values_list("account__customer_id", "transaction__created_at", "currency")
    )
    issued = set(
        Invoice.objects.filter(period_start__gte=months[0]).values_list(
            "customer_id", "period_start", "currency"
        )
    )
    for customer_id, created_at, currency in postings:
        key = (customer_id, month_start(created_at), currency)
        if key not in issued:
            due.add(key)
    posted_until = selectors.usage_posted_until()
    waiting: dict[date, int] = {}
    for key in list(due):
        if not month_usage_posted(period_start=key[1], posted_until=posted_until):
            due.discard(key)
            waiting[key[1]] = waiting.get(key[1], 0) + 1
    for period, count in sorted(waiting.items()):
        logger.info(
            "invoices.waiting_for_metering",
            extra={"period": f"{period:%Y-%m}", "metered_until": posted_until, "invoices": count},
        )
    return sorted(due, key=lambda key: (key[1], key[0], key[2]))


def invoice_issue_due(*, customer_id: int, period_start: date, currency: str) -> Invoice | None:
    """`invoice_issue` for one (customer, month, currency) of `invoices_due`."""
    customer = Customer.objects.select_related("user").get(pk=customer_id)
    return invoice_issue(customer=customer, period_start=period_start, currency=currency)


def invoices_queue_due(*, now: datetime | None = None) -> int:
    """The hourly job: queue one `billing.invoice_issue` task per invoice due (last month's
    on the 1st once metering has posted all of it, and any month a downtime left out), so
    the 1st's run is spread over the workers and no task nears the time limit. Returns how
    many it queued."""
    from billing.tasks import invoice_issue_task

    due = invoices_due(now=now)
    for customer_id, period_start, currency in due:
        invoice_issue_task.delay(customer_id, period_start.isoformat(), currency)
    logger.info("invoices.queued", extra={"count": len(due)})
    return len(due)


def invoices_issue_due(*, now: datetime | None = None) -> int:
    """Issue every invoice due in this process, one after another (staff and tests; beat
    queues them with `invoices_queue_due`). A rerun issues nothing twice. Returns how
    many it issued."""
    issued = 0
    for customer_id, period_start, currency in invoices_due(now=now):
        invoice = invoice_issue_due(
            customer_id=customer_id, period_start=period_start, currency=currency
        )
        if invoice is not None:
            issued += 1
    logger.info("invoices.issued", extra={"count": issued})
    return issued


# --- Credit notes -------------------------------------------------------------------------


def credit_note_issue(
    *,
    invoice: Invoice,
    amount: int,
    reason: str,
    actor: Actor,
    submission: uuid.UUID | None = None,
) -> CreditNote:
    """Correct an issued invoice: credit `amount` micro-units to the customer's wallet with
    a reason. The credit notes of one invoice may not add up to more than its total.

    `submission` names the request (the staff form draws one): issued again with it, the
    credit note it made is returned and nothing more is credited or numbered."""
    reason = reason.strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = ["Give a reason."]
    if type(amount) is not int or amount <= 0:
        errors["amount"] = ["The amount must be more than zero."]
    if errors:
        raise CreditNoteInvalid(" ".join(m for ms in errors.values() for m in ms), errors=errors)
    now = timezone.now()
    with transaction.atomic():
        # One invoice's credit notes one at a time, so their sum is checked under a lock.
        invoice = Invoice.objects.select_for_update().select_related("customer").get(pk=invoice.pk)
        key = f"creditnote:{invoice.public_id}:{submission}" if submission else None
        if key is not None:
            done = invoice.credit_notes.filter(transaction__idempotency_key=key).first()
            if done is not None:
                return done
        credited = invoice.credit_notes.aggregate(total=Sum("amount"))["total"] or 0
        if credited + amount > invoice.total:
            left = micros_to_decimal(invoice.total - credited)
            message = f"At most {left} {invoice.currency} of {invoice.number} is left to credit."
            raise CreditNoteInvalid(message, errors={"amount": [message]})
        number = _number_take(_counter_lock(series=DocumentSeries.CREDIT_NOTE, year=now.year))
        public_id = new_public_id("crn")
        txn = ledger_post(
            key=key or f"creditnote:{public_id}",
            kind=TransactionKind.ADJUSTMENT,
            memo=f"Credit note {number} for {invoice.number}: {reason}"[:500],
            lines=[
                Line.wallet(invoice.customer, amount),
                Line.system(SystemAccount.ADJUSTMENTS, -amount),
            ],
            currency=invoice.currency,
            metadata={
                "credit_note": public_id,
                "invoice": invoice.public_id,
                "staff_user_id": actor.user_id,
                "staff": actor.label,
            },
        )
        note = CreditNote.objects.create(
            public_id=public_id,
            number=number,
            invoice=invoice,
            customer=invoice.customer,
            amount=amount,
            currency=invoice.currency,
            reason=reason[:500],
            transaction=txn,
            seller=seller_snapshot(),
            buyer=buyer_snapshot(customer=invoice.customer),
            issued_by=actor.label[:254],
            issued_at=now,
        )
        accounts_services.activity_record(
            customer=invoice.customer,
            verb=ActivityVerb.CREDIT_NOTE_ISSUED,
            actor=actor,
            object_id=public_id,
            data={
                "number": number,
                "invoice": invoice.number,
                "amount": str(micros_to_decimal(amount)),
                "currency": invoice.currency,
                "reason": reason,
            },
        )
        _email_on_commit(kind="credit_note", object_id=note.pk)
    logger.info("credit_note.issued", extra={"credit_note": public_id, "number": number})
    return note


# --- Receipts -----------------------------------------------------------------------------


def receipt_issue(*, txn: LedgerTransaction) -> Receipt:
    """Issue the receipt of one top-up posting, once: the top-up service calls it in the
    transaction that credits the wallet; a second call (a webhook retried) returns the
    receipt that exists (one per transaction, a unique constraint)."""
    existing = Receipt.objects.filter(transaction=txn).first()
    if existing is not None:
        return existing
    if txn.kind != TransactionKind.TOPUP:
        raise ValueError(f"{txn.public_id} is not a top-up.")
    entry = (
        LedgerEntry.objects.filter(transaction=txn, account__kind=AccountKind.WALLET)
        .select_related("account__customer__user")
        .get()
    )
    customer = entry.account.customer
    assert customer is not None  # a wallet has one
    metadata = txn.metadata or {}
    brand, last4 = metadata.get("card_brand"), metadata.get("card_last4")
    method = f"{str(brand).title()} ending {last4}" if brand and last4 else "Card"
    receipt, _ = Receipt.objects.get_or_create(
        transaction=txn,
        defaults={
            "customer": customer,
            "amount": entry.amount,
            "currency": txn.currency,
            "paid_at": txn.created_at,
            "payment_method": method[:100],
            "seller": seller_snapshot(),
            "buyer": buyer_snapshot(customer=customer),
        },
    )
    return receipt
