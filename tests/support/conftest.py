from contextlib import contextmanager

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from catalog.services import catalog_seed_file_load
from cloudportal.celery import app as celery_app
from deployments import services as deployment_services
from tests.accounts.factories import PASSWORD, SshKeyFactory, VerifiedUserFactory
from tests.billing.conftest import fund

# The smallest valid PNG: signature, IHDR, IDAT, IEND (1x1 transparent pixel).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cf00000301010018dd8db40000000049454e44ae426082"
)


def png(name: str = "screenshot.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def log(name: str = "boot.log", text: str = "kernel: nvidia-smi: GPU 0 fell off the bus\n"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/plain")


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Attachments land in a fresh folder per test, through the storage API."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SUPPORT_STAFF_EMAIL = "support-team@example.com"
    settings.PORTAL_BASE_URL = "https://portal.example.com"


@pytest.fixture
def customer(db):
    return VerifiedUserFactory().customer


@pytest.fixture
def other_customer(db):
    return VerifiedUserFactory().customer


@pytest.fixture
def api(customer) -> APIClient:
    client = APIClient()
    client.force_login(customer.user)
    return client


@pytest.fixture
def browser(customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("agent@example.com", PASSWORD)


@pytest.fixture
def staff_browser(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def deployment_of(db):
    """Launches a deployment for a customer through the deployments service (provisioning
    is queued after commit, which these tests never reach)."""
    catalog_seed_file_load()

    def launch(customer, name: str = "trainer-1"):
        key = SshKeyFactory(customer=customer)
        fund(customer)  # a launch reserves an hour of the machine's price
        return deployment_services.deployment_create(
            customer=customer,
            name=name,
            region="eu-central-1",
            instance_type="h100-1x",
            image="ubuntu-24.04-cuda-12.8",
            ssh_key_ids=[key.public_id],
        )

    return launch


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Runs what a block schedules after commit, with its Celery tasks executed in-process
    (the email tasks), as a worker would."""

    @contextmanager
    def run():
        celery_app.conf.task_always_eager = True
        celery_app.conf.task_eager_propagates = True
        try:
            with django_capture_on_commit_callbacks(execute=True):
                yield
        finally:
            celery_app.conf.task_always_eager = False
            celery_app.conf.task_eager_propagates = False

    return run
