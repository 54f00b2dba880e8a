"""Publishing deployment changes to WebSocket groups, after the transaction commits.

Each message is serialised once here and fanned out by channels-redis to every web
process; consumers relay it. Groups: `deployment.<dep_id>` (one deployment) and
`customer.<cus_id>.deployments` (all of a customer's).
"""

import json
import uuid
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from cloudportal import realtime

if TYPE_CHECKING:
    from deployments.models import DeploymentEvent


def customer_balance_group(customer_public_id: str) -> str:
    return f"customer.{customer_public_id}.balance"


def publish_balances(*, customer_ids: "Collection[int]") -> None:
    """Now (call it after commit): `balance.updated` — the balance and runway, as
    `GET /api/v1/billing/balance` answers — to each customer's balance group. Three
    queries and one send, whatever the number of customers."""
    from accounts.models import Customer
    from billing.runway import balance_documents

    if not customer_ids:
        return
    documents = balance_documents(customer_ids=customer_ids)
    public_ids = dict(
        Customer.objects.filter(pk__in=list(customer_ids)).values_list("pk", "public_id")
    )
    realtime.groups_send_batch(
        (
            [customer_balance_group(public_ids[customer_id])],
            [
                {
                    "type": "deployment.batch",
                    "items": [_item({"type": "balance.updated", "balance": document})],
                }
            ],
        )
        for customer_id, document in documents.items()
        if customer_id in public_ids
    )


def deployment_group(deployment_public_id: str) -> str:
    return f"deployment.{deployment_public_id}"


def customer_deployments_group(customer_public_id: str) -> str:
    return f"customer.{customer_public_id}.deployments"


# Items per channel-layer message: one message per group per batch, within reason.
BATCH_ITEMS = 100


def _item(message: dict[str, object]) -> dict[str, str]:
    """A message for consumers to relay, JSON-encoded once here rather than per socket."""
    return {
        "message_id": uuid.uuid4().hex,  # a socket in two groups shows it once
        "text": json.dumps(message, cls=DjangoJSONEncoder),
    }


def publish_deployment_updated(*, deployment_id: int) -> None:
    publish_deployments_changed(updated_ids=[deployment_id])


def publish_deployments_changed(
    *,
    updated_ids: "Collection[int]" = (),
    new_events: "Sequence[DeploymentEvent]" = (),
) -> None:
    """After commit: the current state of `updated_ids` and the new Heat events, to each
    deployment's group and its customer's. One query and one send, whatever the batch
    (a reconciler cycle publishes everything it changed at once).
    """
    updated_ids = set(updated_ids)
    events_by_deployment: dict[int, list[DeploymentEvent]] = {}
    for event in new_events:
        events_by_deployment.setdefault(event.deployment_id, []).append(event)
    if not updated_ids and not events_by_deployment:
        return

    def send() -> None:
        from deployments.api.serializers import DeploymentEventOutput, DeploymentOutput
        from deployments.models import Deployment

        deployments = list(
            Deployment.objects.select_related(
                "customer", "region", "instance_type", "image", "storage_profile"
            ).filter(pk__in=updated_ids | events_by_deployment.keys())
        )
        # Serialised with many=True: DRF builds its fields once, not once per object.
        updated = [deployment for deployment in deployments if deployment.pk in updated_ids]
        payloads = dict(
            zip(
                (deployment.pk for deployment in updated),
                DeploymentOutput(updated, many=True).data,
                strict=True,
            )
        )
        grouped = [event for batch in events_by_deployment.values() for event in batch]
        event_payloads = iter(DeploymentEventOutput(grouped, many=True).data)
        events_data = {
            deployment_id: [next(event_payloads) for _ in batch]
            for deployment_id, batch in events_by_deployment.items()
        }
        # One channel-layer message per group (in order), not one per item and group: a
        # reconciler cycle publishes hundreds of items.
        items_by_group: dict[str, list[dict[str, str]]] = {}
        for deployment in deployments:
            messages: list[dict[str, object]] = [
                {"type": "deployment.event", "deployment_id": deployment.public_id, "event": data}
                for data in events_data.get(deployment.pk, ())
            ]
            if deployment.pk in payloads:
                messages.append(
                    {"type": "deployment.updated", "deployment": payloads[deployment.pk]}
                )
            items = [_item(message) for message in messages]
            for group in (
                deployment_group(deployment.public_id),
                customer_deployments_group(deployment.customer.public_id),
            ):
                items_by_group.setdefault(group, []).extend(items)
        realtime.groups_send_batch(
            ([group], [{"type": "deployment.batch", "items": items[start : start + BATCH_ITEMS]}])
            for group, items in items_by_group.items()
            for start in range(0, len(items), BATCH_ITEMS)
        )

    transaction.on_commit(send)
