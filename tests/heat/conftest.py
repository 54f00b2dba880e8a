"""Fixtures of the heat tests; devcloud itself comes from tests/devcloud.py."""

from pathlib import Path

import pytest

from heat.rendering import hot_parse

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def gpu_template() -> dict:
    """heat-protocol.md §5's Linux/Windows GPU VM template, as the library will ship it."""
    return hot_parse((FIXTURES / "linux-gpu-vm.yaml").read_text())


@pytest.fixture
def gpu_parameters() -> dict:
    return {
        "image": "ubuntu-24.04",
        "flavor": "g1.a100x1",
        "private_network": "private",
        "public_network": "public",
        "deployment_id": "dep_01JDEVCLOUD",
        "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDevcloud user@example",
        "volume_size": 100,
    }
