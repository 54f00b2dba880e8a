"""Pages owned by the project itself: the landing page and the error pages."""

import sys
from functools import cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.cache import cache_control

from cloudportal.api.middleware import is_json_api_request
from cloudportal.api.problems import (
    PROBLEM_CONTENT_TYPE,
    dependency_unavailable_code,
    problem_for_exception,
    problem_json_response,
)


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "cloudportal/landing.html")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's last resort, also for failures outside any view (a middleware reading the
    session): an outage of the database or Redis is a 503 to retry, not a 500 bug."""
    exception = sys.exc_info()[1]
    if is_json_api_request(request):
        body, headers = problem_for_exception(
            exception if isinstance(exception, Exception) else Exception(), path=request.path
        )
        return JsonResponse(
            body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE
        )
    # No request context: rendering must not touch the database that may have failed.
    if isinstance(exception, Exception) and dependency_unavailable_code(exception):
        return HttpResponse(
            loader.get_template("503.html").render(), status=503, headers={"Retry-After": "5"}
        )
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_json_api_request(request):
        return problem_json_response(
            request,
            status=403,
            code="csrf_failed",
            detail=f"CSRF verification failed: {reason} Send the csrftoken cookie's value "
            "in the X-CSRFToken header.",
        )
    return django_csrf_failure(request, reason=reason)


REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
# Redoc's footer loads Redocly's logo from their CDN; without a source it hides itself.
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def _redoc_bundle_text() -> str:
    found = finders.find(REDOC_BUNDLE)
    assert isinstance(found, str), (
        f"{REDOC_BUNDLE} is missing: is drf-spectacular-sidecar installed?"
    )
    return Path(found).read_text(encoding="utf-8").replace(REDOC_CDN_LOGO, "")


@cache_control(public=True, max_age=86_400)
def redoc_bundle(request: HttpRequest) -> HttpResponse:
    """The sidecar's Redoc with its one CDN address removed, so the docs fetch nothing
    from another server (SPECTACULAR_SETTINGS["REDOC_DIST"] points here)."""
    return HttpResponse(_redoc_bundle_text(), content_type="text/javascript; charset=utf-8")
