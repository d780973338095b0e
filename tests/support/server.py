"""A real server in a subprocess, started as `make run` starts it (`python -m netcall_site.serve`: uvicorn),
for the end-to-end tests. The names `start_daphne` / `DaphneServer` are the ones the tests have always used;
`start_daphne(..., server="daphne")` starts stock Daphne instead, for benchmarks that compare the two."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET_KEY = "netcall-e2e-test-secret-key-not-for-production-4f1c2a9b7d"
BASE_ENV: dict[str, str] = {
    "NETCALL_SECRET_KEY": TEST_SECRET_KEY,
    "DEBUG": "1",
    "NETCALL_GUEST_MODE": "1",
    "PYTHONUNBUFFERED": "1",
}
START_TIMEOUT = 60.0


class ServerStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DaphneServer:
    """A running server: `url` is the base URL without a trailing slash."""

    url: str
    port: int
    env: dict[str, str]
    db_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    drop_database: Callable[[], None] | None = field(default=None, repr=False)
    server: str = "netcall"

    def log_text(self, *, since: int = 0) -> str:
        """The server's stdout+stderr, from byte offset `since`."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(since)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def manage(self, *args: str, timeout: float = 60.0) -> str:
        """Run `manage.py ARGS` with the server's environment (same database and secret)."""
        return _manage(args, env=self.env, timeout=timeout)

    def mint_token(
        self,
        account: str,
        channel: str,
        *,
        ttl: int | None = None,
        grants: Sequence[str] = ("publish",),
    ) -> str:
        """A join token the server accepts (minted by the netcall_token command), granting `grants`:
        ask for `record`, `upload` or `live` where the test needs them, as an application would."""
        args = ["netcall_token", "--account", account, "--channel", channel, "--grants", ",".join(grants)]
        if ttl is not None:
            args += ["--ttl", str(ttl)]
        return self.manage(*args).strip().splitlines()[-1].strip()

    def room_url(self, channel: str, account: str, *, type: str | None = None) -> str:
        from urllib.parse import quote, urlencode

        query = {"account": account}
        if type is not None:
            query["type"] = type
        return f"{self.url}/room/{quote(channel, safe='')}/?{urlencode(query)}"

    def wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.url + "/"):
            if self.process.poll() is not None:
                raise ServerStartError(f"the server exited with {self.process.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"the server did not answer GET / within {START_TIMEOUT:.0f} s:\n{self.log_text()}"
                )
            time.sleep(0.1)  # polling interval, not a wait for a condition

    def restart(self) -> None:
        """Kill the process (no graceful shutdown, like a crash) and start a new one on the same port."""
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = _launch(self.port, self.env, self.log_path, self.server)
        self.wait_until_answering()

    def stop(self) -> None:
        stop_process(self.process)
        if self.drop_database is not None:
            self.drop_database()


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate politely, then kill if it does not go within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _manage(args: Sequence[str], *, env: Mapping[str, str], timeout: float) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise ServerStartError(
            f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def _server_env(db_path: Path, extra_env: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(BASE_ENV)
    env["NETCALL_DB_PATH"] = str(db_path)
    env.update({k: str(v) for k, v in extra_env.items()})
    return env


def postgres_database(url: str) -> tuple[str, Callable[[], None]]:
    """Create a fresh database on the PostgreSQL server `url` points at; return its URL and a dropper."""
    import uuid

    import psycopg

    base, _, _ = url.rpartition("/")
    name = f"netcall_e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def _private_postgres_database(env: dict[str, str]) -> Callable[[], None] | None:
    """When the suite runs against PostgreSQL (DATABASE_URL), give each server a fresh database of its own,
    never the one DATABASE_URL names; returns the function that drops it."""
    url = env.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None
    env["DATABASE_URL"], drop = postgres_database(url)
    return drop


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            response.read()
        return True
    except urllib.error.HTTPError:
        return True  # it answered, if not happily; the tests will say what is wrong
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def server_command(port: int, server: str = "netcall") -> list[str]:
    """The command line of the server: the one `make run` uses, or (for comparisons) stock Daphne, or the
    same server on the bare upload app of bench/bare_upload.py (`server="bare"`, a benchmark's ceiling)."""
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "netcall_site.asgi:application"]
    serve = [sys.executable, "-m", "netcall_site.serve", "--host", "127.0.0.1", "--port", str(port)]
    return [*serve, "--app", "bench.bare_upload:application"] if server == "bare" else serve


def _launch(port: int, env: Mapping[str, str], log_path: Path, server: str = "netcall") -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            server_command(port, server),
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def start_daphne(workdir: Path, extra_env: Mapping[str, str] | None = None, *, server: str = "netcall") -> DaphneServer:
    """Migrate a fresh SQLite database in `workdir`, start the server on a free port, wait for `GET /`."""
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "netcall.sqlite3"
    log_path = workdir / "daphne.log"
    env = _server_env(db_path, extra_env or {})
    drop_database = None if "DATABASE_URL" in (extra_env or {}) else _private_postgres_database(env)
    _manage(["migrate", "--noinput"], env=env, timeout=120)
    port = free_port()
    started = DaphneServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        env=env,
        db_path=db_path,
        log_path=log_path,
        process=_launch(port, env, log_path, server),
        drop_database=drop_database,
        server=server,
    )
    started.wait_until_answering()
    logger.info("DaphneServer(%s) started (%s), log %s", started.url, server, log_path)
    return started


# A fixture that starts (or reuses) a server with extra environment variables (tests/e2e/conftest.py).
ServerFactory = Callable[..., "DaphneServer"]
