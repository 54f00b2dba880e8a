import pytest

from catalog.services import catalog_seed_file_load


@pytest.fixture
def seeded(db):
    """The catalog of catalog/seed/catalog.yaml."""
    return catalog_seed_file_load()


@pytest.fixture
def staff_client(db):
    """A second client, logged in as staff (`api_client` stays anonymous)."""
    from rest_framework.test import APIClient

    from tests.accounts.factories import UserFactory

    client = APIClient()
    client.force_login(UserFactory(is_staff=True))
    return client
