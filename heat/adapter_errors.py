"""One OpenStack call: timeout, retries of transient failures, error mapping, a log line.

openstacksdk raises `openstack.exceptions.SDKException` for what Heat answered, but
keystoneauth's own `ClientException`s (bad credentials, connection refused, timeouts)
arrive unwrapped (heat-protocol.md finding 9): both families are caught and mapped.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection

from heat.adapter_connections import connection_for
from heat.adapter_types import RegionRef
from heat.exceptions import (
    CloudCapacityExceeded,
    CloudCredentialsError,
    CloudUnavailable,
    InvalidStackRequest,
    OpenStackError,
    StackConflict,
    StackNotFound,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
OPENSTACK_ERRORS = (sdk_exceptions.SDKException, ks_exceptions.ClientException)
QUOTA_TYPES = {"RequestLimitExceeded", "OverLimit", "QuotaExceeded"}
CHANGING_OPERATIONS = frozenset({"stack_create", "stack_delete", "stack_suspend", "stack_resume"})


def _heat_error_type(error: sdk_exceptions.HttpException) -> str:
    """Heat's `error.type` from the response body ('' when there is none)."""
    response = getattr(error, "response", None)
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    inner = body.get("error") if isinstance(body, dict) else None
    return str(inner.get("type", "")) if isinstance(inner, dict) else ""


def translate(error: Exception, *, operation: str, region: RegionRef) -> OpenStackError:
    """The domain error for an openstacksdk or keystoneauth exception."""
    kind: type[OpenStackError] = OpenStackError
    heat_type = ""
    message = str(error)
    if isinstance(error, sdk_exceptions.HttpException):
        message = error.details or message
        heat_type = _heat_error_type(error)
        status = error.status_code
        if isinstance(error, sdk_exceptions.NotFoundException):
            kind = StackNotFound
        elif isinstance(error, sdk_exceptions.ConflictException):
            kind = StackConflict
        elif heat_type in QUOTA_TYPES or status == 413:
            kind = CloudCapacityExceeded
        elif status == 429 or (status is not None and status >= 500):
            kind = CloudUnavailable
        elif status in (401, 403):
            kind = CloudCredentialsError
        elif status is not None and 400 <= status < 500:
            kind = InvalidStackRequest
    elif isinstance(error, sdk_exceptions.ConfigException | sdk_exceptions.EndpointNotFound):
        kind = CloudCredentialsError
    elif isinstance(error, sdk_exceptions.InvalidResponse):
        kind = CloudUnavailable
    elif isinstance(error, sdk_exceptions.InvalidRequest):
        kind = InvalidStackRequest
    elif isinstance(error, ks_exceptions.http.HttpError):
        message = error.message or message
        if error.http_status in (401, 403):
            kind = CloudCredentialsError
        elif error.http_status is not None and (
            error.http_status >= 500 or error.http_status == 429
        ):
            kind = CloudUnavailable
    elif isinstance(error, ks_exceptions.ConnectionError | ks_exceptions.DiscoveryFailure):
        kind = CloudUnavailable
    elif isinstance(
        error,
        ks_exceptions.CatalogException
        | ks_exceptions.AuthorizationFailure
        | ks_exceptions.MissingRequiredOptions,
    ):
        kind = CloudCredentialsError
    return kind(
        cloud_message=message,
        cloud_error_type=heat_type or type(error).__name__,
        operation=operation,
        region=str(region),
    )


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter, so processes retrying together spread out."""
    ceiling = min(
        float(settings.OPENSTACK_RETRY_MAX_DELAY),
        float(settings.OPENSTACK_RETRY_BASE_DELAY) * 2 ** (attempt - 1),
    )
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not secrecy


def call(
    operation: str,
    region: RegionRef,
    function: Callable[[Connection], T],
    *,
    retry: bool = True,
    retry_conflicts: bool = False,
    timeout: float | None = None,
    on_retry: Callable[[OpenStackError], T | None] | None = None,
) -> T:
    """Run `function` with this process's connection to `region`, mapped and logged.

    Transient failures (and conflicts, when `retry_conflicts`) are retried with backoff
    while the budget OPENSTACK_RETRY_BUDGET lasts. `on_retry` runs before each retry and
    may return a result instead (a create checks whether its first attempt happened).
    """
    started = time.monotonic()
    budget = float(settings.OPENSTACK_RETRY_BUDGET)
    attempt = 0
    while True:
        attempt += 1
        try:
            result = function(connection_for(region, timeout=timeout))
        except OPENSTACK_ERRORS as raw:
            error = translate(raw, operation=operation, region=region)
            retryable = error.retryable and (
                retry_conflicts or not isinstance(error, StackConflict)
            )
            pause = backoff_seconds(attempt)
            if retry and retryable and time.monotonic() - started + pause < budget:
                logger.info("heat.retry", extra=_fields(operation, region, error.code, started,
                                                         attempt, error.cloud_message))  # fmt: skip
                time.sleep(pause)
                if on_retry is not None:
                    try:
                        recovered = on_retry(error)
                    except OpenStackError:
                        recovered = None
                    if recovered is not None:
                        _log(operation, region, "ok", started, attempt)
                        return recovered
                continue
            _log(operation, region, error.code, started, attempt, error.cloud_message)
            raise error from raw
        _log(operation, region, "ok", started, attempt)
        return result


def _fields(
    operation: str, region: RegionRef, outcome: str, started: float, attempts: int,
    cloud_message: str = "",
) -> dict[str, object]:  # fmt: skip
    fields: dict[str, object] = {
        "operation": operation,
        "cloud": region.cloud,
        "region": region.region,
        "outcome": outcome,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        "attempts": attempts,
    }
    if cloud_message:
        fields["cloud_message"] = cloud_message
    return fields


def _log(
    operation: str, region: RegionRef, outcome: str, started: float, attempts: int,
    cloud_message: str = "",
) -> None:  # fmt: skip
    if outcome not in ("ok", StackNotFound.code):
        level = logging.WARNING
    elif operation in CHANGING_OPERATIONS:
        level = logging.INFO
    else:
        # Reads happen every few seconds whether anything changed or not: log changes, not
        # cycles (a failed read still warns).
        level = logging.DEBUG
    logger.log(level, "heat.call", extra=_fields(operation, region, outcome, started, attempts,
                                                 cloud_message))  # fmt: skip
