"""devcloud for every test that needs a cloud: one real process per session, reset per test.

`devcloud` (session) runs `python -m heat.devcloud` on a free port with a frozen clock, so
stacks move only when a test advances it. `cloud` (function) resets devcloud, points the
portal's settings at its clouds.yaml and returns the RegionRef to call.
"""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from heat.adapter import RegionRef
from heat.devcloud.clouds_yaml import write_clouds_yaml

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # openstacksdk's own deprecation notices about its internals, not about our calls.
    config.addinivalue_line("filterwarnings", "ignore::openstack.warnings.RemovedInSDK50Warning")
    config.addinivalue_line("filterwarnings", "ignore::openstack.warnings.RemovedInSDK60Warning")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Devcloud:
    url: str
    clouds_yaml: Path
    process: subprocess.Popen

    def control(self, method: str, path: str, json=None) -> dict:
        response = requests.request(method, f"{self.url}/_devcloud/{path}", json=json, timeout=10)
        response.raise_for_status()
        return response.json()

    def advance(self, seconds: float) -> None:
        self.control("POST", "clock", {"advance": seconds})

    def faults(self, **faults) -> None:
        self.control("POST", "faults", faults)

    def token_requests(self) -> int:
        return self.control("GET", "requests")["token_requests"]

    def requests(self, method: str | None = None, path_contains: str = "") -> list[dict]:
        """Requests devcloud answered, except 401s (a reset devcloud forgets its tokens)."""
        return [
            entry
            for entry in self.control("GET", "requests")["requests"]
            if (method is None or entry["method"] == method)
            and path_contains in entry["path"]
            and entry["status"] != 401
        ]


def start_devcloud(state: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "heat.devcloud", "--port", str(port), "--state", str(state),
         "--frozen-clock", *extra],
        cwd=ROOT,
        env={**os.environ, "DJANGO_DEBUG": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/v3", timeout=1)
            return process, url
        except requests.ConnectionError:
            if process.poll() is not None:
                break
            time.sleep(0.05)  # waiting for the server to listen, not for work
    process.kill()
    raise RuntimeError("devcloud did not start")


def stop_devcloud(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def devcloud(tmp_path_factory):
    directory = tmp_path_factory.mktemp("devcloud")
    process, url = start_devcloud(directory / "devcloud.json")
    clouds_yaml = write_clouds_yaml(
        directory / "clouds.yaml", url, application_credential_cloud=True
    )
    yield Devcloud(url=url, clouds_yaml=clouds_yaml, process=process)
    stop_devcloud(process)


@pytest.fixture
def cloud(devcloud, settings) -> RegionRef:
    """A clean devcloud, the portal pointed at it, quick retries; RegionOne of `devcloud`."""
    devcloud.control("POST", "reset")
    settings.OPENSTACK_CLOUDS_YAML = str(devcloud.clouds_yaml)
    settings.OPENSTACK_API_TIMEOUT = 5.0
    settings.OPENSTACK_RETRY_BUDGET = 2.0
    settings.OPENSTACK_RETRY_BASE_DELAY = 0.01
    settings.OPENSTACK_RETRY_MAX_DELAY = 0.05
    return RegionRef(cloud="devcloud", region="RegionOne")
