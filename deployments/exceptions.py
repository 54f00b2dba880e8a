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
