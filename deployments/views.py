"""Deployment pages: list, create (with a live price), detail and delete.

The detail page renders the REST detail (`DeploymentOutput`) so the page, the API and
the WebSocket push show the same values; its DOM hooks are documented in the template.
"""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors as accounts_selectors
from accounts.activity import actor_from_request
from accounts.exceptions import EmailUnverified
from accounts.models import Customer, User
from catalog import selectors as catalog_selectors
from catalog.exceptions import CatalogChoiceNotOffered
from catalog.pricing import PriceQuote
from cloudportal.exceptions import DomainError
from cloudportal.forms import form_add_domain_error
from deployments import selectors, services
from deployments.api.serializers import DeploymentOutput
from deployments.exceptions import DeploymentInsufficientBalance
from deployments.forms import SERVICE_FIELD_NAMES, DeploymentCreateForm

LIST_PAGE_SIZE = 50


def page_user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required ran first
    return request.user


def page_customer(request: HttpRequest) -> Customer:
    return accounts_selectors.customer_for_user(user=page_user(request))


@login_required
@require_GET
def deployment_list_page(request: HttpRequest) -> HttpResponse:
    customer = page_customer(request)
    include_deleted = request.GET.get("include_deleted") == "true"
    deployments = selectors.deployment_list(customer=customer, include_deleted=include_deleted)
    page_obj = Paginator(deployments, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "deployments/list.html",
        {
            "page_obj": page_obj,
            "include_deleted": include_deleted,
            "live_usage": selectors.deployment_live_usage(customer=customer),
            "section": "deployments",
        },
    )


def _price_of(choices: dict[str, Any]) -> PriceQuote | None:
    """The server-rendered price of the current choices; the script keeps it live."""
    try:
        return catalog_selectors.deployment_spec_resolve(**choices).price
    except CatalogChoiceNotOffered:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def deployment_create_page(request: HttpRequest) -> HttpResponse:
    user = page_user(request)
    customer = accounts_selectors.customer_for_user(user=user)
    ssh_keys = list(accounts_selectors.ssh_key_list(customer=customer))
    form = DeploymentCreateForm(
        request.POST if request.method == "POST" else None,
        offers=catalog_selectors.offer_list(),
        ssh_keys=ssh_keys,
    )
    top_up_url = None
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        storage_profile = values["storage_profile"] or None
        try:
            deployment = services.deployment_create(
                customer=customer,
                actor=actor_from_request(request),
                name=values["name"],
                region=values["region"],
                instance_type=values["instance_type"],
                image=values["image"],
                storage_profile=storage_profile,
                volume_size_gb=values["volume_size_gb"] if storage_profile else None,
                ssh_key_ids=values["ssh_keys"],
            )
        except EmailUnverified as error:
            form.add_error(None, error.detail)
        except DeploymentInsufficientBalance as error:
            form.add_error(None, error.detail)
            top_up_url = error.top_up_url
        except DomainError as error:
            form_add_domain_error(form, error, field_names=SERVICE_FIELD_NAMES)
        else:
            messages.success(
                request, f"Launching '{deployment.name}'. This page follows its progress."
            )
            return redirect("deployments:deployment-detail", deployment_id=deployment.public_id)
    return render(
        request,
        "deployments/create.html",
        {
            "form": form,
            "has_ssh_keys": bool(ssh_keys),
            "email_verified": accounts_selectors.email_is_verified(user=user),
            "live_usage": selectors.deployment_live_usage(customer=customer),
            "price": _price_of(form.choices()),
            "system_disk_gb": settings.SYSTEM_DISK_GB,
            "top_up_url": top_up_url,
            "section": "deployments",
        },
    )


@login_required
@require_GET
def deployment_detail_page(request: HttpRequest, deployment_id: str) -> HttpResponse:
    deployment = selectors.deployment_get(customer=page_customer(request), public_id=deployment_id)
    return render(
        request,
        "deployments/detail.html",
        {
            "deployment": deployment,
            "detail": DeploymentOutput(deployment).data,
            "events": selectors.deployment_event_list(deployment=deployment),
            "can_delete": selectors.deployment_can_request_delete(deployment=deployment),
            "deletable_statuses": " ".join(selectors.deployment_deletable_statuses()),
            "low_balance_grace_hours": settings.DEPLOYMENTS_LOW_BALANCE_GRACE_HOURS,
            "section": "deployments",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_delete_page(request: HttpRequest, deployment_id: str) -> HttpResponse:
    deployment = selectors.deployment_get(customer=page_customer(request), public_id=deployment_id)
    if request.method == "POST":
        try:
            services.deployment_request_delete(
                deployment=deployment, actor=actor_from_request(request)
            )
        except DomainError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, f"Deleting '{deployment.name}'.")
        return redirect("deployments:deployment-detail", deployment_id=deployment.public_id)
    return render(
        request,
        "deployments/delete.html",
        {
            "deployment": deployment,
            "can_delete": selectors.deployment_can_request_delete(deployment=deployment),
            "section": "deployments",
        },
    )


@login_required
@require_POST
def deployment_stop_page(request: HttpRequest, deployment_id: str) -> HttpResponse:
    deployment = selectors.deployment_get(customer=page_customer(request), public_id=deployment_id)
    try:
        services.deployment_request_stop(deployment=deployment, actor=actor_from_request(request))
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Stopping '{deployment.name}'. Its disks are kept.")
    return redirect("deployments:deployment-detail", deployment_id=deployment.public_id)


@login_required
@require_POST
def deployment_start_page(request: HttpRequest, deployment_id: str) -> HttpResponse:
    deployment = selectors.deployment_get(customer=page_customer(request), public_id=deployment_id)
    try:
        services.deployment_request_start(deployment=deployment, actor=actor_from_request(request))
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Starting '{deployment.name}'.")
    return redirect("deployments:deployment-detail", deployment_id=deployment.public_id)
