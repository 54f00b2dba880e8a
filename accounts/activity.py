"""Who did something, as the activity log records it; entry points build it, services write it."""

from dataclasses import dataclass

from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import ActivityEntry, ApiKey, User
from cloudportal.client_ip import client_ip


@dataclass(frozen=True)
class Actor:
    kind: str  # ActivityEntry.ActorKind
    label: str
    user_id: int | None = None
    ip_address: str | None = None
    # The key that authenticated the request, so services can act on it (the spend cap).
    api_key_id: int | None = None

    @classmethod
    def user(cls, user: User, *, ip_address: str | None = None) -> "Actor":
        kind = ActivityEntry.ActorKind.USER
        return cls(kind=kind, label=user.email, user_id=user.pk, ip_address=ip_address)

    @classmethod
    def staff(cls, user: User, *, ip_address: str | None = None) -> "Actor":
        kind = ActivityEntry.ActorKind.STAFF
        return cls(kind=kind, label=user.email, user_id=user.pk, ip_address=ip_address)

    @classmethod
    def api_key(cls, api_key: ApiKey, *, ip_address: str | None = None) -> "Actor":
        return cls(
            kind=ActivityEntry.ActorKind.API_KEY,
            label=api_key.public_id,
            user_id=api_key.customer.user_id,
            ip_address=ip_address,
            api_key_id=api_key.pk,
        )

    @classmethod
    def system(cls) -> "Actor":
        return cls(kind=ActivityEntry.ActorKind.SYSTEM, label="system")


__all__ = ["Actor", "actor_from_request", "client_ip"]


def actor_from_request(request: HttpRequest | Request) -> Actor:
    """The signed-in person (or API key, when one authenticated the request) and their IP."""
    ip_address = client_ip(request)
    key = getattr(request, "auth", None)
    if isinstance(key, ApiKey):
        return Actor.api_key(key, ip_address=ip_address)
    user = request.user
    if isinstance(user, User):
        return Actor.user(user, ip_address=ip_address)
    return Actor(kind=ActivityEntry.ActorKind.SYSTEM, label="anonymous", ip_address=ip_address)
