import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing():
    """The real processes verify passwords with the real hashers, so tests must store those."""
