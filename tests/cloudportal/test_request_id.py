"""Every response carries X-Request-ID, and the id follows the work into Celery tasks."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/v1/", "/api/v1/nope", "/no-page"])
def test_every_response_has_a_request_id(client, path):
    response = client.get(path)

    assert len(response["X-Request-ID"]) == 32
    assert "X-Request-ID" in response["Access-Control-Expose-Headers"]


def test_a_callers_uuid_request_id_is_kept(client):
    request_id = uuid.uuid4().hex

    response = client.get("/api/v1/", headers={"X-Request-ID": request_id})

    assert response["X-Request-ID"] == request_id


def test_a_request_id_that_is_not_a_uuid_is_replaced(client):
    response = client.get("/api/v1/", headers={"X-Request-ID": "evil\nlog-line"})

    assert response["X-Request-ID"] != "evil\nlog-line"
    assert len(response["X-Request-ID"]) == 32


@pytest.fixture
def celery_worker_process(tmp_path):
    """A real `celery worker` process on its own queue, logging JSON lines to a file."""
    queue = f"test-{uuid.uuid4().hex}"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_LOG_FORMAT": "json",
        "DJANGO_SETTINGS_MODULE": "cloudportal.settings",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "--app", "cloudportal", "worker",
                "--pool", "solo", "--queues", queue, "--include", "tests.cloudportal.urls",
                "--without-mingle", "--without-gossip", "--without-heartbeat", "--loglevel", "INFO",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    yield queue, log_path
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.urls("tests.cloudportal.urls")
def test_request_id_reaches_the_task_a_real_worker_runs(client, celery_worker_process):
    queue, log_path = celery_worker_process
    request_id = uuid.uuid4().hex
    cache_key = f"test-task-{request_id}"

    response = client.post(
        "/api/v1/test/enqueue",
        {"cache_key": cache_key, "queue": queue},
        content_type="application/json",
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 202

    # Wait for the worker process (not for time to pass): it writes what it saw.
    deadline = time.monotonic() + 60
    while cache.get(cache_key) is None and time.monotonic() < deadline:
        time.sleep(0.1)

    assert cache.get(cache_key) == request_id
    task_lines = [
        json.loads(line)
        for line in log_path.read_text().splitlines()
        if line.startswith("{") and "tests.task_ran" in line
    ]
    assert len(task_lines) == 1
    assert task_lines[0]["request_id"] == request_id
    assert task_lines[0]["cache_key"] == cache_key
    assert task_lines[0]["logger"] == "tests.cloudportal.urls"
