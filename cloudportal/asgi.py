"""The one ASGI application: HTTP to Django, WebSocket (/ws/...) to Channels consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudportal.settings")

# Django must be set up before anything imports models (the routing does).
django_asgi_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from accounts.websocket import ApiKeyWebsocketMiddleware  # noqa: E402
from cloudportal.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_application,
        # API clients with a bearer key, or browsers (origin-checked, session cookie).
        "websocket": ApiKeyWebsocketMiddleware(
            URLRouter(websocket_urlpatterns),
            browsers=AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        ),
    }
)
