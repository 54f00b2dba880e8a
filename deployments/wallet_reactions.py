"""What a wallet change sets off — a balance push and a low-balance check — coalesced per
customer and run on a worker.

`billing.signals.wallet_changed` arrives after the commit of every posting and hold. Doing
the reactions right there (three queries and a channel-layer send for the push, a Celery
message for the check) cost the posting process about ten times the posting itself: a
ledger that must take 1,000 postings a second spent its time on runway figures nobody
had looked at yet. So a change only marks its customer in two Redis sets (one round trip),
and the first mark after a drain queues one `wallet_reactions_drain` task; the drain takes
every marked customer at once: one push for all of them (`events.publish_balances`, three
queries whatever their number) and one low-balance check each. A burst of postings on one
wallet therefore costs one push and one check, which read the balance after the burst.

Nothing is lost between a mark and a drain: the drain first clears the "scheduled" flag,
then takes the sets, so a mark that comes after the flag is cleared queues the next drain,
and one that came before is in the sets it takes. If the queued task is lost (broker down,
worker killed before it ran), the flag expires after `SCHEDULED_SECONDS` and the next change
queues again; beat's low-balance sweep checks every customer in any case.
"""

import logging
from collections.abc import Iterable
from typing import Any

import redis
from django.conf import settings

from deployments import events, low_balance

logger = logging.getLogger(__name__)

TO_CHECK = "wallet-reactions:check"  # customer ids whose low-balance state may have moved
TO_PUSH = "wallet-reactions:push"  # customer ids whose balance sockets want the new figures
SCHEDULED = "wallet-reactions:scheduled"  # set while a drain is queued and has not started
SCHEDULED_SECONDS = 30
DRAIN_BATCH = 500  # customers per drain; more are left for the next one, queued at once

_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        # redis-py's pool notices a fork and reconnects in the child.
        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=5)
    return client


# One command, so one round trip and little client work: mark, and claim the drain.
_MARK = """
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == '1' then redis.call('SADD', KEYS[2], ARGV[1]) end
if redis.call('SET', KEYS[3], 1, 'NX', 'EX', ARGV[3]) then return 1 end
return 0
"""
_mark_scripts: dict[int, Any] = {}


def wallet_reaction_mark(*, customer_id: int, push: bool) -> None:
    """After commit: this customer's wallet changed. One Redis round trip; queues a drain
    only when none is waiting. `push=False` for metering's usage (it pushes per run)."""
    client = _redis()
    mark = _mark_scripts.get(id(client))
    if mark is None:
        mark = _mark_scripts[id(client)] = client.register_script(_MARK)
    keys = [TO_CHECK, TO_PUSH, SCHEDULED]
    if mark(keys=keys, args=[customer_id, int(push), SCHEDULED_SECONDS]):
        _drain_queue()


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
