"""Signalling benchmarks, each beside a baseline measured in the same run.

1. Round trip of a relayed message (A -> server -> B -> server -> A, `signal` frames) in a room of 5 and of 50
   members while a third member broadcasts media changes to the whole room at 20 Hz (fan-out load);
   baseline: the same client against a raw `websockets` echo server (one hop each way).
2. Idle cost of 1,000 and 5,000 joined members (rooms of 10, a ping every 10 s each, as the SDK does):
   server CPU seconds per minute and resident memory; baseline: a bare ASGI WebSocket app under Daphne
   holding the same connections with the same pings.

Run: `.venv/bin/python -m bench.signalling [--quick] [--database-url postgres://...] [--servers netcall,daphne]
[--round-trips-only]`; prints a Markdown table. The server is started as `make run` starts it (uvicorn);
`--servers netcall,daphne` measures the round trips under each, stock Daphne on the same application too.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psutil
from websockets.asyncio.client import ClientConnection, connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.server import TEST_SECRET_KEY, free_port, start_daphne  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netcall_site.settings")
os.environ.setdefault("NETCALL_SECRET_KEY", TEST_SECRET_KEY)
import django  # noqa: E402

django.setup()
from recording.tokens import token_mint  # noqa: E402


def origin_of(url: str) -> str:
    """The page origin a browser would send for this server (the WebSocket origin check is exact)."""
    return "http://" + url.split("://", 1)[1].split("/", 1)[0]


LOST_AFTER = 5.0  # seconds without the echo: the round trip counts as lost
_ids = itertools.count(1)


class Member:
    def __init__(self, ws: ClientConnection, account: str) -> None:
        self.ws, self.account = ws, account

    async def request(self, type_: str, **fields: object) -> dict[str, object]:
        request_id = next(_ids)
        await self.ws.send(json.dumps({"type": type_, "id": request_id, **fields}))
        async with asyncio.timeout(60):  # fail loudly rather than hang
            while True:
                frame = json.loads(await self.ws.recv())
                if frame.get("id") == request_id:
                    return frame  # type: ignore[no-any-return]


async def join(url: str, account: str, channel: str) -> Member:
    ws = await connect(url, origin=origin_of(url), max_size=2**20, ping_interval=None)  # type: ignore[arg-type]
    member = Member(ws, account)
    reply = await member.request("join", token=token_mint(account=account, channel=channel), channel=channel)
    assert reply["type"] == "ack", reply
    return member


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drain(member: Member) -> None:
    async for _ in member.ws:
        pass


async def relayed_round_trips(base: str, room_size: int, samples: int) -> list[float]:
    url = base.replace("http", "ws") + "/ws/netcall/"
    channel = f"bench-{room_size}-{time.time_ns()}"
    members = [await join(url, f"m{i}", channel) for i in range(room_size)]
    a, b, loud = members[0], members[1], members[2]
    # Everyone but A and B just drains what the room sends (fan-out receivers).
    drains = [asyncio.create_task(drain(m)) for m in members[3:]]

    async def echo_back() -> None:
        async for raw in b.ws:
            frame = json.loads(raw)
            if frame.get("type") == "signal":
                await b.ws.send(json.dumps({"type": "signal", "to": "m0", "data": frame["data"]}))

    async def broadcast() -> None:
        audio = True
        while True:
            audio = not audio
            await loud.ws.send(json.dumps({"type": "media", "audio": audio, "video": True}))
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(echo_back()), asyncio.create_task(broadcast()), asyncio.create_task(drain(loud))]
    times: list[float] = []
    lost = 0
    for seq in range(samples):
        started = time.perf_counter()
        await a.ws.send(json.dumps({"type": "signal", "to": "m1", "data": {"seq": seq}}))
        try:
            async with asyncio.timeout(LOST_AFTER):
                while True:
                    frame = json.loads(await a.ws.recv())
                    if frame.get("type") == "signal" and frame["data"].get("seq") == seq:
                        break
        except TimeoutError:
            lost += 1  # never came back: counted, not waited for forever
            continue
        times.append((time.perf_counter() - started) * 1000)
    if lost:
        print(
            f"room of {room_size}: {lost} of {samples} round trips lost (no echo within {LOST_AFTER} s)",
            file=sys.stderr,
        )
    for task in [*tasks, *drains]:
        task.cancel()
    for member in members:
        await member.ws.close()
    return times


async def echo_round_trips(port: int, samples: int) -> list[float]:
    async with connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
        times = []
        for seq in range(samples):
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "signal", "data": {"seq": seq}}))
            await ws.recv()
            times.append((time.perf_counter() - started) * 1000)
        return times


@asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.echo_server", str(port), cwd=REPO, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    await process.stdout.readline()
    try:
        yield port
    finally:
        process.terminate()
        await process.wait()


async def hold_idle(url: str, count: int, *, netcall: bool, seconds: float, pid: int) -> tuple[float, float]:
    """Connect `count` members (joined in rooms of 10 for netcall), keep them idle with a ping every 10 s;
    return (server CPU seconds per minute, server RSS MiB) measured over `seconds`."""
    connections: list[ClientConnection] = []
    for index in range(count):
        if netcall:
            member = await join(url, f"idle{index}", f"idle-room-{index // 10}")
            connections.append(member.ws)
        else:
            connections.append(await connect(url, origin=origin_of(url), ping_interval=None))  # type: ignore[arg-type]

    async def pinger(ws: ClientConnection, offset: float) -> None:
        await asyncio.sleep(offset)
        while True:
            await ws.send(json.dumps({"type": "ping", "id": 1}))
            await asyncio.sleep(10)

    readers = [asyncio.create_task(drain(Member(ws, ""))) for ws in connections]
    pingers = [asyncio.create_task(pinger(ws, 10 * i / count)) for i, ws in enumerate(connections)]
    await asyncio.sleep(5)  # let the joins' fan-out settle before measuring
    process = psutil.Process(pid)
    cpu_before = sum(process.cpu_times()[:2])
    await asyncio.sleep(seconds)
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    rss = process.memory_info().rss / 2**20
    for task in [*pingers, *readers]:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
    return cpu * 60 / seconds, rss


async def main(quick: bool, database_url: str | None, servers: list[str], round_trips_only: bool) -> None:
    samples = 100 if quick else 500
    idle_counts = [200] if quick else [1000, 5000]
    idle_seconds = 10 if quick else 30
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, kind in enumerate(servers):
            server = start_daphne(
                Path(tmp) / f"netcall-{kind}",
                {
                    "NETCALL_ROOM_CAPACITY": "64",
                    "NETCALL_LOG_LEVEL": "WARNING",
                    "NETCALL_SERVER_LOG_LEVEL": "warning",
                    # A and B send a frame per round trip, ~400/s: above the default limit of 200/s per connection
                    "NETCALL_MAX_MESSAGES_PER_SECOND": "5000",
                    **({"DATABASE_URL": database_url} if database_url else {}),
                },
                server=kind,
            )
            label = "" if len(servers) == 1 else f" ({'uvicorn' if kind == 'netcall' else 'Daphne'})"
            try:
                async with echo_server() as echo_port:
                    for size in (5, 50):
                        print(f"round trips{label}, room of {size} ...", file=sys.stderr, flush=True)
                        ours = await relayed_round_trips(server.url, size, samples)
                        base = await echo_round_trips(echo_port, samples)
                        for q, name in ((0.5, "p50"), (0.99, "p99")):
                            mine, theirs = percentile(ours, q), percentile(base, q)
                            rows.append(
                                f"| relayed round trip{label}, room of {size}, {name} | {mine:.2f} ms | "
                                f"{theirs:.2f} ms (websockets echo) | {mine / theirs:.1f}x |"
                            )
                if index == 0 and not round_trips_only:
                    await idle_rows(server, Path(tmp), idle_counts, idle_seconds, rows)
            finally:
                server.stop()
    print("| measure | netcall | baseline | ratio |\n| --- | --- | --- | --- |")
    print("\n".join(rows))


async def idle_rows(server, tmp: Path, idle_counts: list[int], idle_seconds: float, rows: list[str]) -> None:
    for count in idle_counts:
        print(f"idle, {count} members ...", file=sys.stderr, flush=True)
        cpu, rss = await hold_idle(
            server.url.replace("http", "ws") + "/ws/netcall/",
            count,
            netcall=True,
            seconds=idle_seconds,
            pid=server.process.pid,
        )
        bare = start_daphne_bare(tmp / f"bare{count}")
        try:
            bare_cpu, bare_rss = await hold_idle(
                f"ws://127.0.0.1:{bare[1]}/", count, netcall=False, seconds=idle_seconds, pid=bare[0].pid
            )
        finally:
            bare[0].terminate()
            bare[0].wait()
        rows.append(
            f"| idle, {count} members: server CPU | {cpu:.2f} s/min | {bare_cpu:.2f} s/min (bare ASGI) | "
            f"{cpu / max(bare_cpu, 1e-3):.1f}x |"
        )
        rows.append(
            f"| idle, {count} members: server RSS | {rss:.0f} MiB | {bare_rss:.0f} MiB (bare ASGI) | "
            f"{rss / bare_rss:.1f}x |"
        )


def start_daphne_bare(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.bare_asgi:application"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with __import__("socket").socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.1)
    raise RuntimeError("bare ASGI server did not start")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sample sizes, for a smoke run")
    parser.add_argument(
        "--database-url", help="run the server on this (empty, migrated here) database instead of a fresh SQLite file"
    )
    parser.add_argument("--servers", default="netcall", help="comma list of netcall (uvicorn, as make run) and daphne")
    parser.add_argument("--round-trips-only", action="store_true", help="skip the idle-members part")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.database_url, args.servers.split(","), args.round_trips_only))
