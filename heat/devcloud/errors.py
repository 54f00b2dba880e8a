"""Heat's and Keystone's error bodies, as their middleware renders them."""

from __future__ import annotations

from typing import Any

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
}
# webob's explanations; observed on one line (heat-observed.md), so without webob's \r\n.
EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed or "
    "otherwise incorrect.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The server could not comply with the request since it is either malformed or "
    "otherwise incorrect.",
    409: "There was a conflict when trying to complete your request.",
    500: "The server has either erred or is incapable of performing the requested operation.",
}


class HeatApiError(Exception):
    """An error Heat answers with `FaultWrapper`'s body; `message` None for unsafe types."""

    def __init__(self, status: int, error_type: str, message: str | None = None) -> None:
        super().__init__(message or error_type)
        self.status = status
        self.error_type = error_type
        self.message = message

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "traceback": None}
        if self.message is not None:
            error["message"] = self.message
        return {
            "code": self.status,
            "title": TITLES.get(self.status, "Error"),
            "explanation": EXPLANATIONS.get(self.status, ""),
            "error": error,
        }


def stack_not_found(name_or_id: str) -> HeatApiError:
    return HeatApiError(404, "EntityNotFound", f"The Stack ({name_or_id}) could not be found.")


def unauthorized_body() -> dict[str, Any]:
    return {
        "error": {
            "code": 401,
            "title": "Unauthorized",
            "message": "The request you have made requires authentication.",
        }
    }
