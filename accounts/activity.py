"""Who did something, as the activity log records it; entry points build it, services write it."""

from dataclasses import dataclass

from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import ActivityEntry, User


@dataclass(frozen=True)
class Actor:
    kind: str  # ActivityEntry.ActorKind
    label: str
    user_id: int | None = None
    ip_address: str | None = None

    @classmethod
    def user(cls, user: User, *, ip_address: str | None = None) -> "Actor":
        kind = ActivityEntry.ActorKind.USER
        return cls(kind=kind, label=user.email, user_id=user.pk, ip_address=ip_address)

    @classmethod
    def staff(cls, user: User, *, ip_address: str | None = None) -> "Actor":
        kind = ActivityEntry.ActorKind.STAFF
        return cls(kind=kind, label=user.email, user_id=user.pk, ip_address=ip_address)

    @classmethod
    def system(cls) -> "Actor":
        return cls(kind=ActivityEntry.ActorKind.SYSTEM, label="system")


def client_ip(request: HttpRequest | Request) -> str | None:
    # Behind a proxy, configure it to set REMOTE_ADDR (uvicorn --proxy-headers does).
    return request.META.get("REMOTE_ADDR") or None


def actor_from_request(request: HttpRequest | Request) -> Actor:
    """The signed-in person (or API key, when one authenticated the request) and their IP."""
    ip_address = client_ip(request)
    key = getattr(request, "auth", None)
    key_id = getattr(key, "public_id", None)
    user = request.user
    if isinstance(key_id, str) and key_id.startswith("key_"):
        return Actor(
            kind=ActivityEntry.ActorKind.API_KEY,
            label=key_id,
            user_id=user.pk if isinstance(user, User) else None,
            ip_address=ip_address,
        )
    if isinstance(user, User):
        return Actor.user(user, ip_address=ip_address)
    return Actor(kind=ActivityEntry.ActorKind.SYSTEM, label="anonymous", ip_address=ip_address)
