from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.models import User
from billing import selectors


def wallet_balance(request: HttpRequest) -> dict[str, object]:
    """`header_balance` for the page header, read lazily: one indexed row, and only on a
    page that shows it."""
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated:
        return {"header_balance": None}
    return {
        "header_balance": SimpleLazyObject(lambda: selectors.wallet_balance_for_user(user=user))
    }
