"""Keeps each login session's "last seen", address and browser current (at most once a minute)."""

import logging
import time
import zoneinfo
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts import selectors, services
from accounts.receivers import LOGIN_SESSION_ID_KEY, client_ip

logger = logging.getLogger(__name__)

SEEN_AT_KEY = "_login_session_seen_at"
TOUCH_INTERVAL_SECONDS = 60
_SKIPPED_PREFIXES = ("/static/", "/healthz", "/readyz")


class LoginSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(_SKIPPED_PREFIXES):
            return response
        try:
            self._record_activity(request)
        except DatabaseError:
            # The answer stands (it may itself report the outage); activity is recorded later.
            logger.warning("sessions.activity_not_recorded", extra={"path": request.path})
        return response

    def _record_activity(self, request: HttpRequest) -> None:
        user = getattr(request, "user", None)
        session_key = request.session.session_key
        if user is None or not user.is_authenticated or not session_key:
            return
        seen_at = request.session.get(SEEN_AT_KEY, 0)
        if time.time() - seen_at >= TOUCH_INTERVAL_SECONDS:
            request.session[LOGIN_SESSION_ID_KEY] = services.login_session_touch(
                user=user,
                public_id=request.session.get(LOGIN_SESSION_ID_KEY),
                session_key=session_key,
                ip_address=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
                now=timezone.now(),
            )
            request.session[SEEN_AT_KEY] = time.time()


class CustomerTimeZoneMiddleware:
    """Pages show times in the customer's own time zone (a setting); the API stays in UTC
    (ISO 8601 with an offset), so only page requests pay the one small read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = None
        # The path first: evaluating `request.user` reads the session, which API requests
        # leave to DRF's authentication (and its problem answers).
        if not request.path.startswith((*_SKIPPED_PREFIXES, "/api/", "/_allauth/")):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                zone = selectors.customer_time_zone(user=user)
        if zone:
            timezone.activate(zoneinfo.ZoneInfo(zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
