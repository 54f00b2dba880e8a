"""API views owned by the plumbing itself: the root and the unknown-route fall-through."""

from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from cloudportal.api.scopes import PUBLIC, scopes


class ApiRootApi(APIView):
    api_key_scopes = scopes(read=PUBLIC, write=PUBLIC)
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="api_root",
        summary="Where the API's documentation lives",
        responses=inline_serializer(
            "ApiRootOutput",
            fields={
                "version": serializers.CharField(),
                "schema": serializers.URLField(),
                "docs": serializers.URLField(),
                "redoc": serializers.URLField(),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "version": "v1",
                "schema": reverse("api:schema", request=request),
                "docs": reverse("api-docs", request=request),
                "redoc": reverse("api-redoc", request=request),
            }
        )


@extend_schema(exclude=True)
class ApiNotFoundApi(APIView):
    """Any unknown path under /api/ answers a 404 problem, with debug on or off."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def dispatch_not_found(self, request: Request, *args: object, **kwargs: object) -> Response:
        raise exceptions.NotFound(f"There is no API endpoint at {request.path}.")

    get = post = put = patch = delete = head = options = dispatch_not_found


class ApiSchemaApi(SpectacularAPIView):
    """The OpenAPI document; public, like the documentation pages."""

    api_key_scopes = scopes(read=PUBLIC, write=PUBLIC)
