from django.http import HttpRequest

from accounts import selectors
from accounts.models import User


def email_verification(request: HttpRequest) -> dict[str, bool]:
    """`email_unverified` drives the banner with a "resend" button on every page."""
    user = getattr(request, "user", None)
    if not isinstance(user, User):
        return {"email_unverified": False}
    return {"email_unverified": not selectors.email_is_verified(user=user)}
