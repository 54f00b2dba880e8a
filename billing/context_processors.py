from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.models import User
from accounts.selectors import customer_for_user
from billing import selectors
from billing.runway import Runway, wallet_runway


def wallet_balance(request: HttpRequest) -> dict[str, object]:
    """`header_balance` for the page header, read lazily: one indexed row, and only on a
    page that shows it."""
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated:
        return {"header_balance": None, "header_runway": None}
    return {
        "header_balance": SimpleLazyObject(lambda: selectors.wallet_balance_for_user(user=user)),
        "header_runway": SimpleLazyObject(lambda: _runway(user)),
    }


def _runway(user: User) -> Runway:
    return wallet_runway(customer=customer_for_user(user=user))
