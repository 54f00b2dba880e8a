"""Every write to accounts data goes through a function here."""

import logging
import zoneinfo
from datetime import datetime
from typing import Any

from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import events, selectors
from accounts.activity import Actor
from accounts.exceptions import EmailUnverified, SshKeyDuplicate, TimeZoneUnknown
from accounts.models import ActivityEntry, ActivityVerb, Customer, LoginSession, SshKey, User
from accounts.ssh_keys import public_key_parse

logger = logging.getLogger(__name__)

CUSTOMER_SETTINGS_FIELDS = (
    "display_name",
    "company",
    "time_zone",
    "notify_low_balance",
    "notify_deployment_failed",
    "notify_ticket_replies",
)


# --- Activity log -------------------------------------------------------------------


def activity_record(
    *,
    customer: Customer,
    verb: ActivityVerb | str,
    actor: Actor | None = None,
    object_id: str = "",
    data: dict[str, Any] | None = None,
) -> ActivityEntry:
    """Append one entry to the customer's activity log.

    Call it inside the action's own transaction, so the entry exists exactly when the
    action does. Without an `actor`, the customer's own user did it (from an unknown IP).
    """
    actor = actor or Actor.user(customer.user)
    return ActivityEntry.objects.create(
        customer=customer,
        actor_kind=actor.kind,
        actor_user_id=actor.user_id,
        actor_label=actor.label[:254],
        verb=ActivityVerb(verb),
        object_id=object_id,
        ip_address=actor.ip_address,
        data=data or {},
    )


def _activity_record_for_users(
    *, user_ids: list[int], verb: ActivityVerb, actor: Actor | None, object_ids: list[str]
) -> None:
    """One entry per (user, object), in one insert; the actor defaults to each user."""
    customers = {
        c.user_id: c for c in Customer.objects.filter(user_id__in=user_ids).select_related("user")
    }
    entries = []
    for user_id, object_id in zip(user_ids, object_ids, strict=True):
        customer = customers.get(user_id)
        if customer is None:
            continue
        who = actor or Actor.user(customer.user)
        entries.append(
            ActivityEntry(
                customer=customer,
                actor_kind=who.kind,
                actor_user_id=who.user_id,
                actor_label=who.label[:254],
                verb=verb,
                object_id=object_id,
                ip_address=who.ip_address,
            )
        )
    ActivityEntry.objects.bulk_create(entries)


# --- Customers ----------------------------------------------------------------------


def customer_create(*, user: User) -> Customer:
    customer = Customer.objects.create(user=user)
    logger.info("customer.created", extra={"customer_id": customer.public_id})
    return customer


def customer_update_settings(*, customer: Customer, **changes: Any) -> Customer:
    unknown = set(changes) - set(CUSTOMER_SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"Not customer settings: {sorted(unknown)}")
    time_zone = changes.get("time_zone")
    if time_zone is not None and time_zone not in zoneinfo.available_timezones():
        raise TimeZoneUnknown(time_zone)
    for field, value in changes.items():
        setattr(customer, field, value)
    customer.save(update_fields=list(changes))
    return customer


def email_verification_require(*, user: User) -> None:
    """Creating resources or spending money needs a verified address."""
    if not selectors.email_is_verified(user=user):
        raise EmailUnverified()


# --- Login sessions -----------------------------------------------------------------


def login_session_start(
    *,
    user: User,
    session_key: str,
    ip_address: str | None,
    user_agent: str,
    signed_in: bool = False,
) -> LoginSession:
    """Record a session; `signed_in` when a sign-in made it (the activity log says so)."""
    with transaction.atomic():
        login_session, _ = LoginSession.objects.update_or_create(
            session_key=session_key,
            defaults={
                "user": user,
                "created_at": timezone.now(),
                "last_seen_at": timezone.now(),
                "ip_address": ip_address,
                "user_agent": user_agent[:500],
            },
        )
        customer = Customer.objects.filter(user=user).first()
        if signed_in and customer is not None:
            activity_record(
                customer=customer,
                verb=ActivityVerb.SESSION_SIGNED_IN,
                actor=Actor.user(user, ip_address=ip_address),
                object_id=login_session.public_id,
            )
    logger.info("session.started", extra={"session": login_session.public_id})
    return login_session


def login_session_touch(
    *,
    user: User,
    public_id: str | None,
    session_key: str,
    ip_address: str | None,
    user_agent: str,
    now: datetime,
) -> str:
    """Record activity; returns the entry's public id (new if the session had none)."""
    # By public id: Django gives a session a new key on login and password change.
    updated = LoginSession.objects.filter(public_id=public_id, user=user).update(
        session_key=session_key,
        last_seen_at=now,
        ip_address=ip_address,
        user_agent=user_agent[:500],
    )
    if updated:
        assert public_id is not None
        return public_id
    login_session = login_session_start(
        user=user, session_key=session_key, ip_address=ip_address, user_agent=user_agent
    )
    return login_session.public_id


def login_session_rekey(*, user: User, public_id: str | None, session_key: str) -> None:
    """The session kept its data under a new key (password change): follow it."""
    LoginSession.objects.filter(public_id=public_id, user=user).update(session_key=session_key)


def login_session_end(*, session_key: str, actor: Actor | None = None) -> None:
    """The user logged out: the session is gone, so are its entry and its sockets."""
    login_sessions_revoke(
        login_sessions=LoginSession.objects.filter(session_key=session_key),
        verb=ActivityVerb.SESSION_SIGNED_OUT,
        actor=actor,
    )


def login_session_revoke(*, login_session: LoginSession, actor: Actor | None = None) -> None:
    """End a session from elsewhere: its next request is anonymous, its sockets close."""
    login_sessions_revoke(
        login_sessions=LoginSession.objects.filter(pk=login_session.pk), actor=actor
    )


def login_sessions_revoke(
    *,
    login_sessions: QuerySet[LoginSession],
    verb: ActivityVerb = ActivityVerb.SESSION_REVOKED,
    actor: Actor | None = None,
) -> int:
    """End these sessions: one transaction, one delete per table and one publish, however
    many (a password change ends all of a user's others inside the user's request)."""
    with transaction.atomic():
        ended_rows = list(
            login_sessions.select_for_update().values_list("public_id", "session_key", "user_id")
        )
        if not ended_rows:
            return 0
        _activity_record_for_users(
            user_ids=[user_id for _, _, user_id in ended_rows],
            verb=verb,
            actor=actor,
            object_ids=[public_id for public_id, _, _ in ended_rows],
        )
        ended = [(public_id, key) for public_id, key, _ in ended_rows]
        # Sessions live in the database (SESSION_ENGINE): the session list reads them there.
        Session.objects.filter(session_key__in=[key for _, key in ended]).delete()
        LoginSession.objects.filter(public_id__in=[public_id for public_id, _ in ended]).delete()
        events.publish_login_sessions_revoked(session_public_ids=[pid for pid, _ in ended])
    logger.info("sessions.revoked", extra={"sessions": [public_id for public_id, _ in ended]})
    return len(ended)


def login_sessions_revoke_others(
    *, user: User, keep_session_key: str | None, actor: Actor | None = None
) -> int:
    return login_sessions_revoke(
        login_sessions=LoginSession.objects.filter(user=user).exclude(session_key=keep_session_key),
        actor=actor,
    )


def sessions_clear_expired() -> int:
    """Delete expired login sessions and their entries; returns how many went."""
    with transaction.atomic():
        deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
        live_keys = Session.objects.values("session_key")
        LoginSession.objects.exclude(session_key__in=live_keys).delete()
    logger.info("sessions.cleared_expired", extra={"count": deleted})
    return deleted


# --- SSH keys -----------------------------------------------------------------------


def ssh_key_create(
    *, customer: Customer, name: str, public_key: str, actor: Actor | None = None
) -> SshKey:
    email_verification_require(user=customer.user)
    parsed = public_key_parse(public_key)
    name = name.strip() or parsed.comment[:100] or parsed.fingerprint[-12:]
    existing = SshKey.objects.filter(customer=customer, fingerprint=parsed.fingerprint).first()
    if existing is not None:
        raise SshKeyDuplicate(
            f"You have already added this key as '{existing.name}'.", field="public_key"
        )
    try:
        with transaction.atomic():
            ssh_key = SshKey.objects.create(
                customer=customer,
                name=name,
                key_type=parsed.key_type,
                bits=parsed.bits,
                fingerprint=parsed.fingerprint,
                public_key=parsed.public_key,
            )
            activity_record(
                customer=customer,
                verb=ActivityVerb.SSH_KEY_ADDED,
                actor=actor,
                object_id=ssh_key.public_id,
                data={"name": ssh_key.name, "fingerprint": ssh_key.fingerprint},
            )
    except IntegrityError:
        # The constraints decide; which one is asked of the data, not of the error text
        # (SQLite's names no constraint).
        if SshKey.objects.filter(customer=customer, name=name).exists():
            raise SshKeyDuplicate(f"You already have a key named '{name}'.", field="name") from None
        raise SshKeyDuplicate("You have already added this key.", field="public_key") from None
    logger.info(
        "ssh_key.created", extra={"customer_id": customer.public_id, "ssh_key": ssh_key.public_id}
    )
    return ssh_key


def ssh_key_delete(*, ssh_key: SshKey, actor: Actor | None = None) -> None:
    with transaction.atomic():
        public_id = ssh_key.public_id
        ssh_key.delete()
        activity_record(
            customer=ssh_key.customer,
            verb=ActivityVerb.SSH_KEY_DELETED,
            actor=actor,
            object_id=public_id,
            data={"name": ssh_key.name, "fingerprint": ssh_key.fingerprint},
        )
    logger.info("ssh_key.deleted", extra={"ssh_key": ssh_key.public_id})
