"""Sending to WebSocket channel groups from sync code (services, Celery workers).

Apps describe their messages and groups (`<app>/events.py`); this is the one way they
reach channels-redis. Sends are best effort: a page refetches over HTTP when it reconnects.
"""

import asyncio
import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _publishing_loop() -> asyncio.AbstractEventLoop:
    """One long-lived event loop per process for publishing, started on first use.

    The channel layer keeps a Redis connection per event loop; async_to_sync would make a
    new loop, hence a new connection, for every message a worker publishes.
    """
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(
                target=_loop.run_forever, name="channel-publisher", daemon=True
            ).start()
        return _loop


def groups_send(groups: Iterable[str], messages: Sequence[dict[str, Any]]) -> None:
    """Send each message to each group; failures are logged, never raised."""
    groups_send_batch([(list(groups), messages)])


def groups_send_batch(sends: Iterable[tuple[Sequence[str], Sequence[dict[str, Any]]]]) -> None:
    """Many (groups, messages) pairs in one hop to the publishing loop (a worker's cycle)."""
    layer = get_channel_layer()
    sends = [(list(groups), list(messages)) for groups, messages in sends if groups and messages]
    if layer is None or not sends:
        return

    async def send_all() -> None:
        for groups, messages in sends:
            for message in messages:
                for group in groups:
                    await layer.group_send(group, message)

    future = None
    try:
        future = asyncio.run_coroutine_threadsafe(send_all(), _publishing_loop())
        future.result(timeout=SEND_TIMEOUT_SECONDS)
    except Exception:
        if future is not None:
            future.cancel()  # a send that timed out must not go on in the background
        logger.exception(
            "realtime.send_failed", extra={"groups": [group for gs, _ in sends for group in gs]}
        )
