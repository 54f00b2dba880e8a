"""How django-allauth fits the portal: customers at sign-up, and when verification is needed.

Sign-up does not log in: whether or not the address already has an account, the answer is
the same "check your inbox" (no enumeration), and the emailed link logs the person in.
Later password logins are allowed before verification; what creates resources or spends
money checks verification itself (`services.email_verification_require`).
"""

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
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
