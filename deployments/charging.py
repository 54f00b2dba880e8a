"""What a deployment reserves on its customer's wallet, and the check before one runs.

A running deployment holds its next hour of cost (compute and storage) on the wallet, so
the money it is about to use cannot be spent twice; a stopped one holds an hour of storage.
The hold has one key per deployment (`deployment:<public id>:hour`), resized as the
machine stops and starts, released when it is deleted or fails. What it actually uses is
charged by metering (deployments/metering.py); the hold only keeps it affordable.

A create (and a start) needs available >= one hour of the machine's price.
"""

import logging
from collections.abc import Iterable
from decimal import ROUND_CEILING, Decimal

from django.urls import reverse

from accounts import services as accounts_services
from accounts.activity import Actor
from accounts.models import ActivityVerb, Customer
from billing import selectors as billing_selectors
from billing import services as billing_services
from billing.exceptions import InsufficientFunds
from billing.models import Hold
from billing.money import CENT, micros_from_decimal, micros_to_cents, micros_to_decimal
from deployments.exceptions import DeploymentInsufficientBalance
from deployments.models import Deployment

logger = logging.getLogger(__name__)


def hold_key(public_id: str) -> str:
    return f"deployment:{public_id}:hour"


def top_up_url() -> str:
    """Where a customer adds money (the 402's and the launch page's link)."""
    return reverse("billing:topup")


def deployment_afford_check(
    *,
    customer: Customer,
    hourly_price: Decimal,
    actor: Actor | None = None,
    data: dict[str, str] | None = None,
) -> None:
    """Refuse (`DeploymentInsufficientBalance`, with an activity entry
    `deployment.create_denied`) unless the available balance covers an hour of
    `hourly_price`. `data` names what was asked for, in the activity entry."""
    available = billing_selectors.wallet_balance(customer=customer).available
    if available < micros_from_decimal(hourly_price):
        raise deployment_create_refusal(
            customer=customer,
            hourly_price=hourly_price,
            available=available,
            actor=actor,
            data=data,
        )


def deployment_create_refusal(
    *,
    customer: Customer,
    hourly_price: Decimal,
    available: int,
    actor: Actor | None = None,
    data: dict[str, str] | None = None,
) -> DeploymentInsufficientBalance:
    """The create's refusal for `available` (what the check or the refused hold found),
    recorded as `deployment.create_denied`; the caller raises it."""
    required = micros_from_decimal(hourly_price)
    error = DeploymentInsufficientBalance(
        _denied_message(required=required, available=available),
        required=required,
        available=available,
        top_up_url=top_up_url(),
    )
    accounts_services.activity_record(
        customer=customer,
        verb=ActivityVerb.DEPLOYMENT_CREATE_DENIED,
        actor=actor,
        data={**(data or {}), **error.problem_fields()},
    )
    logger.info(
        "deployment.create_denied",
        extra={"customer_id": customer.public_id, "required": required, "available": available},
    )
    return error


def hold_refusal_available(*, refusal: InsufficientFunds, customer: Customer, currency: str) -> int:
    """The available balance a refused hold found, for a create's or a start's 402: another
    create or start took the money since their check, and a fresh look may find it back
    already (a hold released, a credit committed). Holds always say; anything else: look."""
    if refusal.available is not None:
        return refusal.available
    return billing_selectors.wallet_balance(customer=customer, currency=currency).available


def _denied_message(*, required: int, available: int) -> str:
    # The shortfall rounds up: adding the cents shown is always enough.
    shortfall = micros_to_decimal(required - available).quantize(CENT, rounding=ROUND_CEILING)
    return (
        f"This machine needs ${micros_to_cents(required)} available to start: its first hour "
        f"is reserved while it runs. You have ${micros_to_cents(available)} available; "
        f"add at least ${shortfall} to your balance."
    )


def _hold_set(*, deployment: Deployment, amount: int, allow_short: bool, memo: str) -> Hold:
    hold = billing_services.hold_place(
        customer=deployment.customer,
        key=hold_key(deployment.public_id),
        amount=amount,
        subject=deployment.public_id,
        memo=memo,
        currency=deployment.currency,
        allow_short=allow_short,
    )
    if hold.status == Hold.Status.ACTIVE and hold.amount != amount:
        hold = billing_services.hold_change(hold=hold, amount=amount, allow_short=allow_short)
    return hold


def deployment_hold_running(*, deployment: Deployment, allow_short: bool = True) -> Hold:
    """Hold the deployment's next hour of compute and storage. `allow_short=False` (a create,
    a start) raises billing's `InsufficientFunds` when the available balance cannot cover
    it; a machine already running keeps its hold even when short."""
    return _hold_set(
        deployment=deployment,
        amount=micros_from_decimal(deployment.hourly_price),
        allow_short=allow_short,
        memo=f"{deployment.name}: next hour running",
    )


def deployment_hold_stopped(*, deployment: Deployment) -> Hold:
    """Shrink the hold to an hour of storage: a stopped machine keeps only its disks."""
    return _hold_set(
        deployment=deployment,
        amount=micros_from_decimal(deployment.storage_hourly_price),
        allow_short=True,
        memo=f"{deployment.name}: next hour stopped",
    )


def deployment_holds_release(*, public_ids: Iterable[str]) -> None:
    """Release the holds of deployments that are deleted or failed (none: nothing)."""
    billing_services.holds_release(keys=[hold_key(public_id) for public_id in public_ids])
