"""Account pages: settings, SSH keys, sessions. Sign-in flows are allauth's own pages, two
of them extended here to say what happened (a resend held back, a link already used)."""

import contextlib
import math
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from allauth.account import views as allauth_views
from allauth.account.models import EmailAddress
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods, require_POST

from accounts import allauth, api_keys, selectors, services
from accounts.activity import actor_from_request
from accounts.exceptions import ApiKeyRevoked, EmailUnverified
from accounts.forms import ApiKeyForm, CustomerSettingsForm, SshKeyForm
from accounts.models import ActivityVerb, User
from accounts.user_agents import user_agent_describe
from cloudportal.exceptions import DomainError
from cloudportal.forms import form_add_domain_error

SETTINGS_FIELDS = list(CustomerSettingsForm.base_fields)


def page_user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required ran first
    return request.user


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    customer = selectors.customer_for_user(user=page_user(request))
    initial = {field: getattr(customer, field) for field in SETTINGS_FIELDS}
    form = CustomerSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update_settings(customer=customer, **form.cleaned_data)
        except DomainError as error:
            form_add_domain_error(form, error)
        else:
            messages.success(request, "Your settings are saved.")
            return redirect("accounts:settings")
    return render(
        request,
        "accounts/settings.html",
        {"form": form, "customer": customer, "section": "settings"},
    )


@login_required
@require_http_methods(["GET", "POST"])
def ssh_keys_page(request: HttpRequest) -> HttpResponse:
    user = page_user(request)
    customer = selectors.customer_for_user(user=user)
    form = SshKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ssh_key = services.ssh_key_create(
                customer=customer, actor=actor_from_request(request), **form.cleaned_data
            )
        except EmailUnverified as error:
            form.add_error(None, error.detail)
        except DomainError as error:
            form_add_domain_error(form, error, default_field="public_key")
        else:
            messages.success(request, f"SSH key '{ssh_key.name}' added.")
            return redirect("accounts:ssh-keys")
    return render(
        request,
        "accounts/ssh_keys.html",
        {
            "form": form,
            "ssh_keys": selectors.ssh_key_list(customer=customer),
            "email_verified": selectors.email_is_verified(user=user),
            "section": "ssh-keys",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def ssh_key_delete_page(request: HttpRequest, ssh_key_id: str) -> HttpResponse:
    customer = selectors.customer_for_user(user=page_user(request))
    ssh_key = selectors.ssh_key_get(customer=customer, public_id=ssh_key_id)
    if request.method == "POST":
        services.ssh_key_delete(ssh_key=ssh_key, actor=actor_from_request(request))
        messages.success(request, f"SSH key '{ssh_key.name}' deleted.")
        return redirect("accounts:ssh-keys")
    return render(
        request, "accounts/ssh_key_delete.html", {"ssh_key": ssh_key, "section": "ssh-keys"}
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_keys_page(request: HttpRequest) -> HttpResponse:
    user = page_user(request)
    customer = selectors.customer_for_user(user=user)
    form = ApiKeyForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        expires_on = form.cleaned_data["expires_on"]
        cap = form.cleaned_data["monthly_spend_cap"]
        try:
            created = api_keys.api_key_create(
                customer=customer,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                allowed_ips=form.cleaned_allowed_ips(),
                expires_at=(
                    datetime.combine(expires_on, time.min, tzinfo=UTC) if expires_on else None
                ),
                monthly_spend_cap=None if cap is None else int(cap * 1_000_000),
                created_by=user,
                actor=actor_from_request(request),
            )
        except DomainError as error:
            form_add_domain_error(form, error, field_names={"expires_at": "expires_on"})
        else:
            # Rendered, not redirected: the secret is shown once and never put in the
            # session (where a flash message would keep it).
            form = ApiKeyForm()
    keys = list(api_keys.api_key_list(customer=customer))
    spend = api_keys.api_keys_month_spend(api_keys=keys)
    return render(
        request,
        "accounts/api_keys.html",
        {
            "form": form,
            "created": created,
            "api_keys": [
                (
                    key,
                    Decimal(spend.get(key.pk, 0)) / 1_000_000,
                    None
                    if key.monthly_spend_cap is None
                    else Decimal(key.monthly_spend_cap) / 1_000_000,
                )
                for key in keys
            ],
            "now": timezone.now(),
            "email_verified": selectors.email_is_verified(user=user),
            "section": "api-keys",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke_page(request: HttpRequest, api_key_id: str) -> HttpResponse:
    customer = selectors.customer_for_user(user=page_user(request))
    api_key = api_keys.api_key_get(customer=customer, public_id=api_key_id)
    if request.method == "POST":
        # Revoked already (a second click, another tab): it is revoked, as asked.
        with contextlib.suppress(ApiKeyRevoked):
            api_keys.api_key_revoke(api_key=api_key, actor=actor_from_request(request))
        messages.success(request, f"API key '{api_key.name}' revoked.")
        return redirect("accounts:api-keys")
    return render(
        request, "accounts/api_key_revoke.html", {"api_key": api_key, "section": "api-keys"}
    )


@login_required
def sessions_page(request: HttpRequest) -> HttpResponse:
    login_sessions = [
        (login_session, *user_agent_describe(login_session.user_agent))
        for login_session in selectors.login_session_list(user=page_user(request))
    ]
    return render(
        request,
        "accounts/sessions.html",
        {
            "login_sessions": login_sessions,
            "current_session_key": request.session.session_key,
            "section": "sessions",
        },
    )


@login_required
@require_POST
def session_revoke_page(request: HttpRequest, session_id: str) -> HttpResponse:
    login_session = selectors.login_session_get(user=page_user(request), public_id=session_id)
    if login_session.session_key == request.session.session_key:
        logout(request)
        return redirect("account_login")
    services.login_session_revoke(login_session=login_session, actor=actor_from_request(request))
    messages.success(request, "That session is logged out.")
    return redirect("accounts:sessions")


@login_required
@require_POST
def sessions_revoke_others_page(request: HttpRequest) -> HttpResponse:
    revoked = services.login_sessions_revoke_others(
        user=page_user(request),
        keep_session_key=request.session.session_key,
        actor=actor_from_request(request),
    )
    messages.success(request, f"Logged out {revoked} other session{'s' if revoked != 1 else ''}.")
    return redirect("accounts:sessions")


def _wait_described(seconds: float) -> str:
    if seconds < 60:
        whole = max(1, math.ceil(seconds))
        return f"{whole} second{'s' if whole != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class EmailPage(allauth_views.EmailView):
    """allauth's email page. A "Resend the link" that allauth's cooldown holds back does
    nothing visible there; here it says one was just sent and when another can be."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        held_back = None
        if "action_send" in request.POST:
            address = EmailAddress.objects.filter(
                user_id=request.user.pk, email__iexact=request.POST.get("email", "")
            ).first()
            if address is not None and not address.verified:
                next_at = allauth.verification_email_next_at(request, email=address.email)
                held_back = (address.email, next_at) if next_at else None
        response: HttpResponse = super().post(request, *args, **kwargs)
        if held_back is not None:
            email, next_at = held_back
            wait = _wait_described((next_at - timezone.now()).total_seconds())
            at = date_format(timezone.localtime(next_at), "H:i T")
            messages.info(
                request,
                f"We just sent a verification link to {email}: check your inbox and spam "
                f"folder. You can ask for another in {wait} (at {at}).",
            )
        return response


class EmailConfirmPage(allauth_views.ConfirmEmailView):
    """allauth's confirmation page. A link already used says the address is verified,
    instead of "expired or invalid" (see `allauth.verified_address_for_confirmation_key`)."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        if not self.object:
            context["verified_address"] = allauth.verified_address_for_confirmation_key(
                self.kwargs["key"]
            )
        return context

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response: HttpResponse = super().post(*args, **kwargs)
        except Http404:
            if allauth.verified_address_for_confirmation_key(self.kwargs["key"]) is None:
                raise
            self.object = None
            return self.render_to_response(self.get_context_data())
        return response


ACTIVITY_PAGE_SIZE = 50


@login_required
def activity_page(request: HttpRequest) -> HttpResponse:
    customer = selectors.customer_for_user(user=page_user(request))
    verb = request.GET.get("verb") or None
    if verb not in ActivityVerb.values:
        verb = None
    paginator = Paginator(selectors.activity_list(customer=customer, verb=verb), ACTIVITY_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/activity.html",
        {"page": page, "verb": verb, "verbs": ActivityVerb.choices, "section": "activity"},
    )
