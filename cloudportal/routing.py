"""WebSocket routes, all under /ws/."""

from django.urls import URLPattern, URLResolver, path

from deployments.consumers import DeploymentsConsumer

websocket_urlpatterns: list[URLPattern | URLResolver] = [
    path("ws/v1/", DeploymentsConsumer.as_asgi()),
]
