"""Keeps every answer under /api/ a problem+json, even when DRF never saw the request.

django-allauth's headless API under /_allauth/ answers its own JSON errors; only what
Django itself would answer there as HTML (CSRF, an outage, a bug) becomes a problem.
"""

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse

from cloudportal.api.problems import (
    PROBLEM_CONTENT_TYPE,
    problem_for_exception,
    problem_json_response,
)

API_PREFIX = "/api/"
HEADLESS_PREFIX = "/_allauth/"
# Browsable documentation pages live under /api/ too but are HTML by design.
_HTML_PATHS = ("/api/docs/", "/api/redoc/", "/api/auth-docs/", "/api/websocket/")


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX) and not request.path.startswith(_HTML_PATHS)


def is_json_api_request(request: HttpRequest) -> bool:
    """Our API or allauth's headless one: a client that reads JSON, never an HTML page."""
    return is_api_request(request) or request.path.startswith(HEADLESS_PREFIX)


def problem_from_response(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    status = response.status_code
    problem = problem_json_response(
        request,
        status=status,
        code=HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_"),
        detail=HTTPStatus(status).description,
    )
    for header in ("Retry-After", "WWW-Authenticate", "Allow"):
        if header in response:
            problem[header] = response[header]
    return problem


class ApiProblemMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400:
            return response
        content_type = response.get("Content-Type", "")
        if is_api_request(request) and not content_type.startswith(PROBLEM_CONTENT_TYPE):
            # An error produced by Django itself (bad host, CSRF, a view outside DRF).
            return problem_from_response(request, response)
        if request.path.startswith(HEADLESS_PREFIX) and content_type.startswith("text/html"):
            return problem_from_response(request, response)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_json_api_request(request):
            return None
        body, headers = problem_for_exception(exception, path=request.path)
        return JsonResponse(
            body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE
        )
