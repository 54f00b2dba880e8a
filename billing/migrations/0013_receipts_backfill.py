# Receipts are issued with the top-up's credit now (`billing.payments.topups` calls
# `billing.invoices.receipt_issue` in the crediting transaction). Before, a receipt was made
# out the first time the customer listed their receipts, so an older top-up may have none:
# this issues those, as `receipt_issue` does, on the models as they stand at this migration.
# The buyer's details are those of now (billing details keep no history). Run again, or
# beside a portal that is crediting, it issues none twice: one receipt per transaction is a
# unique constraint, and a conflict is skipped. Issued documents are never deleted (a
# trigger refuses it), so the reverse leaves them.

from django.conf import settings
from django.db import migrations

BATCH = 500


def _buyer(customer, details):
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


def _payment_method(metadata):
    brand, last4 = (metadata or {}).get("card_brand"), (metadata or {}).get("card_last4")
    method = f"{str(brand).title()} ending {last4}" if brand and last4 else "Card"
    return method[:100]


def receipts_backfill(apps, schema_editor):
    db = schema_editor.connection.alias
    BillingDetails = apps.get_model("billing", "BillingDetails")
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    Receipt = apps.get_model("billing", "Receipt")
    seller = {
        "name": settings.BILLING_SELLER_NAME,
        "address": settings.BILLING_SELLER_ADDRESS,
        "country": settings.BILLING_SELLER_COUNTRY,
        "tax_id": settings.BILLING_SELLER_TAX_ID,
        "email": settings.BILLING_SELLER_EMAIL,
    }
    # The top-ups' wallet entries, read whole before any insert (SQLite must not read a
    # table it is writing), then made out a batch at a time.
    entry_ids = list(
        LedgerEntry.objects.using(db)
        .filter(
            transaction__kind="topup",
            account__kind="wallet",
            transaction__receipt__isnull=True,
        )
        .order_by("transaction__created_at", "transaction_id")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(entry_ids), BATCH):
        entries = list(
            LedgerEntry.objects.using(db)
            .filter(pk__in=entry_ids[start : start + BATCH])
            .select_related("transaction", "account__customer__user")
            .order_by("transaction__created_at", "transaction_id")
        )
        customer_ids = {entry.account.customer_id for entry in entries}
        details = {
            row.customer_id: row
            for row in BillingDetails.objects.using(db).filter(customer_id__in=customer_ids)
        }
        receipts = [
            Receipt(
                customer_id=entry.account.customer_id,
                transaction_id=entry.transaction_id,
                amount=entry.amount,
                currency=entry.transaction.currency,
                paid_at=entry.transaction.created_at,
                payment_method=_payment_method(entry.transaction.metadata),
                seller=seller,
                buyer=_buyer(entry.account.customer, details.get(entry.account.customer_id)),
            )
            for entry in entries
        ]
        Receipt.objects.using(db).bulk_create(receipts, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("billing", "0012_ledger_post_planned_once")]

    operations = [migrations.RunPython(receipts_backfill, migrations.RunPython.noop)]
