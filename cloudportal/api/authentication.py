"""API authentication classes. Listed in REST_FRAMEWORK; API keys join in their own issue."""

from rest_framework import authentication
from rest_framework.request import Request


class SessionAuthentication(authentication.SessionAuthentication):
    """The browser's session cookie, with CSRF on unsafe methods.

    DRF answers 403 to an anonymous request unless the first authentication class names
    a challenge; naming one makes "not logged in" a proper 401.
    """

    def authenticate_header(self, request: Request) -> str:
        return 'Session realm="api"'
