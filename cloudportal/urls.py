"""The URL map: pages, admin, the versioned API and its documentation, health probes."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

from billing.views import stripe_webhook
from cloudportal import health, views
from cloudportal.api.postman import PostmanCollectionApi
from cloudportal.api.views import ApiNotFoundApi, ApiRootApi, ApiSchemaApi

api_v1_patterns: list[URLPattern | URLResolver] = [
    path("", ApiRootApi.as_view(), name="root"),
    path("schema/", ApiSchemaApi.as_view(), name="schema"),
    path("postman.json", PostmanCollectionApi.as_view(), name="postman"),
    path("", include("accounts.api.urls")),
    path("", include("deployments.api.urls")),
    path("", include("support.api.urls")),
    path("", include("billing.api.urls")),
    path("catalog/", include(("catalog.api.urls", "catalog"))),
]

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("deployments/", include("deployments.urls")),
    path("support/", include("support.urls")),
    path("billing/", include("billing.urls")),
    path("webhooks/stripe/", stripe_webhook, name="stripe-webhook"),
    path("_allauth/", include("allauth.headless.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1_patterns, "api"))),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="api-redoc"),
    path("api/redoc/bundles/redoc.standalone.js", views.redoc_bundle, name="api-redoc-bundle"),
    path(
        "api/websocket/",
        TemplateView.as_view(template_name="api/websocket.html"),
        name="api-websocket",
    ),
    path(
        "api/auth-docs/",
        SpectacularRedocView.as_view(url="/_allauth/openapi.json"),
        name="api-auth-docs",
    ),
    # Last: anything else under /api/ is a 404 problem, never an HTML page.
    re_path(r"^api/", ApiNotFoundApi.as_view(), name="api-not-found"),
]

handler404 = "cloudportal.views.page_not_found"
handler500 = "cloudportal.views.server_error"
