"""What a wallet change sets off — a balance push and a low-balance check — coalesced per
customer and run on a worker.

`billing.signals.wallet_changed` arrives after the commit of every posting and hold. Doing
the reactions right there (three queries and a channel-layer send for the push, a Celery
message for the check) cost the posting process about ten times the posting itself: a
ledger that must take 1,000 postings a second spent its time on runway figures nobody
had looked at yet. So a change only marks its customer in two Redis sets, and the first
mark after a drain queues one `wallet_reactions_drain` task; the drain takes every marked
customer at once: one push for all of them (`events.publish_balances`, three queries
whatever their number) and one low-balance check each. A burst of postings on one wallet
therefore costs one push and one check, which read the balance after the burst.

Even one Redis round trip per posting was a third of a posting's cost (the writer waits,
is switched out, switched back), so a process keeps its marks for
`WALLET_REACTIONS_LINGER_SECONDS` (a twentieth of a second) and a thread of its own sends
all it gathered in one round trip: under load one trip carries many postings' marks, when
quiet a change reaches its sockets that much later. 0 sends each mark at once (the tests).

Nothing is lost between a mark and a drain: the drain first clears the "scheduled" flag,
then takes the sets, so a mark that comes after the flag is cleared queues the next drain,
and one that came before is in the sets it takes. If the queued task is lost (broker down,
worker killed before it ran), the flag expires after `SCHEDULED_SECONDS` and the next change
queues again; a process killed while it holds marks loses at most a linger's worth of them.
Beat's low-balance sweep checks every customer in any case.
"""

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable

import redis
from django.conf import settings

from deployments import events, low_balance

logger = logging.getLogger(__name__)

TO_CHECK = "wallet-reactions:check"  # customer ids whose low-balance state may have moved
TO_PUSH = "wallet-reactions:push"  # customer ids whose balance sockets want the new figures
SCHEDULED = "wallet-reactions:scheduled"  # set while a drain is queued and has not started
SCHEDULED_SECONDS = 30
RETRY_SECONDS = 1.0  # between a process's tries to send its marks while Redis is away
DRAIN_BATCH = 500  # customers per drain; more are left for the next one, queued at once

_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        # redis-py's pool notices a fork and reconnects in the child.
        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=5)
    return client


def wallet_reaction_mark(*, customer_id: int, push: bool) -> None:
    """After commit: this customer's wallet changed. `push=False` for metering's usage
    (it pushes per run). Kept for the linger and sent with the process's other marks;
    with no linger, sent now (one Redis round trip, raising if Redis is away)."""
    if settings.WALLET_REACTIONS_LINGER_SECONDS <= 0:
        _marks_send(check={customer_id}, push={customer_id} if push else set())
        return
    _pending.add(customer_id=customer_id, push=push)


def marks_flush() -> int:
    """Send this process's kept marks now; returns how many customers they named. The
    flushing thread calls it after each linger; a process's exit calls it last, and waits
    for a send the thread has under way."""
    pending = _pending
    with pending.sending:
        check, push = pending.take()
        if not check:
            return 0
        try:
            _marks_send(check=check, push=push)
        except Exception:
            pending.put_back(check=check, push=push)  # Redis is away: kept for the next try
            raise
    return len(check)


def _marks_send(*, check: set[int], push: set[int]) -> None:
    """One round trip: the marks, then the claim on the drain (after the marks, so a drain
    that claimed before them is the one that takes them)."""
    pipe = _redis().pipeline(transaction=False)
    pipe.sadd(TO_CHECK, *check)
    if push:
        pipe.sadd(TO_PUSH, *push)
    pipe.set(SCHEDULED, 1, nx=True, ex=SCHEDULED_SECONDS)
    if pipe.execute()[-1]:
        _drain_queue()


class _Pending:
    """This process's marks not sent yet, and the thread that sends them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sending = threading.Lock()  # one send at a time: the exit's waits for the thread's
        self.check: set[int] = set()
        self.push: set[int] = set()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, *, customer_id: int, push: bool) -> None:
        with self.lock:
            self.check.add(customer_id)
            if push:
                self.push.add(customer_id)
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._flush_forever, name="wallet-reactions-marks", daemon=True
                )
                self.thread.start()
        self.wake.set()

    def take(self) -> tuple[set[int], set[int]]:
        with self.lock:
            check, push = self.check, self.push
            self.check, self.push = set(), set()
        return check, push

    def put_back(self, *, check: set[int], push: set[int]) -> None:
        with self.lock:
            self.check |= check
            self.push |= push

    def _flush_forever(self) -> None:
        retrying = False
        while True:
            if not retrying:
                self.wake.wait()
            time.sleep(settings.WALLET_REACTIONS_LINGER_SECONDS)  # gather what comes
            self.wake.clear()  # before taking: a mark from now on wakes the next round
            try:
                marks_flush()
                retrying = False
            except Exception:  # Redis or the broker is down: beat's sweep checks everyone
                logger.exception("wallet_reactions.not_marked")
                # Try again in a moment, or at the next change, whichever comes first.
                retrying = True
                self.wake.wait(RETRY_SECONDS)


_pending = _Pending()


def _after_fork_in_child() -> None:
    # The parent's lock may be held and its thread does not exist here; its marks are
    # the parent's to send.
    global _pending
    _pending = _Pending()


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def marks_flush_at_exit(**_: object) -> None:
    """A process's last send (also Celery's worker_process_shutdown: its pool processes
    leave by os._exit, past atexit)."""
    try:
        marks_flush()
    except Exception:
        logger.exception("wallet_reactions.not_marked")


def _drain_queue() -> None:
    from deployments.tasks import wallet_reactions_drain_task

    wallet_reactions_drain_task.delay()


def wallet_reactions_drain() -> tuple[int, int]:
    """The worker's side: push the marked customers' balances, check their low balance
    (those with machines that cost or an episode open); returns how many were marked
    (to push, to check)."""
    client = _redis()
    client.delete(SCHEDULED)  # first: a change from now on queues the next drain
    pipe = client.pipeline(transaction=False)
    pipe.spop(TO_PUSH, DRAIN_BATCH)
    pipe.spop(TO_CHECK, DRAIN_BATCH)
    pipe.scard(TO_PUSH)
    pipe.scard(TO_CHECK)
    to_push, to_check, *left = pipe.execute()
    push_ids, check_ids = _ids(to_push), _ids(to_check)
    if any(left) and client.set(SCHEDULED, 1, nx=True, ex=SCHEDULED_SECONDS):
        _drain_queue()
    if push_ids:
        try:
            events.publish_balances(customer_ids=push_ids)
        except Exception:  # a push is a courtesy: the page reads the balance when loaded
            logger.exception("wallet_reactions.push_failed", extra={"customers": len(push_ids)})
    if check_ids:
        try:
            low_balance.low_balance_check_many(customer_ids=check_ids)
        except Exception:
            # The database is away: the marks go back for the next drain (the task fails,
            # the next change queues one; beat's sweep checks everyone in any case).
            client.sadd(TO_CHECK, *check_ids)
            raise
    return len(push_ids), len(check_ids)


def _ids(members: Iterable[bytes] | None) -> set[int]:
    return {int(member) for member in members or ()}
