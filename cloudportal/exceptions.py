"""The one base class of domain errors.

Services raise a subclass (each app keeps its own in `exceptions.py`); the API renders it
as an RFC 9457 problem with the subclass's stable `code` and HTTP `status`.
"""

from collections.abc import Callable
from typing import Any


class DomainError(Exception):
    code: str = "domain_error"
    status: int = 400
    title: str = "The request cannot be carried out"
    # Set by a service to record a refusal (an activity entry) that must outlive the
    # rollback of the transaction it was raised in; the API's error handler calls it.
    after_rollback: Callable[[], object] | None = None

    def __init__(self, detail: str | None = None, *, errors: dict[str, list[str]] | None = None):
        self.detail = detail or self.title
        self.errors = errors
        super().__init__(self.detail)

    def problem_fields(self) -> dict[str, Any]:
        """Members this error adds to its problem+json body (RFC 9457 extension members)."""
        return {}
