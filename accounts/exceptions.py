"""Accounts' domain errors; each `code` is part of the API contract."""

from cloudportal.exceptions import DomainError


class EmailUnverified(DomainError):
    code = "email_unverified"
    status = 403
    title = "Email address not verified"

    def __init__(self) -> None:
        super().__init__(
            "Verify your email address first: follow the link we emailed you, "
            "or ask for a new one from your account page."
        )


class SshKeyInvalid(DomainError):
    code = "ssh_key_invalid"
    status = 400
    title = "Invalid SSH public key"

    def __init__(self, message: str, *, field: str = "public_key") -> None:
        super().__init__(message, errors={field: [message]})


class SshKeyDuplicate(DomainError):
    code = "ssh_key_duplicate"
    status = 409
    title = "SSH key already added"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, errors={field: [message]})


class TimeZoneUnknown(DomainError):
    code = "time_zone_unknown"
    status = 400
    title = "Unknown time zone"

    def __init__(self, value: str) -> None:
        message = f"'{value}' is not a time zone name such as Europe/Berlin or UTC."
        super().__init__(message, errors={"time_zone": [message]})


class ApiKeyInvalid(DomainError):
    code = "api_key_invalid"
    status = 400
    title = "Invalid API key settings"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, errors={field: [message]})


class ApiKeyRevoked(DomainError):
    code = "api_key_revoked"
    status = 409
    title = "API key already revoked"
