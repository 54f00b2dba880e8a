"""Support tickets: a customer's question, its thread of messages, and their attachments.

The lifecycle is readable here: `Status` and `TRANSITIONS`. Only `services.ticket_transition`
moves a ticket, and it appends a `TicketStatusChange`.
"""

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cloudportal.ids import PublicIdField


class Category(models.TextChoices):
    BILLING = "billing", "Billing"
    DEPLOYMENT = "deployment", "Deployment"
    ACCOUNT = "account", "Account"
    OTHER = "other", "Other"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Status(models.TextChoices):
    OPEN = "open", "Open"  # new: no one from support has answered yet
    WAITING_ON_CUSTOMER = "waiting_on_customer", "Waiting on customer"
    WAITING_ON_SUPPORT = "waiting_on_support", "Waiting on support"
    CLOSED = "closed", "Closed"


TRANSITIONS: dict[str, frozenset[str]] = {
    # A staff reply hands the ticket to the customer; closing is possible from anywhere.
    Status.OPEN: frozenset({Status.WAITING_ON_CUSTOMER, Status.CLOSED}),
    # The customer's reply hands it back to support.
    Status.WAITING_ON_CUSTOMER: frozenset({Status.WAITING_ON_SUPPORT, Status.CLOSED}),
    Status.WAITING_ON_SUPPORT: frozenset({Status.WAITING_ON_CUSTOMER, Status.CLOSED}),
    # The customer reopens (support's turn) or staff write again (the customer's turn).
    Status.CLOSED: frozenset({Status.WAITING_ON_SUPPORT, Status.WAITING_ON_CUSTOMER}),
}


class Actor(models.TextChoices):
    """Who did something to a ticket: the customer, a staff member, or the portal itself."""

    CUSTOMER = "customer", "Customer"
    STAFF = "staff", "Staff"
    SYSTEM = "system", "System"


class Ticket(models.Model):
    public_id = PublicIdField(prefix="tkt")
    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.PROTECT, related_name="tickets"
    )
    subject = models.CharField(max_length=200)
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.OTHER)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.OPEN)
    # One of the customer's own deployments (checked by the service), if it is about one.
    deployment = models.ForeignKey(
        "deployments.Deployment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        limit_choices_to={"is_staff": True},
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Moves only with what the customer can see (never with an internal note).
    last_message_at = models.DateTimeField(default=timezone.now)
    # The queue's "age": how long the customer has been waiting since they last wrote.
    customer_last_wrote_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)
    # The notice that a ticket waiting on the customer will close itself was emailed.
    auto_close_notice_sent_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=16, choices=Actor.choices, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["customer", "-created_at"]),
            models.Index(fields=["status", "last_message_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.subject}"

    @property
    def is_closed(self) -> bool:
        return self.status == Status.CLOSED


class TicketStatusChange(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=24, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=24, choices=Status.choices)
    actor = models.CharField(max_length=16, choices=Actor.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["ticket", "created_at"])]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class Message(models.Model):
    """One message of a ticket's thread; an internal note is staff-only, never the customer's."""

    public_id = PublicIdField(prefix="msg")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    author_kind = models.CharField(
        max_length=16, choices=[(Actor.CUSTOMER, "Customer"), (Actor.STAFF, "Staff")]
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    is_internal = models.BooleanField(default=False)
    body = models.TextField()  # plain text; pages escape it and make links clickable
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(is_internal=False) | Q(author_kind=Actor.STAFF),
                name="support_message_internal_by_staff",
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["ticket", "created_at"])]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.author_kind})"


def attachment_upload_to(attachment: "Attachment", filename: str) -> str:
    # The stored name never comes from the customer: no traversal, no collisions.
    return f"support/{attachment.message.ticket.public_id}/{attachment.public_id}"


class Attachment(models.Model):
    public_id = PublicIdField(prefix="att")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_upload_to, max_length=200)
    filename = models.CharField(max_length=255)  # as uploaded, shown and offered on download
    content_type = models.CharField(max_length=100)  # as recognised from the content
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.public_id} {self.filename}"
