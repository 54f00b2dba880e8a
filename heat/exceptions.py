"""The few domain errors every OpenStack failure is mapped to.

`detail` stays generic, because customers may see it; the cloud's own words are kept in
`cloud_message` (and logged) for staff. `retryable` says whether trying again later can
succeed: the adapter already retried transient failures inside its budget.
"""

from cloudportal.exceptions import DomainError


class OpenStackError(DomainError):
    code = "openstack_error"
    status = 502
    title = "The cloud could not carry out the request"
    retryable = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        cloud_message: str = "",
        cloud_error_type: str = "",
        operation: str = "",
        region: str = "",
    ) -> None:
        super().__init__(detail)
        self.cloud_message = cloud_message
        self.cloud_error_type = cloud_error_type
        self.operation = operation
        self.region = region


class StackNotFound(OpenStackError):
    code = "stack_not_found"
    status = 404
    title = "The stack does not exist (or no longer exists)"


class StackConflict(OpenStackError):
    """The stack is busy (an action in progress) or its name is taken by a stack being deleted."""

    code = "stack_conflict"
    status = 409
    title = "The stack is busy; try again later"
    retryable = True


class CloudCapacityExceeded(OpenStackError):
    """A quota (e.g. Heat's stacks per project) or the cloud's capacity ran out."""

    code = "cloud_capacity_exceeded"
    status = 503
    title = "The cloud has no capacity for this request right now"


class InvalidStackRequest(OpenStackError):
    """The cloud refused the template, parameters or request as invalid."""

    code = "stack_request_invalid"
    status = 400
    title = "The cloud refused the stack request as invalid"


class CloudCredentialsError(OpenStackError):
    """Authentication, authorisation or configuration (region, catalog) is wrong: staff must act."""

    code = "cloud_credentials_refused"
    status = 502
    title = "The portal's cloud credentials or configuration were refused"


class CloudUnavailable(OpenStackError):
    code = "cloud_unavailable"
    status = 503
    title = "The cloud is unavailable right now"
    retryable = True
