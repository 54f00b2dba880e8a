"""How django-allauth fits the portal: customers at sign-up, and when verification is needed.

Sign-up does not log in: whether or not the address already has an account, the answer is
the same "check your inbox" (no enumeration), and the emailed link logs the person in.
Later password logins are allowed before verification; what creates resources or spends
money checks verification itself (`services.email_verification_require`).

allauth silently skips a verification email its cooldown holds back, and calls a used link
"expired or invalid"; the two functions at the bottom let the pages (`accounts/views.py`)
say what actually happened.
"""

import time
from datetime import UTC, datetime
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.core.internal import ratelimit
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.forms import Form
from django.http import HttpRequest

from accounts import services
from accounts.models import User


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: Any, form: Form, commit: bool = True) -> User:
        with transaction.atomic():
            saved: User = super().save_user(request, user, form, commit=commit)
            if commit:
                services.customer_create(user=saved)
        return saved

    def get_login_stages(self) -> list[str]:
        # A dotted path: allauth imports stages late, and importing them early is circular.
        return [
            "accounts.stages.EmailVerificationAtSignupStage"
            if path == "allauth.account.stages.EmailVerificationStage"
            else path
            for path in super().get_login_stages()
        ]


# allauth's name for the verification-email rate limit (settings.ACCOUNT_RATE_LIMITS).
VERIFICATION_EMAIL_RATE_LIMIT = "confirm_email"


def verification_email_next_at(request: HttpRequest, *, email: str) -> datetime | None:
    """When allauth's cooldown lets another verification email go to `email`; None: now.

    Reads allauth's own rate-limit record (the cache entry it keeps per address), so the
    answer is the rule allauth applies, whatever `ACCOUNT_RATE_LIMITS` says.
    """
    now = time.time()
    next_at: list[float] = []
    for rate in ratelimit.get_rates(app="allauth.account", action=VERIFICATION_EMAIL_RATE_LIMIT):
        cache_key = ratelimit.get_cache_key(
            request,
            app="allauth.account",
            action=VERIFICATION_EMAIL_RATE_LIMIT,
            rate=rate,
            key=email.lower(),
        )
        sent = sorted(at for at in cache.get(cache_key, []) if at > now - rate.duration)
        if len(sent) >= rate.amount:
            # The send that must leave the window before another fits in it.
            next_at.append(sent[len(sent) - rate.amount] + rate.duration)
    return datetime.fromtimestamp(max(next_at), tz=UTC) if next_at else None


def verified_address_for_confirmation_key(key: str) -> EmailAddress | None:
    """The address a genuine verification link was for, when it is verified already.

    allauth's links are signed address ids (`ACCOUNT_EMAIL_CONFIRMATION_HMAC`); once the
    address is verified allauth no longer finds it and treats the link as invalid.
    """
    try:
        address_id = signing.loads(key, salt=account_settings.SALT)
    except signing.BadSignature:
        return None
    if not isinstance(address_id, int):
        return None
    return EmailAddress.objects.filter(pk=address_id, verified=True).first()
