"""Messages to WebSocket channel groups, sent only after the transaction commits."""

from django.db import transaction

from cloudportal import realtime


def login_session_group(session_public_id: str) -> str:
    return f"session.{session_public_id}"


def publish_login_session_revoked(*, session_public_id: str) -> None:
    """Closes every WebSocket opened by the revoked session (the consumer joins this group)."""
    transaction.on_commit(
        lambda: realtime.groups_send(
            [login_session_group(session_public_id)], [{"type": "session.revoked"}]
        )
    )
