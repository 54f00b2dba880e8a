"""Publishing deployment changes to WebSocket groups, after the transaction commits.

Each message is serialised once here and fanned out by channels-redis to every web
process; consumers relay it. Groups: `deployment.<dep_id>` (one deployment) and
`customer.<cus_id>.deployments` (all of a customer's).
"""

import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from cloudportal import realtime

if TYPE_CHECKING:
    from deployments.models import DeploymentEvent


def deployment_group(deployment_public_id: str) -> str:
    return f"deployment.{deployment_public_id}"


def customer_deployments_group(customer_public_id: str) -> str:
    return f"customer.{customer_public_id}.deployments"


def _send(groups: list[str], messages: list[dict[str, object]]) -> None:
    """Relay messages to the groups' sockets, each JSON-encoded once here, not per socket."""
    realtime.groups_send(
        groups,
        [
            {
                "type": message["type"],
                "message_id": uuid.uuid4().hex,  # a socket in two groups shows it once
                "text": json.dumps(message, cls=DjangoJSONEncoder),
            }
            for message in messages
        ],
    )


def publish_deployment_updated(*, deployment_id: int) -> None:
    def send() -> None:
        from deployments.api.serializers import DeploymentOutput
        from deployments.models import Deployment

        deployment = (
            Deployment.objects.select_related(
                "customer", "region", "instance_type", "image", "storage_profile"
            )
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None:
            return
        payload = DeploymentOutput(deployment).data
        _send(
            [
                deployment_group(deployment.public_id),
                customer_deployments_group(deployment.customer.public_id),
            ],
            [{"type": "deployment.updated", "deployment": payload}],
        )

    transaction.on_commit(send)


def publish_deployment_events(
    *, deployment_id: int, new_events: "Sequence[DeploymentEvent]"
) -> None:
    """New Heat events of one deployment, serialised from memory: one query per batch."""
    if not new_events:
        return

    def send() -> None:
        from deployments.api.serializers import DeploymentEventOutput
        from deployments.models import Deployment

        deployment = (
            Deployment.objects.select_related("customer")
            .only("public_id", "customer__public_id")
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None:
            return
        groups = [
            deployment_group(deployment.public_id),
            customer_deployments_group(deployment.customer.public_id),
        ]
        _send(
            groups,
            [
                {
                    "type": "deployment.event",
                    "deployment_id": deployment.public_id,
                    "event": DeploymentEventOutput(event).data,
                }
                for event in new_events
            ],
        )

    transaction.on_commit(send)
