"""Helpers for the scale-out tests: the shared PostgreSQL + Redis backends, and the separate worker
processes of a deployment past one machine (`manage.py runworker netcall-recorder`, `manage.py netcall_jobs`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from recording.testing.server import postgres_database, stop_process
from tests.support.paths import REPO_ROOT

POSTGRES_URL = os.environ.get("NETCALL_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("NETCALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def require_redis() -> None:
    """Skip without Redis on 6379 — but fail in CI, whose machines run it."""
    _require(_reachable(6379), "these tests need Redis on 6379")


def require_postgres_and_redis() -> None:
    """Skip without PostgreSQL on 5432 and Redis on 6379 — but fail in CI, whose machines run both."""
    _require(_reachable(5432) and _reachable(6379), "scale-out tests need PostgreSQL on 5432 and Redis on 6379")


def _require(present: bool, message: str) -> None:
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(message + " (CI machines run PostgreSQL and Redis)")
    pytest.skip(message)


@contextmanager
def shared_backends_env() -> Iterator[dict[str, str]]:
    """The environment of one deployment: a fresh PostgreSQL database (dropped afterwards) and a Redis
    channel layer under a prefix of its own."""
    require_postgres_and_redis()
    database_url, drop_database = postgres_database(POSTGRES_URL)
    try:
        yield {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "NETCALL_REDIS_PREFIX": f"netcall-e2e-{uuid.uuid4().hex[:8]}",
        }
    finally:
        drop_database()


@dataclass
class ManagedProcess:
    """A `manage.py` command running in the background (a worker), its output in `log_path`."""

    args: Sequence[str]
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def assert_running(self) -> None:
        code = self.process.poll()
        assert code is None, f"manage.py {' '.join(self.args)} exited with {code}:\n{self.log_text()[-5000:]}"

    def stop(self) -> None:
        stop_process(self.process)


def start_manage(args: Sequence[str], *, env: Mapping[str, str], log_path: Path) -> ManagedProcess:
    """Start `manage.py ARGS` (e.g. `runworker netcall-recorder`) with a server's environment."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return ManagedProcess(list(args), log_path, process)


def log_sections(processes: Mapping[str, Callable[[], str]]) -> str:
    """Every process's log, for an assertion message."""
    return "\n".join(f"--- {name} ---\n{text()[-6000:]}" for name, text in processes.items())
