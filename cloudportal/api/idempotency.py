"""`Idempotency-Key` on creating POSTs: a retried request never creates twice.

- Same key, same request: the stored response is replayed, with `Idempotent-Replayed: true`.
- Same key, another request (method, path or body): 422 `idempotency_key_reused`.
- Same key while the first request is still running: 409 `idempotency_key_in_flight`.
- Keys belong to the customer and expire after 24 hours. Only a successful (2xx) result is
  remembered: a request that failed changed nothing and may be retried with its key.

The view runs in one transaction with the key's row locked, so the object it creates and
the stored response commit together; a process killed half-way leaves neither. That lock
is also the request's sign of life: PostgreSQL drops it the moment the process's connection
dies, so a key left in flight and unlocked for a few seconds is free for the retry.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from cloudportal.exceptions import DomainError
from cloudportal.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
KEY_LIFETIME = timedelta(hours=24)
# PostgreSQL's SQLSTATE for NOWAIT finding the row locked.
LOCK_NOT_AVAILABLE = "55P03"
# A live request takes its key's row lock a moment after claiming it and holds it to the
# end; a claimed key found unlocked this long after its claim lost its process.
IN_FLIGHT_LEASE = timedelta(seconds=5)

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "A unique string (e.g. a UUID) per intended operation. Retrying with the same key "
        "and body replays the first response instead of creating again (for 24 hours)."
    ),
)


class IdempotencyKeyInvalid(DomainError):
    code = "idempotency_key_invalid"
    status = 400
    title = "Invalid Idempotency-Key"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    title = "Idempotency-Key used for another request"


class IdempotencyKeyInFlight(DomainError):
    code = "idempotency_key_in_flight"
    status = 409
    title = "A request with this Idempotency-Key is still running"


def request_fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotency_key_from(request: Request) -> str | None:
    """The request's `Idempotency-Key`, or None when it sent none; a malformed one is a 400.

    For a view that keeps its own idempotency (one that must call a payment provider outside
    the transaction `idempotent` holds) but takes the header on the same terms.
    """
    key = request.headers.get(HEADER)
    if key is not None and (not 1 <= len(key) <= 255 or not key.isprintable()):
        raise IdempotencyKeyInvalid(
            f"{HEADER} must be 1 to 255 printable characters, such as a UUID."
        )
    return key


def idempotency_key_claim(*, customer_id: int, key: str, fingerprint: str) -> IdempotencyKey:
    """Take the key for this request, or raise what the client must be told instead.

    Returns a COMPLETED record when the response should be replayed.
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            record, created = IdempotencyKey.objects.get_or_create(
                customer_id=customer_id,
                key=key,
                defaults={"request_fingerprint": fingerprint, "created_at": now, "locked_at": now},
            )
    except IntegrityError:  # created concurrently between our read and insert
        raise IdempotencyKeyInFlight(
            "Another request with this key is in progress; retry shortly."
        ) from None
    if created:
        return record
    with transaction.atomic():
        try:
            record = IdempotencyKey.objects.select_for_update(nowait=True).get(pk=record.pk)
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise  # the database itself failed: a 503, not "in progress"
            # Locked: its request is running right now.
            raise IdempotencyKeyInFlight(
                "Another request with this key is in progress; retry shortly."
            ) from None
        if record.created_at < now - KEY_LIFETIME:
            record.request_fingerprint = fingerprint
            record.status = IdempotencyKey.Status.IN_FLIGHT
            record.response_status = record.response_body = None
            record.created_at = record.locked_at = now
            record.save()
            return record
        if record.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request. "
                "Use a new key for a new operation."
            )
        if record.status == IdempotencyKey.Status.COMPLETED:
            return record
        if record.locked_at > now - IN_FLIGHT_LEASE:
            raise IdempotencyKeyInFlight(
                "Another request with this key is in progress; retry shortly."
            )
        record.locked_at = now  # abandoned by a dead process: take it over
        record.save(update_fields=["locked_at"])
        return record


def idempotency_keys_purge() -> int:
    deleted, _ = IdempotencyKey.objects.filter(
        created_at__lt=timezone.now() - KEY_LIFETIME
    ).delete()
    return deleted


View = TypeVar("View", bound=Callable[..., Response])


def idempotent(*, customer_id: Callable[[Request], int]) -> Callable[[View], View]:
    """Decorate an APIView's `post`; `customer_id` tells whose key space the request uses."""

    def decorate(view_method: View) -> View:
        @wraps(view_method)
        def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            key = idempotency_key_from(request)
            if key is None:
                return view_method(self, request, *args, **kwargs)
            record = idempotency_key_claim(
                customer_id=customer_id(request), key=key, fingerprint=request_fingerprint(request)
            )
            if record.status == IdempotencyKey.Status.COMPLETED:
                assert record.response_status is not None
                return Response(
                    record.response_body,
                    status=record.response_status,
                    headers={REPLAY_HEADER: "true"},
                )
            try:
                with transaction.atomic():
                    locked = IdempotencyKey.objects.select_for_update().filter(pk=record.pk).first()
                    if locked is None or locked.locked_at != record.locked_at:
                        raise _TakenOver  # while this request stalled: the other one runs it
                    response = view_method(self, request, *args, **kwargs)
                    if not 200 <= response.status_code < 300:
                        raise _NotRemembered(response)
                    IdempotencyKey.objects.filter(pk=record.pk).update(
                        status=IdempotencyKey.Status.COMPLETED,
                        response_status=response.status_code,
                        response_body=response.data,
                    )
            except _TakenOver:
                raise IdempotencyKeyInFlight(
                    "Another request with this key is in progress; retry shortly."
                ) from None
            except _NotRemembered as not_remembered:
                IdempotencyKey.objects.filter(pk=record.pk).delete()
                return not_remembered.response
            except BaseException:
                IdempotencyKey.objects.filter(pk=record.pk).delete()
                raise
            return response

        return wrapper  # type: ignore[return-value]

    return decorate


class _NotRemembered(Exception):
    """Rolls back a view that answered with an error instead of raising one."""

    def __init__(self, response: Response) -> None:
        self.response = response


class _TakenOver(Exception):
    """The key was taken over by a retry: it is not ours to complete or delete."""
