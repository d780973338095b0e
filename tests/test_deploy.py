"""The documented deployment settings pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


# README, "Deployment past one machine": what every process of a multi-process deployment gets.
SCALE_OUT_ENV = {
    "DATABASE_URL": "postgres://netcall@db.internal:5432/netcall",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "NETCALL_RECORDER_IN_PROCESS": "0",
    "NETCALL_JOBS_IN_PROCESS": "0",
    "NETCALL_SERVE_STATIC": "0",
    "NETCALL_PUBLIC_URL": "https://call.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://call.example.org",
}


@pytest.mark.parametrize("extra", [{}, SCALE_OUT_ENV], ids=["one-process", "scale-out"])
def test_documented_deployment_passes_check_deploy(extra: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETCALL_", "DJANGO_", "DATABASE_", "REDIS_"))}
    env.update(extra)
    env.update(
        {
            "DEBUG": "0",
            "NETCALL_SECRET_KEY": "x" * 60 + "a-long-random-deployment-secret",
            "ALLOWED_HOSTS": "call.example.org",
            "NETCALL_SSL_REDIRECT": "1",
            "NETCALL_HSTS_SECONDS": "31536000",
            "NETCALL_HSTS_INCLUDE_SUBDOMAINS": "1",
            "NETCALL_HSTS_PRELOAD": "1",
            "NETCALL_BEHIND_TLS_PROXY": "1",
            "NETCALL_PUBLIC_URL": "https://call.example.org",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_key_that_can_be_neither_set_nor_made_is_reported_not_crashed(tmp_path: Path) -> None:
    unwritable = tmp_path / "no-such-dir"
    unwritable.write_text("a file where a directory should be")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETCALL_", "DJANGO_"))}
    env.update({"DEBUG": "0", "NETCALL_SECRET_KEY_FILE": str(unwritable / "secret_key")})
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "netcall.E001" in result.stderr + result.stdout


def test_without_a_set_key_one_is_made_once_and_check_deploy_says_so(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "secret_key"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETCALL_", "DJANGO_"))}
    env.update({"DEBUG": "0", "NETCALL_SECRET_KEY_FILE": str(key_file)})
    first = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert "netcall.W002" in first.stderr + first.stdout
    key = key_file.read_text().strip()
    assert len(key) >= 50 and key_file.stat().st_mode & 0o077 == 0  # random, and readable by its owner only
    subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, check=True)
    assert key_file.read_text().strip() == key  # made once, then kept


def test_recorder_workers_elsewhere_need_a_shared_channel_layer() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETCALL_", "DJANGO_", "DATABASE_", "REDIS_"))}
    env.update({"DEBUG": "1", "NETCALL_RECORDER_IN_PROCESS": "0"})
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "netcall.E010" in result.stderr + result.stdout
