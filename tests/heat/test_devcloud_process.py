"""devcloud as a process: its state survives a restart; it refuses production settings."""

import os
import subprocess
import sys

import requests

from heat import adapter
from heat.devcloud.clouds_yaml import write_clouds_yaml
from tests.devcloud import ROOT, start_devcloud, stop_devcloud


def test_a_restarted_devcloud_still_has_its_stacks(
    cloud, tmp_path, settings, gpu_template, gpu_parameters
):
    state = tmp_path / "devcloud.json"
    process, url = start_devcloud(state)
    try:
        settings.OPENSTACK_CLOUDS_YAML = str(write_clouds_yaml(tmp_path / "clouds.yaml", url))
        region = adapter.RegionRef(cloud="devcloud", region="RegionTwo")
        ref = adapter.stack_create(
            region=region, name="dep-restart", template=gpu_template,
            parameters=gpu_parameters, tags=["portal"], timeout_minutes=30,
        )  # fmt: skip
        requests.post(f"{url}/_devcloud/clock", json={"advance": 60}, timeout=5)
    finally:
        stop_devcloud(process)

    process, url = start_devcloud(state)
    try:
        settings.OPENSTACK_CLOUDS_YAML = str(write_clouds_yaml(tmp_path / "clouds.yaml", url))
        stack = adapter.stack_get(region=region, stack=ref)
    finally:
        stop_devcloud(process)

    assert stack.status == "CREATE_COMPLETE"
    assert stack.output_values["public_ip"].startswith("203.0.113.")


def test_devcloud_refuses_to_start_without_debug(unused_tcp_port):
    environment = {**os.environ, "DJANGO_DEBUG": "false"}

    result = subprocess.run(
        [sys.executable, "-m", "heat.devcloud", "--port", str(unused_tcp_port)],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip

    assert result.returncode != 0
    assert "starts only with DJANGO_DEBUG=true" in result.stderr
