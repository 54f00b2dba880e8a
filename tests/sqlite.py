"""Running a snippet against a fresh SQLite database: `make run`'s zero-setup default.

The suite runs on PostgreSQL; code whose SQL or error handling differs by database gets a
test through this (a subprocess, since Django configures one default database per process).
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRELUDE = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", *{apps!r}, verbosity=0)
"""


def run_on_sqlite(tmp_path: Path, script: str, *, app: str | None = None) -> list[str]:
    """Migrate `app` (and what it depends on; every app when None), run `script`; returns
    its printed lines."""
    result = subprocess.run(
        [sys.executable, "-c", PRELUDE.format(apps=[app] if app else []) + script],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "DJANGO_DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "cloudportal.settings",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()
