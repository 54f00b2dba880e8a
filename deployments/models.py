"""Deployments: one customer GPU VM, backed by exactly one Heat stack.

The lifecycle is readable here: `Status`, `DesiredState` and `TRANSITIONS`. Only
`services.deployment_transition` moves a deployment, and it appends a `StatusChange`.
"""

from typing import ClassVar

from django.db import models
from django.utils import timezone

from cloudportal.ids import PublicIdField


class Status(models.TextChoices):
    PENDING = "PENDING"  # accepted; the stack is not created yet
    PROVISIONING = "PROVISIONING"  # Heat is creating the stack
    ACTIVE = "ACTIVE"  # running, reachable, billed
    FAILED = "FAILED"  # could not be created; its stack is cleaned up
    DELETING = "DELETING"  # delete requested; the stack is going away
    DELETED = "DELETED"  # gone
    ERROR = "ERROR"  # the cloud would not delete it: staff must act
    # Stop and start (issue 15): the server is removed and its volumes kept, then rebuilt.
    STOPPING = "STOPPING"  # stop requested; compute billing has ended
    STOPPED = "STOPPED"  # no server, no GPU; the disks remain and are billed as storage
    STARTING = "STARTING"  # a new server is booting from the kept system volume


class DesiredState(models.TextChoices):
    ACTIVE = "active"
    STOPPED = "stopped"
    DELETED = "deleted"


TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.PROVISIONING, Status.FAILED, Status.DELETING}),
    Status.PROVISIONING: frozenset({Status.ACTIVE, Status.FAILED, Status.DELETING}),
    Status.ACTIVE: frozenset({Status.DELETING, Status.STOPPING}),
    Status.STOPPING: frozenset({Status.STOPPED, Status.DELETING}),
    Status.STOPPED: frozenset({Status.STARTING, Status.DELETING}),
    # A start the cloud has no capacity for ends STOPPED again, uncharged.
    Status.STARTING: frozenset({Status.ACTIVE, Status.STOPPED, Status.DELETING}),
    Status.FAILED: frozenset({Status.DELETING}),
    Status.DELETING: frozenset({Status.DELETED, Status.ERROR}),
    Status.ERROR: frozenset({Status.DELETING, Status.DELETED}),
    Status.DELETED: frozenset(),
}
# What counts against the per-customer limit and is "running" for the customer.
# What counts against the customer's limit of running machines: each holds (or is about to
# hold) a GPU. A starting machine is one; a stopped one has given its GPU back.
LIVE_STATUSES = frozenset({Status.PENDING, Status.PROVISIONING, Status.ACTIVE, Status.STARTING})
# Settled states where the stack must still be watched (or cleaned up) by the reconciler.
WATCHED_STATUSES = frozenset(
    {
        Status.PENDING,
        Status.PROVISIONING,
        Status.ACTIVE,
        Status.FAILED,
        Status.DELETING,
        Status.STOPPING,
        Status.STOPPED,
        Status.STARTING,
    }
)


class Deployment(models.Model):
    public_id = PublicIdField(prefix="dep")
    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.PROTECT, related_name="deployments"
    )
    name = models.CharField(max_length=63)
    # The API key it was created through: its spend counts against that key's monthly cap.
    created_by_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    # What was asked for (catalog slugs stay readable when the catalog later changes).
    region = models.ForeignKey("catalog.Region", on_delete=models.PROTECT)
    instance_type = models.ForeignKey("catalog.InstanceType", on_delete=models.PROTECT)
    image = models.ForeignKey("catalog.Image", on_delete=models.PROTECT)
    storage_profile = models.ForeignKey(
        "catalog.StorageProfile", on_delete=models.PROTECT, null=True, blank=True
    )
    volume_size_gb = models.PositiveIntegerField(default=0)
    # Snapshot of the keys installed: [{"id", "name", "fingerprint"}]; deleting a key later
    # does not change what the machine was given.
    ssh_keys = models.JSONField(default=list)

    # The price captured at create, per hour (Decimal, USD); metering bills from these.
    currency = models.CharField(max_length=3, default="USD")
    hourly_price = models.DecimalField(max_digits=14, decimal_places=6)
    compute_hourly_price = models.DecimalField(max_digits=14, decimal_places=6)
    storage_hourly_price = models.DecimalField(max_digits=14, decimal_places=6)

    # The stack: rendered once at create, so a retried create sends the same request.
    stack_name = models.CharField(max_length=64, unique=True)
    stack_template = models.CharField(max_length=64)
    stack_parameters = models.JSONField(default=dict)
    stack_tags = models.JSONField(default=list)
    stack_id = models.CharField(max_length=64, blank=True)
    heat_status = models.CharField(max_length=32, blank=True)
    outputs = models.JSONField(null=True, blank=True)
    progress_complete = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    events_marker = models.CharField(max_length=64, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    desired_state = models.CharField(
        max_length=16, choices=DesiredState.choices, default=DesiredState.ACTIVE
    )
    status_reason = models.CharField(max_length=500, blank=True)  # shown to the customer
    status_detail = models.TextField(blank=True)  # the cloud's own words, for staff

    # Worker bookkeeping: who holds the row, when to look again, how often it was tried.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(default=timezone.now)
    provisioning_deadline = models.DateTimeField(null=True, blank=True)
    create_attempts = models.PositiveIntegerField(default=0)
    delete_attempts = models.PositiveIntegerField(default=0)
    stack_cleanup_requested_at = models.DateTimeField(null=True, blank=True)
    # Stopped by the low-balance policy (not by the customer): a top-up starts it again.
    stopped_by_low_balance = models.BooleanField(default=False)
    # Stop/start updates Heat failed in a row: re-sent with backoff, then left to staff.
    update_attempts = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["customer", "-created_at"]),
            models.Index(fields=["region", "status", "next_check_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.name} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class StatusChange(models.Model):
    """Every transition with its time: metering reads ACTIVE intervals from here."""

    deployment = models.ForeignKey(
        Deployment, on_delete=models.CASCADE, related_name="status_changes"
    )
    from_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Status.choices)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["deployment", "created_at"])]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class DeploymentEvent(models.Model):
    """A Heat event of the deployment's stack, stored once per Heat event id."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="events")
    heat_event_id = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    resource_name = models.CharField(max_length=255)
    resource_status = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["deployment", "heat_event_id"], name="deployment_event_unique"
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["deployment", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.resource_name} {self.resource_status}"


class LowBalanceEpisode(models.Model):
    """One customer's low-balance episode: which steps were taken, so each happens once and
    a restarted worker carries on. An episode ends (all steps cleared) when the runway is
    back above the first warning threshold."""

    customer = models.OneToOneField(
        "accounts.Customer", on_delete=models.CASCADE, related_name="low_balance_episode"
    )
    warned_day_at = models.DateTimeField(null=True, blank=True)  # runway < 24 h
    warned_hour_at = models.DateTimeField(null=True, blank=True)  # runway < 1 h
    dry_at = models.DateTimeField(null=True, blank=True)  # available <= 0: machines stopped
    deletion_warned_at = models.DateTimeField(null=True, blank=True)  # a day before deleting
    deleted_at = models.DateTimeField(null=True, blank=True)  # grace over: machines deleted
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"low balance of customer {self.customer_id}"


class MeteringWatermark(models.Model):
    """How far usage is billed: every window before `metered_until` is charged (one row)."""

    name = models.CharField(max_length=32, primary_key=True)
    metered_until = models.DateTimeField(help_text="UTC, on a minute boundary.")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name}: {self.metered_until:%Y-%m-%d %H:%M}"
