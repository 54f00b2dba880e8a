"""Test-only endpoints that exercise the API plumbing, mounted before the real URL map."""

import logging

from celery import shared_task
from django.core.cache import cache
from django.urls import include, path
from django_guid import get_guid
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from cloudportal.api.pagination import CursorPagination
from cloudportal.exceptions import DomainError
from cloudportal.urls import urlpatterns as real_urlpatterns

logger = logging.getLogger(__name__)


@shared_task(name="tests.record_request_id")
def record_request_id_task(cache_key: str) -> None:
    logger.info("tests.task_ran", extra={"cache_key": cache_key})
    cache.set(cache_key, get_guid(), timeout=60)


class OutOfCapacity(DomainError):
    code = "capacity_exhausted"
    status = 409
    title = "No capacity"


class EchoInput(serializers.Serializer):
    name = serializers.CharField(max_length=20)
    size_gb = serializers.IntegerField(min_value=1)
    tags = serializers.ListField(child=serializers.CharField(max_length=3), required=False)


class EchoApi(APIView):
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        data = EchoInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(data.validated_data, status=201)


class PrivateApi(APIView):
    def get(self, request: Request) -> Response:
        assert isinstance(request.user, User)
        return Response({"email": request.user.email})


class StaffApi(APIView):
    permission_classes = [IsAdminUser]

    def get(self, request: Request) -> Response:
        return Response({})


class BoomApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise RuntimeError("secret internals that must not leak")


class DomainErrorApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise OutOfCapacity("No GPU capacity in the region right now.")


class EnqueueApi(APIView):
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        record_request_id_task.apply_async(
            args=(request.data["cache_key"],), queue=request.data["queue"]
        )
        return Response({"request_id": get_guid()}, status=202)


class UserOutput(serializers.Serializer):
    email = serializers.EmailField()


class UserPagination(CursorPagination):
    ordering = "-date_joined"


class UserListApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        paginator = UserPagination()
        page = paginator.paginate_queryset(User.objects.all(), request, view=self)
        return paginator.get_paginated_response(UserOutput(page, many=True).data)


def page_that_breaks(request):
    raise RuntimeError("a page bug")


test_api_patterns = [
    path("echo", EchoApi.as_view()),
    path("private", PrivateApi.as_view()),
    path("staff", StaffApi.as_view()),
    path("boom", BoomApi.as_view()),
    path("domain-error", DomainErrorApi.as_view()),
    path("enqueue", EnqueueApi.as_view()),
    path("users", UserListApi.as_view()),
]

urlpatterns = [
    path("api/v1/test/", include(test_api_patterns)),
    path("test/page-that-breaks", page_that_breaks),
    *real_urlpatterns,
]

handler404 = "cloudportal.views.page_not_found"
handler500 = "cloudportal.views.server_error"
