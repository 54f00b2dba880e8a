"""WebSocket v1 (`/ws/v1/`): live deployment updates for the logged-in customer.

Protocol (documented for clients at /api/websocket/):
- client → server: `{"type": "subscribe"|"unsubscribe", "topic": "deployments"}` (all of
  mine), `{"type": "subscribe"|"unsubscribe", "topic": "deployment", "id": "dep_…"}`,
  `{"type": "subscribe"|"unsubscribe", "topic": "balance"}` (my balance and runway),
  `{"type": "ping"}`.
- server → client: `subscribed`, `unsubscribed`, `deployment.updated` (the REST detail
  JSON), `deployment.event` (a new Heat event), `balance.updated` (`balance`: as
  `GET /api/v1/billing/balance`; metering's changes at most once a minute), `pong`,
  `error` (with a `code`).
- close codes: 4401 not authenticated, or the session ended (logout, revoked) or the
  API key was revoked; 4403 an API key without the deployments:read scope.

Async, unlike the sync default: one web process holds thousands of sockets, and relaying a
group message must not queue behind every other socket in a single sync thread.
"""

import json
import logging
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.api_keys import api_key_has_scope
from accounts.events import api_key_group, login_session_group
from accounts.receivers import LOGIN_SESSION_ID_KEY
from cloudportal.api.scopes import Scope
from cloudportal.ids import public_id_is_valid
from deployments.events import (
    customer_balance_group,
    customer_deployments_group,
    deployment_group,
)

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
_RECENT_MESSAGES = 256  # a message reaching us through two subscribed groups is sent once


class DeploymentsConsumer(AsyncJsonWebsocketConsumer):
    customer_public_id: str
    groups_joined: set[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first so the client sees the documented close code, not a bare 403.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.groups_joined = set()
        self.recent_message_ids: deque[str] = deque(maxlen=_RECENT_MESSAGES)
        api_key = self.scope.get("api_key")
        if api_key is not None and not api_key_has_scope(
            api_key=api_key, scope=Scope.DEPLOYMENTS_READ
        ):
            await self.accept()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.customer_public_id = await self._customer_public_id(user)
        await self.accept()
        if api_key is not None:
            await self._join(api_key_group(api_key.public_id))
        session_id = await self._login_session_id()
        if session_id:
            await self._join(login_session_group(session_id))

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- client messages --------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            content = json.loads(text_data or "")
        except ValueError:
            await self._error("malformed_message", "Messages are JSON objects.")
            return
        if not isinstance(content, dict):
            await self._error("malformed_message", "Messages are JSON objects.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind in ("subscribe", "unsubscribe"):
            await self._subscription(kind, content)
        else:
            await self._error(
                "unknown_type", "Message types are subscribe, unsubscribe and ping.", content
            )

    async def _subscription(self, kind: str, content: dict[str, Any]) -> None:
        topic = content.get("topic")
        if topic == "deployments":
            group = customer_deployments_group(self.customer_public_id)
            reply: dict[str, Any] = {"topic": "deployments"}
        elif topic == "balance":
            group = customer_balance_group(self.customer_public_id)
            reply = {"topic": "balance"}
        elif topic == "deployment":
            deployment_id = content.get("id")
            if not isinstance(deployment_id, str) or not deployment_id:
                await self._error("missing_id", "The deployment topic needs an id.", content)
                return
            if not public_id_is_valid(deployment_id) or not await self._owns_deployment(
                deployment_id
            ):
                await self._error("not_found", f"No deployment {deployment_id}.", content)
                return
            group = deployment_group(deployment_id)
            reply = {"topic": "deployment", "id": deployment_id}
        else:
            await self._error(
                "unknown_topic", "Topics are 'deployments', 'deployment' and 'balance'.", content
            )
            return
        if kind == "subscribe":
            await self._join(group)
            await self.send_json({"type": "subscribed", **reply})
        else:
            if group in self.groups_joined:
                self.groups_joined.discard(group)
                await self.channel_layer.group_discard(group, self.channel_name)
            await self.send_json({"type": "unsubscribed", **reply})

    async def _join(self, group: str) -> None:
        if group not in self.groups_joined:
            self.groups_joined.add(group)
            await self.channel_layer.group_add(group, self.channel_name)

    async def _error(self, code: str, message: str, request: Any = None) -> None:
        body: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if isinstance(request, dict):
            body["request"] = request
        await self.send_json(body)

    # --- group messages (from deployments.events and accounts.events) -----------------

    async def deployment_batch(self, message: dict[str, Any]) -> None:
        # Each item's `text` is the final JSON, encoded once by the publisher for every
        # socket; a socket in two groups gets each item twice and shows it once.
        for item in message["items"]:
            if self._first_time(item):
                await self.send(text_data=item["text"])

    async def session_revoked(self, message: dict[str, Any]) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)

    def _first_time(self, message: dict[str, Any]) -> bool:
        message_id = message.get("message_id")
        if not message_id:
            return True
        if message_id in self.recent_message_ids:
            return False
        self.recent_message_ids.append(message_id)
        return True

    # --- reads --------------------------------------------------------------------------

    @database_sync_to_async
    def _customer_public_id(self, user: Any) -> str:
        from accounts.selectors import customer_for_user

        return customer_for_user(user=user).public_id

    @database_sync_to_async
    def _login_session_id(self) -> str | None:
        session = self.scope.get("session")
        return session.get(LOGIN_SESSION_ID_KEY) if session is not None else None

    @database_sync_to_async
    def _owns_deployment(self, deployment_id: str) -> bool:
        from deployments.models import Deployment

        return Deployment.objects.filter(
            public_id=deployment_id, customer__public_id=self.customer_public_id
        ).exists()
