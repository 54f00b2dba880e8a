"""Production settings: secure by default, and refusing to start without their secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "q8Zr4-production-like-secret-6vKp2mWx9TgY3nBs7LdE5hJc1uFa0oRi",
    "DJANGO_ALLOWED_HOSTS": "portal.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://portal.example.com",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
    "STRIPE_SECRET_KEY": "sk_test_placeholder",
    "STRIPE_WEBHOOK_SECRETS": "whsec_placeholder",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "STRIPE_"))
    }
    clean.pop("EMAIL_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_check_deploy_without_warnings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_off_without_secret_key_refuses_to_start_naming_the_variable():
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != "DJANGO_SECRET_KEY"}

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert "Set the DJANGO_SECRET_KEY environment variable" in result.stderr
    assert "Traceback" in result.stderr  # ImproperlyConfigured, raised while importing settings


def test_debug_off_without_stripe_keys_refuses_to_start_naming_them():
    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRETS"):
        env = {key: value for key, value in PRODUCTION_ENV.items() if key != name}

        result = run_manage("check", env=env)

        assert result.returncode != 0
        assert f"Set {name}" in result.stderr or f"Set the {name}" in result.stderr


def test_debug_off_without_database_url_refuses_sqlite():
    env = {**PRODUCTION_ENV}

    result = run_manage("check", env={**env, "DATABASE_URL": ""})

    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_production_logs_are_json_lines():
    code = (
        "import django, json, logging; django.setup(); "
        "logging.getLogger('deployments').warning('deployment.failed', extra={'region': 'eu-1'})"
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}, **PRODUCTION_ENV}
    env["DJANGO_SETTINGS_MODULE"] = "cloudportal.settings"

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )

    import json

    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["event"] == "deployment.failed"
    assert line["level"] == "WARNING"
    assert line["logger"] == "deployments"
    assert line["region"] == "eu-1"
    assert "request_id" in line
    assert "time" in line


def test_unusable_database_url_is_refused_with_an_example():
    result = run_manage("check", env={**PRODUCTION_ENV, "DATABASE_URL": "mysqlish://nope"})

    assert result.returncode != 0
    assert "DATABASE_URL is not a database URL" in result.stderr


def test_the_system_disk_size_and_price_come_from_the_environment():
    show = (
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; "
        "print(s.SYSTEM_DISK_GB, s.SYSTEM_DISK_PRICE_PER_GB_MONTH)",
    )
    env = {"DJANGO_DEBUG": "true"}

    defaults = run_manage(*show, env=env)
    chosen = run_manage(
        *show, env={**env, "SYSTEM_DISK_GB": "80", "SYSTEM_DISK_PRICE_PER_GB_MONTH": "0.08"}
    )
    refused = run_manage("check", env={**env, "SYSTEM_DISK_PRICE_PER_GB_MONTH": "ten cents"})

    assert defaults.stdout.split() == ["100", "0.10"], defaults.stderr
    assert chosen.stdout.split() == ["80", "0.08"], chosen.stderr
    assert refused.returncode != 0
    assert "SYSTEM_DISK_PRICE_PER_GB_MONTH must be a decimal number" in refused.stderr
