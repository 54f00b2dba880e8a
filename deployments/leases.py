"""Keeping a worker's leases alive while it works, so a dead worker's expire in seconds.

A lease is short (`LEASE_DURATION`); a thread renews it every `LEASE_RENEW_EVERY` seconds
for as long as the worker holds it. A worker that dies (SIGKILL, OOM, a lost node) stops
renewing, and its deployments are free for the next reconciler cycle within seconds,
where a lease long enough to cover any Heat call would have held them for minutes.
"""

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

LEASE_DURATION = timedelta(seconds=15)
LEASE_RENEW_EVERY = 5.0  # seconds; three renewals fit in one lease

_keepers: dict[str, "_LeaseKeeper"] = {}
_keepers_lock = threading.Lock()


class _LeaseKeeper(threading.Thread):
    def __init__(self, owner: str) -> None:
        super().__init__(name=f"lease-{owner[:8]}", daemon=True)
        self.owner = owner
        self.stopped = threading.Event()
        # Never longer than a task may run: Celery kills a task past its hard time limit.
        self.deadline = timezone.now() + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)

    def run(self) -> None:
        from deployments.models import Deployment

        try:
            while not self.stopped.wait(LEASE_RENEW_EVERY):
                now = timezone.now()
                if now > self.deadline:
                    return
                # Only leases still ours and alive: a released or lapsed one is not revived.
                renewed = Deployment.objects.filter(
                    lease_owner=self.owner, lease_expires_at__gt=now
                ).update(lease_expires_at=now + LEASE_DURATION)
                if not renewed:
                    return
        except Exception:  # a lapsed lease is the safe failure: another worker takes over
            logger.warning("deployment.lease_renew_failed", exc_info=True)
        finally:
            with _keepers_lock:
                if _keepers.get(self.owner) is self:
                    del _keepers[self.owner]
            connection.close()


def lease_keep(*, owner: str) -> None:
    """Renew `owner`'s leases until `lease_stop` (or until none is left to renew)."""
    with _keepers_lock:
        if owner in _keepers:
            return
        keeper = _keepers[owner] = _LeaseKeeper(owner)
    keeper.start()


def lease_stop(*, owner: str) -> None:
    with _keepers_lock:
        keeper = _keepers.pop(owner, None)
    if keeper is not None:
        keeper.stopped.set()
