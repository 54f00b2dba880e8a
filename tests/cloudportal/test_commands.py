"""The commands `make run` relies on."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

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
