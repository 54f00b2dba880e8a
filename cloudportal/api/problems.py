"""RFC 9457 problem details: the one shape of every API error.

Body: `type`, `title`, `status`, `detail`, `code` (stable, part of the contract),
`instance` (the request path), `request_id`, and `errors` (field -> messages) on
validation failures. DRF views reach it through `exception_handler`; everything
outside DRF (unknown URLs, middleware failures) through `ApiProblemMiddleware`.
"""

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import redis.exceptions
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404, HttpRequest, JsonResponse
from django_guid import get_guid
from kombu.exceptions import OperationalError as BrokerError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from cloudportal.api.parsers import request_too_large
from cloudportal.exceptions import DomainError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:cloudportal:problem:"

# Codes DRF gives its own exceptions, renamed where ours say more.
_DRF_CODES = {
    "parse_error": "malformed_request",
    "not_authenticated": "not_authenticated",
    "authentication_failed": "authentication_failed",
    "permission_denied": "permission_denied",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
    "throttled": "rate_limited",
}


def problem_body(
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    instance: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        "request_id": get_guid(),
    }
    if errors is not None:
        body["errors"] = dict(errors)
    return body


def problem_json_response(
    request: HttpRequest, *, status: int, code: str, detail: str
) -> JsonResponse:
    """A problem answered outside DRF (middleware, URL fall-through)."""
    return JsonResponse(
        problem_body(status=status, code=code, detail=detail, instance=request.path),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def flatten_validation_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as `{"field": [...], "items.0.name": [...]}`."""
    if isinstance(detail, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten_validation_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, Mapping | list) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            flat.update(
                flatten_validation_errors(item, f"{prefix}.{index}" if prefix else str(index))
            )
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def dependency_unavailable_code(exc: Exception) -> str | None:
    """A dependency outage is a 503 the client may retry, not a 500 bug."""
    if isinstance(exc, DatabaseError) and type(exc).__name__ in {
        "OperationalError",
        "InterfaceError",
    }:
        return "database_unavailable"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return "cache_unavailable"
    if isinstance(exc, BrokerError):
        return "broker_unavailable"
    return None


def problem_for_exception(exc: Exception, *, path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The problem body and extra headers for any exception raised while serving the API."""
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):  # a form body read by Django itself
        exc = request_too_large()

    if isinstance(exc, DomainError):
        if exc.after_rollback is not None:
            try:
                exc.after_rollback()
            except Exception:  # the refusal is still answered; the record is best effort
                logger.exception("api.after_rollback_failed", extra={"code": exc.code})
        body = problem_body(
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            instance=path,
            errors=exc.errors,
        )
        body.update(exc.problem_fields())
        return body, headers

    if isinstance(exc, drf_exceptions.ValidationError):
        errors = flatten_validation_errors(exc.detail)
        fields = ", ".join(sorted(errors))
        body = problem_body(
            status=400,
            code="validation_failed",
            title="Validation failed",
            detail=f"Some fields are invalid: {fields}." if fields else "The input is invalid.",
            instance=path,
            errors=errors,
        )
        return body, headers

    if isinstance(exc, drf_exceptions.APIException):
        if auth_header := getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = auth_header
        if wait := getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(wait))
        default_code = getattr(exc, "default_code", "error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if isinstance(exc, drf_exceptions.ParseError):
            detail = f"The request body could not be parsed: {detail}"
        body = problem_body(
            status=exc.status_code,
            code=_DRF_CODES.get(str(default_code), str(default_code)),
            detail=str(detail),
            instance=path,
        )
        return body, headers

    if code := dependency_unavailable_code(exc):
        logger.warning("api.dependency_unavailable", extra={"code": code, "error": str(exc)})
        headers["Retry-After"] = "5"
        body = problem_body(
            status=503,
            code=code,
            detail="A service the portal depends on is unavailable. Try again shortly.",
            instance=path,
        )
        return body, headers

    # A bug: log the traceback with the request id, answer without it.
    logger.error("api.unhandled_exception", exc_info=exc, extra={"path": path})
    body = problem_body(
        status=500,
        code="internal_error",
        detail="Something went wrong on our side. Quote the request id when you contact support.",
        instance=path,
    )
    return body, headers


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception in an API view becomes a problem."""
    request = context.get("request")
    path = request.path if request is not None else ""
    body, headers = problem_for_exception(exc, path=path)
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)
