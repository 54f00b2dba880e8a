"""Cursor pagination for every list: stable under inserts, no integer ids in cursors."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework import pagination, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

INVALID_CURSOR_MESSAGE = "Not a cursor of this list: follow a page's `next` or `previous` link."


class CursorPagination(pagination.CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "limit"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int | None:
        # DRF silently falls back to the default for a bad limit; the schema promises 1..max.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        field = serializers.IntegerField(min_value=1, max_value=self.max_page_size)
        try:
            return int(field.run_validation(raw))
        except serializers.ValidationError as error:
            raise serializers.ValidationError({self.page_size_query_param: error.detail}) from None

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        if request.query_params.get(self.cursor_query_param) == "":
            raise _invalid_cursor()
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor() from None

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, OverflowError):
            # A well-formed cursor whose position is not a value of the ordering field
            # (`p=2026-13-45`): only a hand-made cursor gets here.
            if request.query_params.get(self.cursor_query_param) is None:
                raise
            raise _invalid_cursor() from None

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(
                    {"minimum": 1, "maximum": self.max_page_size, "default": self.page_size}
                )
        return parameters


def _invalid_cursor() -> serializers.ValidationError:
    return serializers.ValidationError({"cursor": [INVALID_CURSOR_MESSAGE]})
