from typing import Any

from django.http import HttpRequest

from accounts.models import User
from deployments.low_balance import grace_ends_at
from deployments.models import LowBalanceEpisode


def low_balance_banner(request: HttpRequest) -> dict[str, Any]:
    """`low_balance` drives the banner on every page while an episode is open (one query):
    `level` is "dry" (machines stopped), "hour" or "day" (runway below 1 h / 24 h)."""
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated:
        return {"low_balance": None}
    episode = LowBalanceEpisode.objects.filter(customer__user=user).first()
    if episode is None:
        return {"low_balance": None}
    if episode.dry_at is not None:
        return {"low_balance": {"level": "dry", "deletion_at": grace_ends_at(episode)}}
    if episode.warned_hour_at is not None:
        return {"low_balance": {"level": "hour"}}
    if episode.warned_day_at is not None:
        return {"low_balance": {"level": "day"}}
    return {"low_balance": None}
