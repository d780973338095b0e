"""The embedded default's SQLite database: WAL journal, synchronous=FULL unless NETCALL_SQLITE_SYNCHRONOUS says
NORMAL, and a bad value reported by `manage.py check` (netcall.E004) rather than passed to SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parent.parent
PRAGMAS = (
    "from django.db import connection; c = connection.cursor(); "
    "print(c.execute('PRAGMA journal_mode').fetchone()[0], c.execute('PRAGMA synchronous').fetchone()[0])"
)


def _embedded(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NETCALL_", "DJANGO_", "DATABASE_"))}
    clean |= {"NETCALL_SECRET_KEY": "x" * 60, "NETCALL_DB_PATH": str(tmp_path / "db.sqlite3"), **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=clean, capture_output=True, text=True, check=False
    )


@pytest.mark.django_db
def test_the_test_database_runs_as_the_embedded_default_does() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("DATABASE_URL names another database")
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: a commit syncs the WAL


@pytest.mark.parametrize(("value", "level"), [("", "2"), ("full", "2"), ("NORMAL", "1"), (" normal ", "1")])
def test_synchronous_is_full_unless_normal_is_asked_for(tmp_path: Path, value: str, level: str) -> None:
    result = _embedded(tmp_path, "shell", "--no-imports", "-c", PRAGMAS, NETCALL_SQLITE_SYNCHRONOUS=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", level]


def test_a_bad_synchronous_level_is_reported_and_full_is_used(tmp_path: Path) -> None:
    check = _embedded(tmp_path, "check", NETCALL_SQLITE_SYNCHRONOUS="off")
    assert check.returncode != 0
    assert "netcall.E004" in check.stderr and "'OFF'" in check.stderr
    shell = _embedded(tmp_path, "shell", "--no-imports", "-c", PRAGMAS, NETCALL_SQLITE_SYNCHRONOUS="off")
    assert shell.stdout.split() == ["wal", "2"]
