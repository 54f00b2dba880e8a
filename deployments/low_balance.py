"""Low balance: warn, stop, and after a grace period delete; a top-up starts what it stopped.

One `LowBalanceEpisode` row per customer records which steps were taken, in the same
transaction as the step's activity entry, so each step happens once per episode and a
worker killed at any point carries on at the next check (the steps themselves — stop,
start, delete requests — are idempotent services). The steps, by available balance and
runway (available ÷ the hourly cost of what the customer runs and keeps):

- runway < 24 h, then < 1 h: an email and a banner, once each per episode;
- available <= 0: every running machine is stopped (not deleted), with an email;
- still <= 0 a day before the grace period (DEPLOYMENTS_LOW_BALANCE_GRACE_HOURS) ends: a
  warning email; when it ends, every machine that still costs money is deleted;
- a top-up that covers more than an hour of everything once restarted: the machines low balance
  stopped start again (not those the customer stopped), and the dry spell is over;
- runway back at 24 h or more: the episode ends, and a later drop warns again.

Checks run from beat (`low_balance_sweep`) and after every wallet change (the
`billing.signals.wallet_changed` receiver marks the customer, and `wallet_reactions`
drains the marks on a worker, one check per customer however many postings).
"""

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import ActivityVerb, Customer
from billing.money import micros_from_decimal, micros_to_cents
from billing.runway import Runway, wallet_runway
from deployments import services
from deployments.exceptions import DeploymentInsufficientBalance, DeploymentStateConflict
from deployments.models import Deployment, LowBalanceEpisode, Status
from deployments.runway import KEPT_STATUSES, RUNNING_STATUSES

logger = logging.getLogger(__name__)

WARN_HOURS = Decimal(24)
URGENT_HOURS = Decimal(1)
DELETION_NOTICE = timedelta(hours=24)
SUBJECT_PREFIX = "[GPU Cloud] "


class Step:
    """What a check did; also the `step` of the BALANCE_LOW activity entry."""

    WARNED_24H = "runway_below_24h"
    WARNED_1H = "runway_below_1h"
    STOPPED = "stopped"
    DELETION_WARNED = "deletion_warning"
    DELETED = "deleted"
    RESTARTED = "restarted"


def _costing(customer: Customer) -> QuerySet[Deployment]:
    """Machines that cost money: running (compute and storage) or kept (storage)."""
    return Deployment.objects.filter(
        customer=customer, status__in=RUNNING_STATUSES | KEPT_STATUSES
    ).order_by("id")


def grace_ends_at(episode: LowBalanceEpisode) -> datetime | None:
    if episode.dry_at is None:
        return None
    return episode.dry_at + timedelta(hours=settings.DEPLOYMENTS_LOW_BALANCE_GRACE_HOURS)


def low_balance_check(*, customer_id: int, now: datetime | None = None) -> list[str]:
    """Apply the policy to one customer; returns the steps taken (empty: nothing to do)."""
    now = now or timezone.now()
    with transaction.atomic():
        LowBalanceEpisode.objects.get_or_create(customer_id=customer_id)
        episode = (
            LowBalanceEpisode.objects.select_for_update()
            .select_related("customer__user")
            .get(customer_id=customer_id)
        )
        customer = episode.customer
        runway = wallet_runway(customer=customer)
        steps: list[str] = []
        if runway.available <= 0 and _costing(customer).exists():
            steps += _dry(episode, customer, now)
        else:
            if episode.dry_at is not None:
                steps += _recover(episode, customer, runway)
            if episode.dry_at is not None:
                # Not recovered: available is above zero only by the hour the stopped
                # machines' holds gave back, so the grace period runs on.
                steps += _dry(episode, customer, now)
            else:
                steps += _warn(episode, customer, runway, now)
        episode.save()
    if steps:
        logger.info(
            "low_balance.steps",
            extra={"customer_id": customer.public_id, "steps": steps},
        )
    return steps


def low_balance_sweep(*, now: datetime | None = None) -> int:
    """Beat's job: check every customer who has machines that cost or an open episode."""
    return low_balance_check_many(customer_ids=None, now=now)


def low_balance_check_many(
    *, customer_ids: Collection[int] | None, now: datetime | None = None
) -> int:
    """Check those of `customer_ids` (None: everyone) who have machines that cost money or
    an open episode: for the others a check has nothing to do. Returns how many were checked."""
    open_episode = (
        Q(warned_day_at__isnull=False) | Q(warned_hour_at__isnull=False) | Q(dry_at__isnull=False)
    )
    costing = Deployment.objects.filter(status__in=RUNNING_STATUSES | KEPT_STATUSES)
    episodes = LowBalanceEpisode.objects.filter(open_episode)
    if customer_ids is not None:
        costing = costing.filter(customer_id__in=list(customer_ids))
        episodes = episodes.filter(customer_id__in=list(customer_ids))
    to_check = set(costing.values_list("customer_id", flat=True)) | set(
        episodes.values_list("customer_id", flat=True)
    )
    for customer_id in sorted(to_check):
        try:
            low_balance_check(customer_id=customer_id, now=now)
        except Exception:  # one customer's failure must not stop the others' checks
            logger.exception("low_balance.check_failed", extra={"customer": customer_id})
    return len(to_check)


def _step(customer: Customer, step: str, email: str | None, **data: Any) -> str:
    accounts_services.activity_record(
        customer=customer,
        verb=ActivityVerb.BALANCE_LOW,
        actor=None,
        object_id=customer.public_id,
        data={"step": step, **data},
    )
    if email is not None:
        _email_schedule(customer_id=customer.pk, kind=email)
    return step


def _warn(
    episode: LowBalanceEpisode, customer: Customer, runway: Runway, now: datetime
) -> list[str]:
    hours = runway.hours
    if hours is None or hours >= WARN_HOURS:
        episode.warned_day_at = episode.warned_hour_at = None  # the episode is over
        return []
    data = {"hours": str(hours), "available": str(micros_to_cents(runway.available))}
    if hours < URGENT_HOURS and episode.warned_hour_at is None:
        # Both thresholds may be crossed at once: one email, the more urgent one.
        episode.warned_hour_at = now
        episode.warned_day_at = episode.warned_day_at or now
        return [_step(customer, Step.WARNED_1H, Step.WARNED_1H, **data)]
    if episode.warned_day_at is None:
        episode.warned_day_at = now
        return [_step(customer, Step.WARNED_24H, Step.WARNED_24H, **data)]
    return []


def _dry(episode: LowBalanceEpisode, customer: Customer, now: datetime) -> list[str]:
    steps: list[str] = []
    if episode.dry_at is None:
        episode.dry_at = now
        episode.deletion_warned_at = episode.deleted_at = None
        episode.warned_day_at = episode.warned_day_at or now
        episode.warned_hour_at = episode.warned_hour_at or now
        ends = grace_ends_at(episode)
        assert ends is not None
        steps.append(_step(customer, Step.STOPPED, Step.STOPPED, deletion_at=ends.isoformat()))
    # Every check, not only the first: a machine that was still being created or started
    # becomes ACTIVE later and is stopped then.
    for deployment in _costing(customer).filter(status=Status.ACTIVE):
        try:
            services.deployment_request_stop(deployment=deployment, low_balance=True)
        except DeploymentStateConflict as conflict:
            # Moved meanwhile (a delete), or launched before machines could be stopped: that
            # one runs on until the grace period ends (README), which staff should know.
            logger.warning(
                "low_balance.not_stopped",
                extra={"deployment_id": deployment.public_id, "reason": conflict.detail},
            )
    ends = grace_ends_at(episode)
    assert ends is not None
    if now >= ends - DELETION_NOTICE and episode.deletion_warned_at is None:
        episode.deletion_warned_at = now
        steps.append(
            _step(
                customer,
                Step.DELETION_WARNED,
                Step.DELETION_WARNED,
                deletion_at=ends.isoformat(),
            )
        )
    if now >= ends:
        doomed = list(_costing(customer))
        for deployment in doomed:
            services.deployment_request_delete(deployment=deployment)
        if doomed and episode.deleted_at is None:
            episode.deleted_at = now
            steps.append(
                _step(
                    customer,
                    Step.DELETED,
                    Step.DELETED,
                    deployments=[deployment.public_id for deployment in doomed],
                )
            )
    return steps


def _recover(episode: LowBalanceEpisode, customer: Customer, runway: Runway) -> list[str]:
    """The balance is above zero again: restart what low balance stopped once an hour of
    everything (the restarted machines included) is covered; end the dry spell then."""
    stopped = list(
        Deployment.objects.filter(
            customer=customer,
            status__in=(Status.STOPPING, Status.STOPPED),
            stopped_by_low_balance=True,
        ).order_by("id")
    )
    if any(deployment.status == Status.STOPPING for deployment in stopped):
        # Still stopping: the compute hour its hold just gave back is not a top-up.
        return []
    compute = (
        stopped
        and Deployment.objects.filter(pk__in=[d.pk for d in stopped]).aggregate(
            total=Sum("compute_hourly_price")
        )["total"]
    )
    restarted_compute = micros_from_decimal(compute or Decimal(0))
    # Restarting grows each machine's hold back to its whole next hour (taken from
    # available); what is left must still pay strictly more than an hour of everything,
    # or the machines would run dry and stop again at once.
    required = restarted_compute + runway.hourly_cost + restarted_compute
    if runway.available <= 0 or runway.available <= required:
        return []
    started: list[str] = []
    for deployment in stopped:
        try:
            services.deployment_request_start(deployment=deployment, low_balance=True)
        except (DeploymentStateConflict, DeploymentInsufficientBalance):
            continue
        started.append(deployment.public_id)
    episode.dry_at = episode.deletion_warned_at = episode.deleted_at = None
    if not started:
        return []  # nothing left to restart (deleted after the grace period): the spell ends
    return [_step(customer, Step.RESTARTED, Step.RESTARTED, started=started)]


# --- Emails -------------------------------------------------------------------------------


def _email_schedule(*, customer_id: int, kind: str) -> None:
    from deployments.tasks import low_balance_email_task

    transaction.on_commit(lambda: low_balance_email_task.delay(customer_id, kind))


def low_balance_email_send(*, customer_id: int, kind: str) -> None:
    """One plain-text email of the policy's steps, with the figures as they are now."""
    customer = Customer.objects.select_related("user").get(pk=customer_id)
    episode = LowBalanceEpisode.objects.filter(customer=customer).first()
    runway = wallet_runway(customer=customer)
    billing_url = settings.PORTAL_BASE_URL + reverse("billing:overview")
    grace = settings.DEPLOYMENTS_LOW_BALANCE_GRACE_HOURS
    available = f"${micros_to_cents(runway.available)}"
    ends = grace_ends_at(episode) if episode is not None else None
    ends_text = ends.strftime("%Y-%m-%d %H:%M UTC") if ends else f"{grace} hours from now"
    subject, body = {
        Step.WARNED_24H: (
            "Your balance lasts less than a day",
            f"At the current rate your balance ({available}) lasts about {runway.hours} hours. "
            f"When it reaches zero your running machines are stopped, and deleted "
            f"{grace} hours later if it stays at zero.",
        ),
        Step.WARNED_1H: (
            "Your balance lasts less than an hour",
            f"At the current rate your balance ({available}) runs out within the hour. Your "
            f"running machines are then stopped (their disks are kept), and deleted {grace} "
            "hours later if the balance stays at zero.",
        ),
        Step.STOPPED: (
            "Your machines were stopped: the balance ran out",
            f"Your balance reached {available}, so your running machines were stopped. Their "
            f"disks are kept (and billed as storage). Top up to start them again; with the "
            f"balance still at or below zero they are deleted at {ends_text}.",
        ),
        Step.DELETION_WARNED: (
            "Your machines will be deleted in 24 hours",
            f"Your balance is {available}. Unless you top up, your machines and their disks "
            f"are deleted at {ends_text}. This cannot be undone.",
        ),
        Step.DELETED: (
            "Your machines were deleted",
            f"Your balance stayed at or below zero for {grace} hours, so your machines and "
            "their disks were deleted.",
        ),
        Step.RESTARTED: (
            "Your machines are starting again",
            f"Thanks for topping up: your balance is {available}. The machines stopped "
            "when it ran out are starting again from their kept disks.",
        ),
    }[kind]
    EmailMessage(
        subject=SUBJECT_PREFIX + subject,
        body=f"{body}\n\nTop up: {billing_url}\n",
        to=[customer.user.email],
    ).send()
    logger.info("low_balance.email_sent", extra={"customer_id": customer.public_id, "kind": kind})
