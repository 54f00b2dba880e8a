"""The commands `make run` relies on."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import User

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_dev_superuser_is_created_once_and_its_login_printed(settings, tmp_path, capsys):
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path

    call_command("ensure_dev_superuser")
    call_command("ensure_dev_superuser")

    output = capsys.readouterr().out.splitlines()
    password = (tmp_path / "dev-superuser.txt").read_text()
    assert (
        output
        == [
            f"Development superuser: admin@localhost / {password} (admin at http://127.0.0.1:8000/admin/)"
        ]
        * 2
    )
    admin = User.objects.get()
    assert admin.is_superuser
    assert admin.check_password(password)
    assert admin.customer.public_id.startswith("cus_")
    assert admin.emailaddress_set.get().verified


@pytest.mark.django_db
def test_dev_superuser_is_refused_with_debug_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG off"):
        call_command("ensure_dev_superuser")

    assert not User.objects.exists()


def test_make_run_explains_how_to_get_redis_when_none_answers_and_none_is_installed(
    tmp_path, unused_tcp_port
):
    env = {
        "PATH": str(tmp_path),  # no redis-server on it
        "REDIS_URL": f"redis://127.0.0.1:{unused_tcp_port}/0",
        "HOME": str(tmp_path),
    }

    result = subprocess.run(
        [sys.executable, str(ROOT / "bin" / "run")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert f"No Redis answered at redis://127.0.0.1:{unused_tcp_port}/0." in result.stdout
    assert "apt-get install redis-server" in result.stderr
    assert "set REDIS_URL" in result.stderr


@pytest.mark.django_db
def test_dev_superuser_address_is_verified_even_when_it_existed_unverified(settings, tmp_path):
    from allauth.account.models import EmailAddress

    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    user = User.objects.create_superuser("admin@localhost", "x")
    EmailAddress.objects.create(user=user, email="admin@localhost", verified=False, primary=True)

    call_command("ensure_dev_superuser")

    assert EmailAddress.objects.get(email="admin@localhost").verified is True


def test_make_checks_creates_its_database_before_django_looks_for_it():
    url = "postgres://postgres@127.0.0.1:5432/cloudportal_checks_probe"

    planned = subprocess.run(
        ["make", "--dry-run", "checks", f"TEST_DATABASE_URL={url}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()

    commands = [line for line in planned if "manage.py" in line or "ensure-database" in line]
    assert "bin/ensure-database" in commands[0]
    assert f"DATABASE_URL={url}" in commands[0]
    assert all("manage.py" in command for command in commands[1:])


def test_ensure_database_creates_a_missing_database_so_django_finds_it():
    import psycopg

    database = connection.settings_dict
    server = f"{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    name = f"cloudportal_probe_{uuid.uuid4().hex[:12]}"
    admin_url = f"postgres://{database['USER']}{password}@{server}/postgres"
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": f"postgres://{database['USER']}{password}@{server}/{name}",
    }
    try:
        created = subprocess.run(
            [sys.executable, "bin/ensure-database"], cwd=ROOT, env=env, capture_output=True,
            text=True, check=True,
        )  # fmt: skip
        again = subprocess.run(
            [sys.executable, "bin/ensure-database"], cwd=ROOT, env=env, capture_output=True,
            text=True, check=True,
        )  # fmt: skip
        migrations = subprocess.run(
            [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')

    assert created.stdout == f"Created database {name}.\n"
    assert again.stdout == ""
    assert "does not exist" not in migrations.stderr
    assert migrations.stdout == "No changes detected\n"
