"""The portal's real processes for end-to-end tests: devcloud, web (uvicorn), worker, beat.

They share the test database (tests using them need `django_db(transaction=True)`, so the
data they set up is committed) and the test Redis database. Each process writes its output
to a log file that a failing test prints.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connection

from heat.devcloud.clouds_yaml import write_clouds_yaml
from tests.devcloud import ROOT, free_port

BIN = Path(sys.executable).parent


@dataclass
class Portal:
    url: str
    devcloud_url: str
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def devcloud(self, method: str, path: str, json: dict | None = None) -> dict:
        response = requests.request(
            method, f"{self.devcloud_url}/_devcloud/{path}", json=json, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def all_logs(self) -> str:
        return "\n".join(f"===== {name} =====\n{self.log(name)[-4000:]}" for name in self.processes)


def _wait_for(condition, what: str, portal: Portal, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)  # waiting for a process to come up, not for work
    raise RuntimeError(f"{what} did not come up.\n{portal.all_logs()}")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


@contextmanager
def running_portal(tmp_path: Path, *, extra_env: dict[str, str] | None = None) -> Iterator[Portal]:
    database = connection.settings_dict
    password = f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else ""
    database_url = (
        f"postgres://{database['USER']}{password}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )
    web_port, devcloud_port = free_port(), free_port()
    portal = Portal(
        url=f"http://127.0.0.1:{web_port}",
        devcloud_url=f"http://127.0.0.1:{devcloud_port}",
        logs=tmp_path,
    )
    clouds_yaml = write_clouds_yaml(tmp_path / "clouds.yaml", portal.devcloud_url)
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "OPENSTACK_CLOUDS_YAML": str(clouds_yaml),
        "DJANGO_LOG_FORMAT": "text",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    commands = {
        "devcloud": [
            sys.executable, "-m", "heat.devcloud", "--port", str(devcloud_port),
            "--create-seconds", "0.2", "--delete-seconds", "0.1",
        ],
        "web": [
            str(BIN / "uvicorn"), "cloudportal.asgi:application", "--host", "127.0.0.1",
            "--port", str(web_port), "--lifespan", "off", "--no-proxy-headers",
        ],
        "worker": [
            str(BIN / "celery"), "--app", "cloudportal", "worker", "--loglevel", "INFO",
            "--concurrency", "2", "--without-mingle", "--without-gossip",
        ],
        "beat": [
            str(BIN / "celery"), "--app", "cloudportal", "beat", "--loglevel", "INFO",
            "--schedule", str(tmp_path / "beat-schedule"),
        ],
    }  # fmt: skip
    try:
        for name, command in commands.items():
            log = (tmp_path / f"{name}.log").open("w")
            portal.processes[name] = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _wait_for(lambda: _answers(f"{portal.devcloud_url}/v3"), "devcloud", portal)
        _wait_for(lambda: _answers(f"{portal.url}/healthz"), "web", portal)
        _wait_for(lambda: " ready." in portal.log("worker"), "worker", portal)
        _wait_for(lambda: "beat: Starting" in portal.log("beat"), "beat", portal)
        yield portal
    finally:
        for process in portal.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in portal.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
