"""Shared by the endpoint-wide tests: a customer with one of everything, the URL conf."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver
from django.utils import timezone
from rest_framework.test import APIClient

from billing import invoices
from billing import services as billing_services
from catalog.services import catalog_seed_file_load
from deployments import services as deployment_services
from support import services as support_services
from tests.accounts.factories import SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import fund, top_up


@pytest.fixture
def world(db):
    """A customer with one of everything a path can name, and the API document."""
    catalog_seed_file_load()
    user = VerifiedUserFactory()
    ssh_key = SshKeyFactory(customer=user.customer)
    fund(user.customer)
    deployment = deployment_services.deployment_create(
        customer=user.customer,
        name="trainer-1",
        region="eu-central-1",
        instance_type="h100-1x",
        image="ubuntu-24.04-cuda-12.8",
        ssh_key_ids=[ssh_key.public_id],
    )
    ticket = support_services.ticket_create(
        customer=user.customer, author=user, subject="GPU missing", body="nvidia-smi is empty"
    )
    # Last month's usage and a top-up: an invoice and a receipt to name.
    last_month = (timezone.now().replace(day=1) - timedelta(days=1)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    billing_services.usage_charge_post(
        customer=user.customer,
        subject=deployment.public_id,
        label=deployment.name,
        component="compute",
        window_start=last_month,
        seconds=60,
        rate=Decimal("2.50"),
        amount=41_667,
    )
    invoice = invoices.invoice_issue(customer=user.customer, period_start=last_month.date())
    receipt = invoices.receipt_issue(txn=top_up(user.customer, 50_000_000, key="world:topup"))
    client = APIClient()
    client.force_login(user)
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/json"}).json()
    ids = {
        "deployment_id": deployment.public_id,
        "ticket_id": ticket.public_id,
        "ssh_key_id": ssh_key.public_id,
        "slug": "eu-central-1",
        "invoice_id": invoice.public_id,
        "receipt_id": receipt.public_id,
    }
    return client, schema, ids


def url_routes(patterns, prefix=""):
    """The project's routes; Django's admin has its own (staff-only) rules."""
    for entry in patterns:
        if str(entry.pattern) == "admin/":
            continue
        if isinstance(entry, URLResolver):
            yield from url_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)
