"""A reconciler cycle asked for now (a delete, a staff resync), for one region, coalesced.

Beat runs a cycle over every region every 3 seconds; a delete or a resync also asks for one
at once, so the work is done even if its own task is lost. Such a cycle is for the
deployment's region only, and a region has at most one queued: the first request after
commit sets a flag in Redis (`SET NX EX`) and queues the task, later ones find the flag and
queue nothing, so a customer deleting 50 machines queues one cycle per region, not 50 over
every region. The cycle clears the flag before it reads anything: a request committed
before the clear is seen by it, one after queues the next. If the queued task is lost, the
flag expires after `QUEUED_SECONDS` and beat's cycles do the work meanwhile.
"""

from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db import transaction

if TYPE_CHECKING:
    from deployments.reconciler import ReconcileReport

QUEUED_SECONDS = 30


def _queued_key(region_id: int) -> str:
    return f"deployments:region-reconcile-queued:{region_id}"


def region_reconcile_request(*, region_id: int) -> None:
    """After commit, queue one cycle for the region unless one is queued and not started."""
    # Robust: the request has committed; with Redis away beat's cycles do the work.
    transaction.on_commit(lambda: _queue(region_id), robust=True)


def _queue(region_id: int) -> None:
    from deployments.tasks import region_reconcile_task

    if cache.add(_queued_key(region_id), 1, timeout=QUEUED_SECONDS):
        region_reconcile_task.delay(region_id)


def region_reconcile_requested(*, region_id: int) -> "ReconcileReport":
    """The worker's side: clear the flag first (a request from now on queues the next
    cycle), then one cycle for the region; leases keep it from colliding with beat's."""
    # The reconciler calls services, which request cycles from here.
    from deployments import reconciler

    cache.delete(_queued_key(region_id))
    return reconciler.region_reconcile(region_id=region_id)
