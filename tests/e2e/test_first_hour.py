"""A newcomer's first hour, as the README has it: `make run` in one terminal, the token command in another."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import websockets

from recording.testing.server import _answers, free_port
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.e2e

START_TIMEOUT = 90.0


def _clean_env() -> dict[str, str]:
    """The environment of a fresh terminal: none of our settings, none of the test run's."""
    prefixes = ("NETCALL_", "DJANGO_", "DATABASE_", "REDIS_", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.pop("DEBUG", None)
    return env


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[int, psutil.Process]]:
    """`make run HOST=127.0.0.1 PORT=<free>` (its own database, so the checkout's stays as it is)."""
    port = free_port()
    env = _clean_env() | {"NETCALL_DB_PATH": str(tmp_path / "db.sqlite3"), "NETCALL_MEDIA_ROOT": str(tmp_path)}
    log = (tmp_path / "make-run.log").open("wb")
    process = subprocess.Popen(
        ["make", "run", "HOST=127.0.0.1", f"PORT={port}"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the whole tree (make, the server) is stopped together
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(f"http://127.0.0.1:{port}/"):
            assert process.poll() is None, (tmp_path / "make-run.log").read_text()
            assert time.monotonic() < deadline, "make run did not answer in time"
            time.sleep(0.2)  # polling interval
        server = next(
            child
            for child in psutil.Process(process.pid).children(recursive=True)
            if any(c.laddr.port == port for c in child.net_connections(kind="tcp") if c.status == "LISTEN")
        )
        yield port, server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


async def _join(port: int, token: str) -> dict[str, object]:
    origin = f"http://127.0.0.1:{port}"
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/netcall/", origin=origin) as socket:  # type: ignore[arg-type]
        await socket.send(json.dumps({"type": "join", "id": 1, "token": token, "channel": "demo"}))
        while True:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 30))
            if frame.get("id") == 1:
                return frame


def test_the_readme_token_command_works_while_make_run_serves(make_run: tuple[int, psutil.Process]) -> None:
    port, _server = make_run
    # Exactly the README's command, from a fresh terminal: no DEBUG, no NETCALL_SECRET_KEY.
    command = ".venv/bin/python manage.py netcall_token --account alice --channel demo"
    result = subprocess.run(command.split(), cwd=REPO_ROOT, env=_clean_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    reply = asyncio.run(_join(port, token))
    assert reply["type"] == "ack", reply
    assert reply["data"]["self"]["account"] == "alice"  # type: ignore[index]


def test_links_point_where_make_run_serves(make_run: tuple[int, psutil.Process]) -> None:
    port, server = make_run
    environment = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
    assert f"NETCALL_PUBLIC_URL=http://127.0.0.1:{port}".encode() in environment
