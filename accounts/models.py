"""Identity and ownership: users (email login), customers, login sessions, SSH keys."""

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from cloudportal.ids import PublicIdField


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields: Any) -> "User":
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        # Every user owns a customer from the first moment (createsuperuser, tests, scripts).
        with transaction.atomic(using=self._db):
            user.save(using=self._db)
            Customer.objects.create(user=user)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields: Any) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(
        self, email: str, password: str | None = None, **extra_fields: Any
    ) -> "User":
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields["is_staff"] is not True or extra_fields["is_superuser"] is not True:
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("email address", max_length=254, unique=True)
    is_staff = models.BooleanField(
        default=False, help_text="Can log in to the staff console (Django admin)."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            # Addresses differ only in case belong to one person: one account.
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()


class Customer(models.Model):
    """The billing and ownership unit: every deployment, key and payment points here."""

    public_id = PublicIdField(prefix="cus")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    display_name = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    notify_low_balance = models.BooleanField(default=True)
    notify_deployment_failed = models.BooleanField(default=True)
    notify_ticket_replies = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.public_id} ({self.user})"


class LoginSession(models.Model):
    """What a person sees of one logged-in browser or client; the key itself stays server-side."""

    public_id = PublicIdField(prefix="ses")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.user})"


class SshKey(models.Model):
    public_id = PublicIdField(prefix="ssh")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="ssh_keys")
    name = models.CharField(max_length=100)
    key_type = models.CharField(max_length=40)  # e.g. ssh-ed25519
    bits = models.PositiveIntegerField()
    # `SHA256:<base64>` exactly as `ssh-keygen -lf` prints it.
    fingerprint = models.CharField(max_length=60)
    public_key = models.TextField()  # "<type> <base64> [comment]", normalised to one line
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "fingerprint"], name="accounts_sshkey_unique_fingerprint"
            ),
            models.UniqueConstraint(
                fields=["customer", "name"], name="accounts_sshkey_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.fingerprint}"


class ApiKey(models.Model):
    """A secret an API client sends as `Authorization: Bearer cpk_…`, limited by scopes.

    Only the SHA-256 of the secret is kept (the secret is 256 random bits, so a fast hash
    is enough), found by its first characters (`lookup`), compared in constant time.
    """

    public_id = PublicIdField(prefix="key")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    name = models.CharField(max_length=100)
    scopes = models.JSONField(default=list, help_text="cloudportal.api.scopes.Scope values.")
    allowed_ips = models.JSONField(
        default=list, blank=True, help_text="IPv4/IPv6 networks (CIDR); empty allows any address."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    monthly_spend_cap = models.BigIntegerField(
        null=True, blank=True, help_text="Micro-units per UTC month; empty: no cap."
    )
    lookup = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["customer", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.name})"


class ActivityVerb(models.TextChoices):
    """Stable verbs: part of the API. Add new ones; never rename one."""

    SESSION_SIGNED_IN = "session.signed_in", "Signed in"
    SESSION_SIGNED_OUT = "session.signed_out", "Signed out"
    SESSION_REVOKED = "session.revoked", "Session logged out"
    SSH_KEY_ADDED = "ssh_key.added", "SSH key added"
    SSH_KEY_DELETED = "ssh_key.deleted", "SSH key deleted"
    DEPLOYMENT_CREATED = "deployment.created", "Deployment created"
    DEPLOYMENT_DELETED = "deployment.deleted", "Deployment deleted"
    BALANCE_ADJUSTED = "balance.adjusted", "Balance adjusted by staff"
    # Phase 2: declared together so the apps that write them share one migration.
    DEPLOYMENT_CREATE_DENIED = "deployment.create_denied", "Deployment refused (balance)"
    DEPLOYMENT_STOPPED = "deployment.stopped", "Deployment stopped"
    DEPLOYMENT_STARTED = "deployment.started", "Deployment started"
    DEPLOYMENT_STOPPED_LOW_BALANCE = (
        "deployment.stopped_low_balance",
        "Deployment stopped (balance ran out)",
    )
    BALANCE_LOW = "balance.low", "Balance low"
    TOPUP_CREATED = "topup.created", "Top-up started"
    TOPUP_SUCCEEDED = "topup.succeeded", "Top-up paid"
    TOPUP_REFUNDED = "topup.refunded", "Top-up refunded"
    TOPUP_DISPUTED = "topup.disputed", "Top-up disputed"
    TOPUP_NEEDS_REVIEW = "topup.needs_review", "Top-up needs review"
    INVOICE_ISSUED = "invoice.issued", "Invoice issued"
    CREDIT_NOTE_ISSUED = "credit_note.issued", "Credit note issued"
    BILLING_DETAILS_UPDATED = "billing_details.updated", "Billing details updated"
    API_KEY_CREATED = "api_key.created", "API key created"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    API_KEY_IP_REFUSED = "api_key.ip_refused", "API key refused (IP not allowed)"
    API_KEY_CAP_REFUSED = "api_key.cap_refused", "API key refused (spend cap)"
    TICKET_CREATED = "ticket.created", "Support ticket opened"
    TICKET_REPLIED = "ticket.replied", "Support ticket reply"
    TICKET_CLOSED = "ticket.closed", "Support ticket closed"
    TICKET_REOPENED = "ticket.reopened", "Support ticket reopened"


class ActivityEntry(models.Model):
    """One thing that happened to a customer's account; written, never changed."""

    class ActorKind(models.TextChoices):
        USER = "user", "User"
        API_KEY = "api_key", "API key"
        STAFF = "staff", "Staff"
        SYSTEM = "system", "System"

    public_id = PublicIdField(prefix="act")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="activity_entries"
    )
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Who, as shown: an email address, an API key's id, "system"; kept as it was then.
    actor_label = models.CharField(max_length=254)
    verb = models.CharField(max_length=60, choices=ActivityVerb.choices)
    object_id = models.CharField(max_length=60, blank=True, help_text="The object's public id.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "activity entries"
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["customer", "-created_at"]),
            models.Index(fields=["customer", "verb"]),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.verb} {self.object_id}"
