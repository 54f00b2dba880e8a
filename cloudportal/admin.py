"""Staff-console pieces every app's admin shares."""

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Shown to staff, never added, changed or deleted in the console: history and money
    change only through services."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
