"""The documented deployment settings pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_documented_deployment_passes_check_deploy() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETCALL_", "DJANGO_"))}
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


def test_missing_secret_is_reported_not_crashed() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETCALL_", "DJANGO_"))}
    env["DEBUG"] = "0"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "NETCALL_SECRET_KEY" in result.stderr + result.stdout
