import pytest
from rest_framework.test import APIClient

from catalog.services import catalog_seed_file_load
from deployments import reconciler
from deployments.models import Deployment
from tests.accounts.factories import SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import fund


@pytest.fixture
def catalog(db):
    catalog_seed_file_load()


@pytest.fixture
def customer(db):
    customer = VerifiedUserFactory().customer
    fund(customer)  # a launch reserves an hour of the machine's price
    return customer


@pytest.fixture
def ssh_key(customer):
    return SshKeyFactory(customer=customer)


@pytest.fixture
def client(customer) -> APIClient:
    client = APIClient()
    client.force_login(customer.user)
    return client


@pytest.fixture
def spec(ssh_key) -> dict:
    return {
        "name": "trainer-1",
        "region": "eu-central-1",
        "instance_type": "h100-1x",
        "image": "ubuntu-24.04-cuda-12.8",
        "storage_profile": "nvme-ssd",
        "volume_size_gb": 200,
        "ssh_keys": [ssh_key.public_id],
    }


@pytest.fixture
def launch(client, spec, catalog, cloud):
    """POST a deployment as the customer; returns the Deployment row."""

    def launch(**overrides) -> Deployment:
        response = client.post("/api/v1/deployments", {**spec, **overrides})
        assert response.status_code == 201, response.json()
        return Deployment.objects.get(public_id=response.json()["id"])

    return launch


@pytest.fixture
def reconcile(cloud):
    """One reconciler cycle, as beat would run it."""

    def reconcile():
        return reconciler.regions_reconcile()

    return reconcile


def refreshed(deployment: Deployment) -> Deployment:
    deployment.refresh_from_db()
    return deployment
