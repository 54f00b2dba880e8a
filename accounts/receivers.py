"""Signal receivers: they connect Django's and allauth's auth events to our services."""

from typing import Any

from allauth.account.signals import password_changed, password_reset
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import services
from accounts.activity import actor_from_request, client_ip
from accounts.models import User

# The session remembers its entry's public id, which survives Django's key changes.
LOGIN_SESSION_ID_KEY = "_login_session_id"


@receiver(user_logged_in)
def start_login_session(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    if request is None or not request.session.session_key:
        return
    login_session = services.login_session_start(
        user=user,
        session_key=request.session.session_key,
        ip_address=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        signed_in=True,
    )
    request.session[LOGIN_SESSION_ID_KEY] = login_session.public_id


@receiver(user_logged_out)
def end_login_session(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
    if request is not None and request.session.session_key:
        services.login_session_end(
            session_key=request.session.session_key, actor=actor_from_request(request)
        )


@receiver(password_changed)
def end_other_sessions_on_password_change(
    sender: Any, request: HttpRequest, user: User, **kwargs: Any
) -> None:
    session_key = request.session.session_key
    if session_key:
        services.login_session_rekey(
            user=user, public_id=request.session.get(LOGIN_SESSION_ID_KEY), session_key=session_key
        )
    services.login_sessions_revoke_others(
        user=user, keep_session_key=session_key, actor=actor_from_request(request)
    )


@receiver(password_reset)
def end_all_sessions_on_password_reset(
    sender: Any, request: HttpRequest, user: User, **kwargs: Any
) -> None:
    services.login_sessions_revoke_others(user=user, keep_session_key=None)
