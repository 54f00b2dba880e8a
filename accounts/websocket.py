"""API keys on the WebSocket: `Authorization: Bearer cpk_…` on the upgrade request.

For non-browser clients; browsers cannot set headers on a WebSocket and use their session
cookie instead (a key never belongs in a browser). A request that presents a key is the
key's alone: a bad key leaves the socket anonymous (the consumer closes it with 4401),
never falling back to a session cookie sent along.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser

from accounts.api_keys import ApiKeyRefusal, api_key_authenticate
from accounts.models import ApiKey
from cloudportal.client_ip import client_ip_from_scope

Scope = MutableMapping[str, Any]
Asgi = Callable[[Scope, Any, Any], Awaitable[None]]


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, secret = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return secret.strip()
    return None


@database_sync_to_async
def _authenticate(secret: str, ip: str | None) -> ApiKey | None:
    try:
        return api_key_authenticate(secret=secret, ip=ip)
    except ApiKeyRefusal:
        return None


class ApiKeyWebsocketMiddleware:
    """Routes an upgrade request that presents a key straight to the routes, as that key's
    user; everything else goes through `browsers` (origin check, session cookie).

    A bearer request needs no origin check: a browser cannot set that header, so a request
    carrying one cannot be a cross-site hijack of someone's cookies.
    """

    def __init__(self, routes: Asgi, *, browsers: Asgi) -> None:
        self.routes = routes
        self.browsers = browsers

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        secret = _bearer(scope) if scope.get("type") == "websocket" else None
        if secret is None:
            await self.browsers(scope, receive, send)
            return
        api_key = await _authenticate(secret, client_ip_from_scope(scope))
        scope = dict(scope)
        scope["api_key"] = api_key
        scope["user"] = api_key.customer.user if api_key is not None else AnonymousUser()
        await self.routes(scope, receive, send)
