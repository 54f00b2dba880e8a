"""Pages owned by the project itself: the landing page and the error pages."""

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.csrf import csrf_failure as django_csrf_failure

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
