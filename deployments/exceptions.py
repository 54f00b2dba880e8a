"""Deployments' domain errors; each `code` is part of the API contract."""

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


class InsufficientBalance(DomainError):
    """Available balance below one hour of the machine's price (micro-units in the fields)."""

    code = "insufficient_balance"
    status = 402
    title = "Insufficient balance"

    def __init__(self, detail: str, *, required: int, available: int) -> None:
        self.required = required
        self.available = available
        self.shortfall = max(required - available, 0)
        super().__init__(detail)
