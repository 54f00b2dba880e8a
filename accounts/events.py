"""Messages to WebSocket channel groups, sent only after the transaction commits."""

from django.db import transaction

from cloudportal import realtime


def login_session_group(session_public_id: str) -> str:
    return f"session.{session_public_id}"


def publish_login_sessions_revoked(*, session_public_ids: list[str]) -> None:
    """Closes every WebSocket opened by the revoked sessions (each consumer joins its
    session's group)."""
    groups = [login_session_group(public_id) for public_id in session_public_ids]
    transaction.on_commit(lambda: realtime.groups_send(groups, [{"type": "session.revoked"}]))


def api_key_group(api_key_public_id: str) -> str:
    return f"api_key.{api_key_public_id}"


def publish_api_key_revoked(*, api_key_public_id: str) -> None:
    """Closes every WebSocket the key opened, as a revoked session's are closed."""
    groups = [api_key_group(api_key_public_id)]
    transaction.on_commit(lambda: realtime.groups_send(groups, [{"type": "session.revoked"}]))
