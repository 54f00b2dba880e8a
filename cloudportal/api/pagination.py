"""Cursor pagination for every list: stable under inserts, no integer ids in cursors."""

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "limit"
    max_page_size = 200
