"""Deployments' domain errors; each `code` is part of the API contract."""

from typing import Any

from billing.money import micros_to_decimal
from cloudportal.exceptions import DomainError


class DeploymentLimitReached(DomainError):
    code = "deployment_limit_reached"
    status = 409
    title = "Too many running deployments"


class DeploymentInputInvalid(DomainError):
    code = "deployment_input_invalid"
    status = 400
    title = "The deployment request is invalid"


class DeploymentStateConflict(DomainError):
    """The move asked for is not allowed from the deployment's current state."""

    code = "deployment_state_conflict"
    status = 409
    title = "Not possible in the deployment's current state"


class ApiKeySpendCapReached(DomainError):
    """A create through an API key would take its month's spend past the key's cap."""

    code = "key_spend_cap_reached"
    status = 402
    title = "API key spend cap reached"


class DeploymentInsufficientBalance(DomainError):
    """The available balance does not cover the first hour of the machine asked for."""

    code = "insufficient_balance"
    status = 402
    title = "Insufficient balance"

    def __init__(self, detail: str, *, required: int, available: int, top_up_url: str) -> None:
        self.required = required  # micro-units
        self.available = available
        self.shortfall = required - available
        self.top_up_url = top_up_url
        super().__init__(detail)

    def problem_fields(self) -> dict[str, Any]:
        return {
            "required": str(micros_to_decimal(self.required)),
            "available": str(micros_to_decimal(self.available)),
            "shortfall": str(micros_to_decimal(self.shortfall)),
            "top_up_url": self.top_up_url,
        }
