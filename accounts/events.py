"""Messages to WebSocket channel groups, sent only after the transaction commits."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def login_session_group(session_public_id: str) -> str:
    return f"session.{session_public_id}"


def publish_login_session_revoked(*, session_public_id: str) -> None:
    """Closes every WebSocket opened by the revoked session (the consumer joins this group)."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(
                login_session_group(session_public_id), {"type": "session.revoked"}
            )
        except Exception:
            # The session is already gone server-side; a socket left open fails its next check.
            logger.exception("sessions.revoke_publish_failed", extra={"session": session_public_id})

    transaction.on_commit(send)
