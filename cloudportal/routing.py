"""WebSocket routes, all under /ws/. Each app's consumers are added here as they arrive."""

from django.urls import URLPattern, URLResolver

websocket_urlpatterns: list[URLPattern | URLResolver] = []
