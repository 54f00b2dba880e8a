"""`Authorization: Bearer cpk_…`: API keys in DRF, and their OpenAPI scheme.

The key's scopes are checked here, against the view's `api_key_scopes`
(cloudportal/api/scopes.py), so no view can forget to: whatever its permission classes,
an operation that declares no scope refuses keys. Its OpenAPI scheme is in
cloudportal/api/schema.py.
"""

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.api_keys import ApiKeyRefusal, api_key_authenticate, api_key_has_scope
from accounts.models import ApiKey, User
from cloudportal.api.scopes import PUBLIC, SESSION_ONLY, scope_required
from cloudportal.client_ip import client_ip

BEARER = "bearer"


class ApiKeyUnusable(exceptions.AuthenticationFailed):
    """401 with a code saying why (the problem renders `default_code`)."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.default_code = code


class ApiKeyForbidden(exceptions.PermissionDenied):
    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.default_code = code


_REFUSALS = {
    "unknown": ("The API key is not valid.", "authentication_failed"),
    "revoked": ("This API key was revoked.", "api_key_revoked"),
    "expired": ("This API key has expired.", "api_key_expired"),
    "inactive": ("The account this key belongs to is disabled.", "authentication_failed"),
}


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != BEARER:
            return None
        secret = secret.strip()
        if not secret or " " in secret:
            raise ApiKeyUnusable(
                "Send the key as `Authorization: Bearer <key>`.", "malformed_credentials"
            )
        try:
            api_key = api_key_authenticate(secret=secret, ip=client_ip(request))
        except ApiKeyRefusal as refusal:
            if refusal.reason == "ip_not_allowed":
                # Said without the list: a stolen key must not learn where it would work.
                raise ApiKeyForbidden(
                    "This API key may not be used from your address.", "ip_not_allowed"
                ) from None
            raise ApiKeyUnusable(*_REFUSALS[refusal.reason]) from None
        view = request.parser_context.get("view") if request.parser_context else None
        declared, required = scope_required(view, request.method or "GET")
        if not declared or required is SESSION_ONLY:
            raise ApiKeyForbidden(
                "API keys cannot do this: it needs a browser session (keys never manage "
                "keys, sessions, passwords or email).",
                "session_only",
            )
        if required != PUBLIC and not api_key_has_scope(api_key=api_key, scope=required):
            exc = ApiKeyForbidden(f"This API key lacks the scope {required}.", "insufficient_scope")
            raise exc
        return api_key.customer.user, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
