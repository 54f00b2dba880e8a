"""Content-Security-Policy on every response: scripts only from this server, nothing from
anywhere else (no CDN: the API docs and their fonts are served locally too).

Templates carry no inline script or event-handler attribute (tests/cloudportal/test_csp.py
checks them); behaviour lives in static/js/. Inline *styles* stay allowed: Redoc and Swagger
UI set them at run time, and a style cannot run code.
"""

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def content_security_policy(request: HttpRequest) -> str:
    directives = dict(settings.CONTENT_SECURITY_POLICY)
    # The live-updates WebSocket is this host too; 'self' covers ws: only in CSP 3 browsers.
    try:
        host = request.get_host()
    except DisallowedHost:
        host = None  # the response is the 400 that says so; it opens no socket
    if host:
        connect = directives.get("connect-src", "'self'")
        directives["connect-src"] = f"{connect} ws://{host} wss://{host}"
    # A top-up form posts here and is redirected to the payment provider's hosted page;
    # form-action governs that redirect too.
    form_action = directives.get("form-action", "'self'")
    directives["form-action"] = f"{form_action} {_checkout_origin()}"
    return "; ".join(f"{name} {value}".strip() for name, value in directives.items())


def _checkout_origin() -> str:
    base = getattr(settings, "STRIPE_API_BASE", "")  # devstripe in development
    if not base:
        return "https://checkout.stripe.com"
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = content_security_policy(request)
        return response
