"""Card disputes on paid top-ups: the policy stated in the README."""

import logging

from django.db import transaction
from django.utils import timezone

from accounts import services as accounts_services
from accounts.activity import Actor
from accounts.models import ActivityVerb
from billing import services, stripe_gateway
from billing.models import (
    SystemAccount,
    TopUp,
    TopUpDispute,
    TransactionKind,
)
from billing.payments.topups import (
    Status,
    _flag,
    _hold_release,
    _move,
    _save,
    _settled_status,
    cents_to_micros,
)
from billing.services import Line
from billing.stripe_gateway import PROVIDER

logger = logging.getLogger(__name__)


# --- Disputes -----------------------------------------------------------------------------

DISPUTE_OPEN = {"needs_response", "under_review"}
DISPUTE_WON = {"won", "warning_closed", "prevented"}


def dispute_sync(*, dispute_id: str) -> TopUpDispute | None:
    return dispute_apply(dispute=stripe_gateway.dispute_get(dispute_id=dispute_id))


def dispute_apply(*, dispute: stripe_gateway.Dispute) -> TopUpDispute | None:
    """The dispute policy (README): open → hold the disputed amount and flag for staff; won
    → release it; lost → release and post the loss (which may take the wallet below zero).
    An inquiry (warning_*) moves no money: it is only flagged."""
    with transaction.atomic():
        topup = (
            TopUp.objects.select_for_update().filter(payment_intent_id=dispute.payment_intent_id)
        ).first()
        if topup is None:
            logger.error("dispute.unknown_payment", extra={"dispute": dispute.id})
            return None
        row, created = TopUpDispute.objects.select_for_update().get_or_create(
            stripe_id=dispute.id,
            defaults={
                "topup": topup,
                "amount": dispute.amount,
                "status": dispute.status,
                "reason": dispute.reason[:100],
            },
        )
        if created:
            _move(topup, Status.DISPUTED)
            _flag(topup, f"card dispute {dispute.id} ({dispute.reason or 'no reason'})")
            _save(topup, "needs_review", "review_reason")
            accounts_services.activity_record(
                customer=topup.customer,
                verb=ActivityVerb.TOPUP_DISPUTED,
                actor=Actor.system(),
                object_id=topup.public_id,
                data={"amount": f"{dispute.amount / 100:.2f}", "dispute": dispute.id},
            )
        micros = cents_to_micros(dispute.amount)
        key = f"stripe:dp:{dispute.id}"
        if dispute.status in DISPUTE_OPEN and row.hold_id is None and row.loss_id is None:
            row.hold = services.hold_place(
                customer=topup.customer,
                key=key,
                amount=micros,
                subject=topup.public_id,
                memo=f"Card dispute on {topup.public_id}",
                allow_short=True,
            )
        elif dispute.status in DISPUTE_WON:
            _hold_release(key)
            if _move(topup, _settled_status(topup)):
                _save(topup)
        elif dispute.status == "lost" and row.loss_id is None:
            _hold_release(key)
            row.loss = services.ledger_post(
                key=f"{key}:lost",
                kind=TransactionKind.DISPUTE,
                memo=f"Card dispute lost ({topup.public_id})",
                lines=[
                    Line.wallet(topup.customer, -micros),
                    Line.system(SystemAccount.DISPUTES, micros),
                ],
                currency=topup.currency,
                metadata={"topup": topup.public_id, "provider": PROVIDER, "dispute": dispute.id},
            )
        row.status = dispute.status
        row.updated_at = timezone.now()
        row.save(update_fields=["status", "hold", "loss", "updated_at"])
    return row
