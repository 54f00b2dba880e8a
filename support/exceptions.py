"""Support's domain errors; each `code` is part of the API contract."""

from cloudportal.exceptions import DomainError


class TicketInputInvalid(DomainError):
    """A field names something that is not the customer's (a deployment) or is empty."""

    code = "ticket_input_invalid"
    status = 400
    title = "The ticket request is invalid"


class AttachmentRejected(DomainError):
    """Too many files, one too large, or a type not on the allow-list: nothing was saved."""

    code = "attachment_rejected"
    status = 400
    title = "An attachment was refused"


class AttachmentTooLarge(AttachmentRejected):
    code = "attachment_too_large"
    status = 413
    title = "An attachment is too large"


class AttachmentTypeNotAllowed(AttachmentRejected):
    code = "attachment_type_not_allowed"
    status = 415
    title = "An attachment's type is not allowed"


class TicketClosed(DomainError):
    code = "ticket_closed"
    status = 409
    title = "The ticket is closed"


class TicketStateConflict(DomainError):
    """The move asked for is not allowed from the ticket's current status."""

    code = "ticket_state_conflict"
    status = 409
    title = "Not possible in the ticket's current status"
