"""The one base class of domain errors.

Services raise a subclass (each app keeps its own in `exceptions.py`); the API renders it
as an RFC 9457 problem with the subclass's stable `code` and HTTP `status`.
"""

from typing import Any


class DomainError(Exception):
    code: str = "domain_error"
    status: int = 400
    title: str = "The request cannot be carried out"

    def __init__(self, detail: str | None = None, *, errors: dict[str, list[str]] | None = None):
        self.detail = detail or self.title
        self.errors = errors
        super().__init__(self.detail)

    def problem_fields(self) -> dict[str, Any]:
        """Members this error adds to its problem+json body (RFC 9457 extension members)."""
        return {}
