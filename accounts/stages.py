"""allauth login stages of our own (see accounts/allauth.py for the verification rule)."""

from allauth.account import stages
from django.http import HttpResponse


class EmailVerificationAtSignupStage(stages.EmailVerificationStage):
    """Mandatory verification for the sign-up login only."""

    def handle(self) -> tuple[HttpResponse | None, bool]:
        if self.login.signup:
            return super().handle()
        return None, True
