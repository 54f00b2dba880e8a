"""API keys: minting and checking secrets, the allow-list, and the services and selectors.

A secret is `cpk_` + 43 url-safe characters (256 random bits). The prefix lets secret
scanners recognise a leaked key; the first 16 characters are stored to find the row, the
SHA-256 of the whole secret to check it. The secret itself is shown once and never stored.
"""

import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts import events
from accounts.activity import Actor
from accounts.exceptions import ApiKeyInvalid, ApiKeyRevoked
from accounts.models import ActivityVerb, ApiKey, Customer, User
from accounts.services import activity_record, email_verification_require
from cloudportal.api.scopes import Scope

logger = logging.getLogger(__name__)

SECRET_PREFIX = "cpk_"  # noqa: S105  # not a secret: what every secret starts with
LOOKUP_LENGTH = 16
MAX_ALLOWED_NETWORKS = 50
# Writing last-used on every request would make each one a write; once a minute is plenty.
LAST_USED_RESOLUTION = timedelta(minutes=1)
IP_REFUSED_LOG_SECONDS = 60

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def api_key_secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def api_key_secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def allowed_networks_parse(values: Iterable[str]) -> list[str]:
    """Normalised CIDR strings ("10.0.0.0/8", "2001:db8::1/128"), or ApiKeyInvalid."""
    networks: list[str] = []
    for value in values:
        text = str(value).strip()
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ApiKeyInvalid(
                f"'{text}' is not an IPv4 or IPv6 address or CIDR range (e.g. 203.0.113.0/24).",
                field="allowed_ips",
            ) from None
        if str(network) not in networks:
            networks.append(str(network))
    if len(networks) > MAX_ALLOWED_NETWORKS:
        raise ApiKeyInvalid(
            f"At most {MAX_ALLOWED_NETWORKS} addresses or ranges.", field="allowed_ips"
        )
    return networks


def ip_allowed(*, allowed: Sequence[str], ip: str | None) -> bool:
    if not allowed:
        return True
    if ip is None:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:203.0.113.5 is 203.0.113.5
    return any(address in ipaddress.ip_network(network) for network in allowed)


def api_key_has_scope(*, api_key: ApiKey, scope: str) -> bool:
    return scope in api_key.scopes


# --- authentication ------------------------------------------------------------------


class ApiKeyRefusal(Exception):
    """Why a presented key was refused; the entry point maps `reason` to its answer."""

    def __init__(self, reason: str, api_key: ApiKey | None = None) -> None:
        self.reason = reason  # unknown | revoked | expired | inactive | ip_not_allowed
        self.api_key = api_key
        super().__init__(reason)


def api_key_authenticate(*, secret: str, ip: str | None) -> ApiKey:
    """The live key for `secret` used from `ip` (its customer and user loaded), or a refusal.

    A refused IP is written to the customer's activity log (the key's owner should know).
    """
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        raise ApiKeyRefusal("unknown")
    api_key = (
        ApiKey.objects.select_related("customer__user")
        .filter(lookup=secret[:LOOKUP_LENGTH])
        .first()
    )
    expected = api_key.secret_hash if api_key is not None else api_key_secret_hash("")
    matches = hmac.compare_digest(expected, api_key_secret_hash(secret))
    if api_key is None or not matches:
        raise ApiKeyRefusal("unknown")
    now = timezone.now()
    if api_key.revoked_at is not None:
        raise ApiKeyRefusal("revoked", api_key)
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise ApiKeyRefusal("expired", api_key)
    if not api_key.customer.user.is_active:
        raise ApiKeyRefusal("inactive", api_key)
    if not ip_allowed(allowed=api_key.allowed_ips, ip=ip):
        # Refused requests are never throttled (authentication fails first): one entry per
        # key and address a minute keeps a hammering client from flooding the log.
        if cache.add(f"api_key.ip_refused:{api_key.pk}:{ip}", 1, IP_REFUSED_LOG_SECONDS):
            activity_record(
                customer=api_key.customer,
                verb=ActivityVerb.API_KEY_IP_REFUSED,
                actor=Actor.api_key(api_key, ip_address=ip),
                object_id=api_key.public_id,
            )
        logger.warning(
            "api_key.ip_refused", extra={"api_key_id": api_key.public_id, "ip_address": ip}
        )
        raise ApiKeyRefusal("ip_not_allowed", api_key)
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now, last_used_ip=ip)
        api_key.last_used_at, api_key.last_used_ip = now, ip
    return api_key


# --- services --------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKeyCreated:
    api_key: ApiKey
    secret: str  # shown to the customer once, never stored


def api_key_create(
    *,
    customer: Customer,
    name: str,
    scopes: Iterable[str],
    allowed_ips: Iterable[str] = (),
    expires_at: datetime | None = None,
    monthly_spend_cap: int | None = None,
    created_by: User | None = None,
    actor: Actor | None = None,
) -> ApiKeyCreated:
    email_verification_require(user=customer.user)
    name = name.strip()
    if not name:
        raise ApiKeyInvalid("Give the key a name, e.g. the script that uses it.", field="name")
    wanted = list(dict.fromkeys(scopes))
    unknown = sorted(set(wanted) - set(Scope.values))
    if unknown:
        raise ApiKeyInvalid(f"Unknown scopes: {', '.join(unknown)}.", field="scopes")
    if not wanted:
        raise ApiKeyInvalid("Choose at least one scope.", field="scopes")
    if expires_at is not None and expires_at <= timezone.now():
        raise ApiKeyInvalid("The expiry must be in the future.", field="expires_at")
    if monthly_spend_cap is not None and monthly_spend_cap < 0:
        raise ApiKeyInvalid("A spend cap is zero or more.", field="monthly_spend_cap")
    networks = allowed_networks_parse(allowed_ips)
    secret = api_key_secret_new()
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            customer=customer,
            created_by=created_by or customer.user,
            name=name[:100],
            scopes=[scope for scope in Scope.values if scope in wanted],
            allowed_ips=networks,
            expires_at=expires_at,
            monthly_spend_cap=monthly_spend_cap,
            lookup=secret[:LOOKUP_LENGTH],
            secret_hash=api_key_secret_hash(secret),
        )
        activity_record(
            customer=customer,
            verb=ActivityVerb.API_KEY_CREATED,
            actor=actor,
            object_id=api_key.public_id,
            data={"name": api_key.name, "scopes": api_key.scopes},
        )
    logger.info("api_key.created", extra={"api_key_id": api_key.public_id})
    return ApiKeyCreated(api_key=api_key, secret=secret)


def api_key_revoke(*, api_key: ApiKey, actor: Actor | None = None) -> ApiKey:
    """Its very next request is refused (keys are checked against the database each time)."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is not None:
            raise ApiKeyRevoked("This key was already revoked.")
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        activity_record(
            customer=locked.customer,
            verb=ActivityVerb.API_KEY_REVOKED,
            actor=actor,
            object_id=locked.public_id,
            data={"name": locked.name},
        )
        events.publish_api_key_revoked(api_key_public_id=locked.public_id)
    logger.info("api_key.revoked", extra={"api_key_id": locked.public_id})
    return locked


# --- selectors -------------------------------------------------------------------------


def api_key_list(*, customer: Customer) -> QuerySet[ApiKey]:
    return (
        ApiKey.objects.filter(customer=customer).select_related("customer").order_by("-created_at")
    )


def api_key_get(*, customer: Customer, public_id: str) -> ApiKey:
    """Another customer's key, or none, is a 404."""
    api_key = ApiKey.objects.filter(customer=customer, public_id=public_id).first()
    if api_key is None:
        raise Http404("No such API key.")
    return api_key


# Month-to-date spend lives where machines and money are; accounts imports neither, so
# the app that knows (deployments) registers a function answering {key id: micro-units}.
MonthSpend = Callable[[Sequence[ApiKey]], dict[int, int]]
_month_spend_providers: list[MonthSpend] = []


def api_key_month_spend_provider_register(provider: MonthSpend) -> None:
    if provider not in _month_spend_providers:
        _month_spend_providers.append(provider)


def api_keys_month_spend(*, api_keys: Sequence[ApiKey]) -> dict[int, int]:
    """Micro-units spent this UTC month by what each key created (0 when nothing)."""
    spend = {api_key.pk: 0 for api_key in api_keys}
    for provider in _month_spend_providers:
        for key_id, amount in provider(api_keys).items():
            spend[key_id] = spend.get(key_id, 0) + amount
    return spend
