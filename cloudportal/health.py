"""Liveness (/healthz) and readiness (/readyz) probes.

Readiness runs every check in settings.READINESS_CHECKS; a check is a function that
returns when its dependency answers and raises when it does not. OpenStack regions
join the list with the adapter.
"""

import logging
import time
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2


class ReadinessFailure(Exception):
    """A failed check whose message is safe to show on the public /readyz (no hosts, users
    or the cloud's own words); any other exception shows only its class there."""


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_redis() -> None:
    location = str(settings.CACHES["default"]["LOCATION"])
    client = redis.Redis.from_url(
        location,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
    )
    with client:
        client.ping()


def check_broker() -> None:
    from cloudportal.celery import app

    with app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, interval_start=0, timeout=CHECK_TIMEOUT_SECONDS)


def run_readiness_checks() -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name, path in settings.READINESS_CHECKS.items():
        started = time.monotonic()
        try:
            import_string(path)()
        except Exception as exc:
            logger.warning("health.check_failed", extra={"check": name, "error": str(exc)})
            # /readyz answers anyone: the details (hosts, users, cloud replies) go to the log.
            public = str(exc) if isinstance(exc, ReadinessFailure) else type(exc).__name__
            results[name] = {"status": "fail", "error": public}
        else:
            results[name] = {"status": "ok"}
        results[name]["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return results


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = run_readiness_checks()
    failed = sorted(name for name, result in checks.items() if result["status"] != "ok")
    body = {"status": "fail" if failed else "ok", "failed": failed, "checks": checks}
    return JsonResponse(body, status=503 if failed else 200)
