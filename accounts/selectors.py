"""Every read of accounts data, already scoped to its owner."""

from allauth.account.models import EmailAddress
from django.contrib.sessions.models import Session
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import ActivityEntry, Customer, LoginSession, SshKey, User


def customer_for_user(*, user: User) -> Customer:
    return Customer.objects.select_related("user").get(user=user)


def customer_time_zone(*, user: User) -> str | None:
    """The IANA name the customer chose (validated when saved), or None."""
    return Customer.objects.filter(user=user).values_list("time_zone", flat=True).first()


def email_is_verified(*, user: User) -> bool:
    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def login_session_list(*, user: User) -> QuerySet[LoginSession]:
    """The user's sessions that can still be used (not expired, not ended)."""
    live_keys = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return LoginSession.objects.filter(user=user, session_key__in=live_keys).order_by("-created_at")


def login_session_get(*, user: User, public_id: str) -> LoginSession:
    """Another user's session is indistinguishable from a missing one: 404."""
    return get_object_or_404(login_session_list(user=user), public_id=public_id)


def ssh_key_list(*, customer: Customer) -> QuerySet[SshKey]:
    return SshKey.objects.filter(customer=customer).order_by("-created_at")


def ssh_key_get(*, customer: Customer, public_id: str) -> SshKey:
    return get_object_or_404(ssh_key_list(customer=customer), public_id=public_id)


def activity_list(
    *, customer: Customer, verb: str | None = None, object_id: str | None = None
) -> QuerySet[ActivityEntry]:
    """The customer's activity log, newest first."""
    entries = ActivityEntry.objects.filter(customer=customer)
    if verb:
        entries = entries.filter(verb=verb)
    if object_id:
        entries = entries.filter(object_id=object_id)
    return entries.order_by("-created_at")
