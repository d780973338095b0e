"""A real netcall in a subprocess, started as `make run` starts it (`python -m django migrate`, then
`python -m netcall_site.serve`: uvicorn) from wherever `netcall_site` is imported from (a checkout, or the
installed package), on a free port, with its own database, media and upload directories; or the netcall
at `NETCALL_TEST_URL` (`external_server`). `start_server(..., server="daphne")` starts stock Daphne instead,
for benchmarks that compare the two. `DaphneServer` / `start_daphne` are the names netcall's own suite
has always used."""

from __future__ import annotations

import json
import logging
import os
import secrets
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
from urllib.parse import quote, urlencode

logger = logging.getLogger(__name__)

# Where `netcall_site` and `recording` are imported from: a checkout's root, or site-packages.
NETCALL_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = "netcall_site.settings"
DEFAULT_GRANTS = ("publish", "record", "upload")
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


class ServerAPIError(AssertionError):
    """An HTTP API call of the test server answered with an error (its status and body in the message)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NetcallAPI:
    """A netcall reached over HTTP: `url` is the base URL without a trailing slash, `api_key` its
    NETCALL_API_KEY. As is, a netcall this run did not start (`NETCALL_TEST_URL`): `stop()` does nothing."""

    url: str
    api_key: str

    # --- the HTTP API, as a customer's backend uses it ---------------------------------------
    def api(self, method: str, path: str, body: Any = None, *, timeout: float = 30.0) -> Any:
        """Call the backend HTTP API with the API key; the parsed JSON answer (None for an empty one)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ServerAPIError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:2000]!r}") from exc
        return json.loads(raw) if raw else None

    def token(
        self, account: str, channel: str, *, grants: Sequence[str] = DEFAULT_GRANTS, ttl: int | None = 3600
    ) -> str:
        """A join token for `account` in `channel` (`POST /api/tokens`, as your backend mints them)."""
        body: dict[str, Any] = {"account": account, "channel": channel, "grants": list(grants)}
        if ttl is not None:
            body["ttl"] = ttl
        answer = self.api("POST", "/api/tokens", body)
        return str(answer["token"])

    def recordings(self, channel: str, **filters: str) -> list[dict[str, Any]]:
        """The channel's recordings, newest first (`GET /api/recordings?channel=...`)."""
        answer = self.api("GET", "/api/recordings?" + urlencode({"channel": channel, **filters}))
        return list(answer["recordings"])

    def wait_for_recordings(
        self, channel: str, count: int = 1, *, status: str = "ready", timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Poll `recordings(channel)` until `count` of them have `status`; fail naming what there was."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.recordings(channel)
            done = [r for r in found if r.get("status") == status]
            if len(done) >= count:
                return done
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{channel}: expected {count} recording(s) {status!r} within {timeout:.0f} s; "
                    f"found {[(r.get('id'), r.get('status')) for r in found]}"
                )
            time.sleep(0.2)  # polling interval, not a wait for a condition

    def room_url(self, channel: str, account: str, *, type: str | None = None) -> str:
        query = {"account": account}
        if type is not None:
            query["type"] = type
        return f"{self.url}/room/{quote(channel, safe='')}/?{urlencode(query)}"

    def log_size(self) -> int:
        return 0

    def log_text(self, *, since: int = 0) -> str:
        return ""

    def stop(self) -> None:
        """Nothing to stop: this run did not start it."""


@dataclass
class NetcallServer(NetcallAPI):
    """A netcall this run started (`start_server`), with its process, settings, database and log."""

    port: int
    env: dict[str, str]
    db_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    drop_database: Callable[[], None] | None = field(default=None, repr=False)
    server: str = "netcall"
    media_root: Path | None = None

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
        """Run `django-admin ARGS` with the server's environment (same database and secret)."""
        return _manage(args, env=self.env, timeout=timeout)

    def mint_token(
        self,
        account: str,
        channel: str,
        *,
        ttl: int | None = None,
        grants: Sequence[str] = ("publish",),
    ) -> str:
        """A join token the server accepts (over the HTTP API, or the netcall_token command), granting `grants`:
        ask for `record`, `upload` or `live` where the test needs them, as an application would."""
        if self.api_key:  # over HTTP: a management command's start-up can outlast a socket's join deadline
            return self.token(account, channel, grants=grants, ttl=ttl)
        args = ["netcall_token", "--account", account, "--channel", channel, "--grants", ",".join(grants)]
        if ttl is not None:
            args += ["--ttl", str(ttl)]
        return self.manage(*args).strip().splitlines()[-1].strip()

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
        """Stop the server and drop its private database."""
        stop_process(self.process)
        if self.drop_database is not None:
            self.drop_database()
            self.drop_database = None


DaphneServer = NetcallServer  # the suite's old name


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
        [sys.executable, "-m", "django", *args],
        cwd=NETCALL_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise ServerStartError(
            f"django-admin {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def _server_env(workdir: Path, extra_env: Mapping[str, str]) -> dict[str, str]:
    """The environment minus what is this process's own, the test settings, and every path in `workdir`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "NETCALL_TEST_URL")}
    env.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    env.update(BASE_ENV)
    env["NETCALL_DB_PATH"] = str(workdir / "netcall.sqlite3")
    env["NETCALL_API_KEY"] = secrets.token_urlsafe(24)
    for name, sub in (
        ("NETCALL_MEDIA_ROOT", "media"),
        ("NETCALL_UPLOAD_STAGING_DIR", "uploads"),
        ("NETCALL_LIVE_SPOOL_DIR", "live"),
        ("NETCALL_STATIC_ROOT", "staticfiles"),
    ):
        env[name] = str(workdir / sub)
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


# Benchmarks' baselines, served by the same server with the same options (`server=` the key).
BENCH_APPS = {
    "bare": "bench.bare_upload:application",  # the barest upload app: a ceiling
    "unsynced": "bench.upload_unsynced:application",  # netcall without the fsync that ends each PATCH
}


def server_command(port: int, server: str = "netcall") -> list[str]:
    """The command line of the server: the one `make run` uses, or (for comparisons) stock Daphne, or the
    same server on one of the benchmarks' apps in `BENCH_APPS` (e.g. `server="bare"`, bench/bare_upload.py)."""
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "netcall_site.asgi:application"]
    serve = [sys.executable, "-m", "netcall_site.serve", "--host", "127.0.0.1", "--port", str(port)]
    return [*serve, "--app", BENCH_APPS[server]] if server in BENCH_APPS else serve


def _launch(port: int, env: Mapping[str, str], log_path: Path, server: str = "netcall") -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            server_command(port, server),
            cwd=NETCALL_ROOT,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def start_server(
    workdir: Path, extra_env: Mapping[str, str] | None = None, *, server: str = "netcall"
) -> NetcallServer:
    """Migrate a fresh SQLite database in `workdir`, start the server on a free port, wait for `GET /`.

    `extra_env`: settings (README "Settings"), e.g. `{"NETCALL_EMBED_ORIGINS": "http://127.0.0.1:3000"}`.
    Under `DATABASE_URL=postgres://...` the server gets a fresh PostgreSQL database of its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "server.log"
    env = _server_env(workdir, extra_env or {})
    db_path = Path(env["NETCALL_DB_PATH"])
    drop_database = None if "DATABASE_URL" in (extra_env or {}) else _private_postgres_database(env)
    _manage(["migrate", "--noinput"], env=env, timeout=120)
    port = free_port()
    started = NetcallServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        env=env,
        db_path=db_path,
        log_path=log_path,
        process=_launch(port, env, log_path, server),
        drop_database=drop_database,
        server=server,
        api_key=env["NETCALL_API_KEY"],
        media_root=Path(env["NETCALL_MEDIA_ROOT"]),
    )
    try:
        started.wait_until_answering()
    except BaseException:
        started.stop()
        raise
    logger.info("NetcallServer(%s) started (%s), log %s", started.url, server, log_path)
    return started


start_daphne = start_server  # the suite's old name


def external_server(url: str, api_key: str) -> NetcallAPI:
    """A netcall this run did not start (`NETCALL_TEST_URL`, `NETCALL_TEST_API_KEY`): tokens are minted and
    recordings listed over its HTTP API; `stop()` leaves it running."""
    url = url.rstrip("/")
    if not _answers(url + "/"):
        raise ServerStartError(f"NETCALL_TEST_URL={url} does not answer GET /")
    return NetcallAPI(url=url, api_key=api_key)


# A fixture that starts (or reuses) a server with extra environment variables (tests/e2e/conftest.py).
ServerFactory = Callable[..., NetcallServer]
