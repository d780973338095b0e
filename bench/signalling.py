"""Signalling benchmarks, each beside a baseline measured in the same run.

1. Round trip of a relayed message (A -> server -> B -> server -> A, `signal` frames) in a room of 5 and of 50
   members while a third member broadcasts media changes to the whole room at 20 Hz (fan-out load);
   baselines: the same client and load against a bare `websockets` relay doing the same two hops
   (bench/relay_server.py), taking turns with netcall in blocks of 50 round trips (so that the load of a
   shared machine falls on both alike), and a raw `websockets` echo server (one hop each way: the floor).
2. Idle cost of 10,000 joined members (rooms of 10, a ping every 10 s each, as the SDK does): server CPU
   seconds per minute, resident memory and its growth per member; baseline: a bare ASGI WebSocket app under
   uvicorn, set up as netcall's server is (bench/bare_asgi.py), holding the same connections with the same pings.

Run: `.venv/bin/python -m bench.signalling [--quick] [--database-url postgres://...] [--scale-out] [--idle N ...]`;
`--scale-out` serves from two processes on PostgreSQL + Redis. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidMessage, InvalidStatus
from websockets.protocol import State

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from recording.testing.server import TEST_SECRET_KEY, DaphneServer, free_port, start_daphne  # noqa: E402
from tests.support.scale import shared_backends_env  # noqa: E402

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
    token = token_mint(account=account, channel=channel)
    # `account` is for the bare relay (which checks no token); netcall ignores it and reads the token.
    reply = await member.request("join", token=token, channel=channel, account=account)
    assert reply["type"] == "ack", reply
    return member


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drain(member: Member) -> None:
    async for _ in member.ws:
        pass


class Room:
    """A room of `size` members on `urls` (round-robin: with two processes A is on the first and B on the
    second, so every round trip crosses between processes twice). Everyone but A, B and the loud member
    drains what the room sends; B echoes A's signals back; the loud member broadcasts a media change at 20 Hz
    while `measure` runs."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members
        self.a, self.b, self.loud = members[0], members[1], members[2]
        self.seq = 0
        self.lost = 0
        self.tasks = [asyncio.create_task(drain(m)) for m in members[3:]]
        self.tasks += [asyncio.create_task(self._echo_back()), asyncio.create_task(drain(self.loud))]

    @classmethod
    async def open(cls, urls: list[str], size: int) -> Room:
        channel = f"bench-{size}-{time.time_ns()}"
        return cls([await join(urls[i % len(urls)], f"m{i}", channel) for i in range(size)])

    async def _echo_back(self) -> None:
        async for raw in self.b.ws:
            frame = json.loads(raw)
            if frame.get("type") == "signal":
                await self.b.ws.send(json.dumps({"type": "signal", "to": "m0", "data": frame["data"]}))

    async def _broadcast(self) -> None:
        audio = True
        while True:
            audio = not audio
            await self.loud.ws.send(json.dumps({"type": "media", "audio": audio, "video": True}))
            await asyncio.sleep(0.05)

    async def measure(self, samples: int) -> list[float]:
        """`samples` round trips (ms) under the fan-out load, which runs only meanwhile."""
        loud = asyncio.create_task(self._broadcast())
        await asyncio.sleep(0.25)  # the load in full swing before the first sample
        times: list[float] = []
        for _ in range(samples):
            self.seq += 1
            seq = self.seq
            started = time.perf_counter()
            await self.a.ws.send(json.dumps({"type": "signal", "to": "m1", "data": {"seq": seq}}))
            try:
                async with asyncio.timeout(LOST_AFTER):
                    while True:
                        frame = json.loads(await self.a.ws.recv())
                        if frame.get("type") == "signal" and frame["data"].get("seq") == seq:
                            break
            except TimeoutError:
                self.lost += 1  # never came back: counted, not waited for forever
                continue
            times.append((time.perf_counter() - started) * 1000)
        loud.cancel()
        await asyncio.sleep(0.1)  # the last broadcasts drain before the other room's turn
        return times

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for member in self.members:
            await member.ws.close()


BLOCK = 50  # round trips per turn: netcall and the bare relay take turns, so load swings hit both alike


async def relayed_round_trips_side_by_side(
    urls: list[str], relay_url: str, size: int, samples: int
) -> tuple[list[float], list[float]]:
    """Round trips in a room of `size` on netcall and on the bare relay, in alternating blocks of BLOCK."""
    ours_room, relay_room = await Room.open(urls, size), await Room.open([relay_url], size)
    ours: list[float] = []
    relayed: list[float] = []
    for _ in range(0, samples, BLOCK):
        ours += await ours_room.measure(BLOCK)
        relayed += await relay_room.measure(BLOCK)
    for room, name in ((ours_room, "netcall"), (relay_room, "bare relay")):
        if room.lost:
            print(
                f"room of {size}, {name}: {room.lost} of {samples} round trips lost (no echo within {LOST_AFTER} s)",
                file=sys.stderr,
            )
        await room.close()
    return ours, relayed


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
async def baseline_server(module: str) -> AsyncIterator[int]:
    """A baseline server (`python -m <module> <port>`, which prints a line once listening); its port."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, str(port), cwd=REPO, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    await process.stdout.readline()
    try:
        yield port
    finally:
        process.terminate()
        await process.wait()


async def hold_idle(urls: list[str], count: int, *, netcall: bool, seconds: float, pids: list[int]) -> Idle:
    """Connect `count` members over `urls` (joined in rooms of 10 for netcall), keep them idle with a ping
    every 10 s, and measure the servers (`pids`) over `seconds`."""
    processes = [psutil.Process(pid) for pid in pids]
    rss_before = sum(p.memory_info().rss for p in processes) / 2**20
    connections: list[ClientConnection] = []

    retries = 0

    async def open_one(index: int) -> ClientConnection:
        nonlocal retries
        url = urls[index % len(urls)]
        for attempt in range(5):
            try:
                if netcall:
                    return (await join(url, f"idle{index}", f"idle-room-{index // 10}")).ws
                return await connect(url, origin=origin_of(url), ping_interval=None)  # type: ignore[arg-type]
            except (OSError, InvalidMessage, InvalidStatus):
                # Daphne drops a handshake the application has not accepted within 5 s (a loaded machine)
                retries += 1
                await asyncio.sleep(0.5 * (attempt + 1))
        raise RuntimeError(f"could not connect member {index}")

    async def pinger(ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(10)
            await ws.send(json.dumps({"type": "ping", "id": 1}))

    # Each member reads and pings from the moment it is joined: joining 10,000 takes longer than the
    # member timeout, and a member that stays silent meanwhile is (rightly) expired.
    readers: list[asyncio.Task[None]] = []
    pingers: list[asyncio.Task[None]] = []
    for batch in range(0, count, 20):
        opened = await asyncio.gather(*(open_one(i) for i in range(batch, min(count, batch + 20))))
        connections += opened
        readers += [asyncio.create_task(drain(Member(ws, ""))) for ws in opened]
        pingers += [asyncio.create_task(pinger(ws)) for ws in opened]
    if retries:
        print(f"{count} members: {retries} connection attempts retried", file=sys.stderr)
    await asyncio.sleep(10)  # let the joins' fan-out settle and every member ping once before measuring
    cpu_before = sum(sum(p.cpu_times()[:2]) for p in processes)
    await asyncio.sleep(seconds)
    cpu = sum(sum(p.cpu_times()[:2]) for p in processes) - cpu_before
    rss = sum(p.memory_info().rss for p in processes) / 2**20
    still_open = sum(1 for ws in connections if ws.state is State.OPEN)
    print(f"{count} members: {still_open} connections still open at the end", file=sys.stderr, flush=True)
    assert still_open == count, f"only {still_open} of {count} connections stayed open: the figures would mislead"
    for task in [*pingers, *readers]:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
    return Idle(cpu * 60 / seconds, rss, (rss - rss_before) * 1024 / count)


@dataclass
class Idle:
    cpu_per_minute: float  # server CPU seconds per minute
    rss_mib: float  # server resident memory, MiB
    kib_per_member: float  # growth of resident memory per member held


SERVER_ENV = {
    # As deployed: the test harness runs its servers with DEBUG=1, which wraps every cursor to log queries
    "DEBUG": "0",
    "NETCALL_ROOM_CAPACITY": "64",
    "NETCALL_LOG_LEVEL": "WARNING",
    # uvicorn logs every connection at "info"; the bare ASGI baseline runs at "warning" too
    "NETCALL_SERVER_LOG_LEVEL": "warning",
    # A and B send a frame per round trip, ~400/s: above the default limit of 200/s per connection
    "NETCALL_MAX_MESSAGES_PER_SECOND": "5000",
    "NETCALL_SIGNAL_BYTES_PER_SECOND": "0",
    # Joining thousands of members queues join frames for longer than the 10 s deadline on a loaded machine
    "NETCALL_JOIN_DEADLINE_SECONDS": "300",
    # Every benchmark client connects from 127.0.0.1
    "NETCALL_MAX_CONNECTIONS_PER_ADDRESS": "0",
}


@contextmanager
def netcall_servers(tmp: Path, *, scale_out: bool, database_url: str | None) -> Iterator[list[DaphneServer]]:
    """One server (uvicorn, as `make run`) on a fresh SQLite file (or `database_url`), or two on PostgreSQL + Redis."""
    servers: list[DaphneServer] = []

    def stop_all() -> None:
        for server in servers:
            server.stop()

    with contextlib.ExitStack() as stack:
        if scale_out:
            # As the deployment past one machine runs its web processes (README): jobs and recording in
            # processes of their own (none is due here), not in a thread of each web process.
            deployed = {"NETCALL_JOBS_IN_PROCESS": "0", "NETCALL_RECORDER_IN_PROCESS": "0"}
            env = {**SERVER_ENV, **deployed, **stack.enter_context(shared_backends_env())}
            stack.callback(stop_all)
            servers += [start_daphne(tmp / "a", env), start_daphne(tmp / "b", env)]
        else:
            env = {**SERVER_ENV, **({"DATABASE_URL": database_url} if database_url else {})}
            stack.callback(stop_all)
            servers.append(start_daphne(tmp / "netcall", env))
        yield servers


async def main(
    quick: bool, database_url: str | None, scale_out: bool, idle_counts: list[int], *, round_trips: bool = True
) -> None:
    samples = 100 if quick else 500
    idle_seconds = 10 if quick else 30
    rows: list[str] = []

    def ratio_row(name: str, mine: float, theirs: float, unit: str, baseline: str) -> None:
        rows.append(
            f"| {name} | {mine:.2f} {unit} | {theirs:.2f} {unit} ({baseline}) | {mine / max(theirs, 1e-6):.1f}x |"
        )
        print(rows[-1], file=sys.stderr, flush=True)  # as it comes, in case a later phase fails

    with (
        tempfile.TemporaryDirectory() as tmp,
        netcall_servers(Path(tmp), scale_out=scale_out, database_url=database_url) as servers,
    ):
        urls = [server.url.replace("http", "ws") + "/ws/netcall/" for server in servers]
        async with (
            baseline_server("bench.echo_server") as echo_port,
            baseline_server("bench.relay_server") as relay_port,
        ):
            for size in (5, 50) if round_trips else ():
                print(f"round trips, room of {size} ...", file=sys.stderr, flush=True)
                ours, relayed = await relayed_round_trips_side_by_side(
                    urls, f"ws://127.0.0.1:{relay_port}/", size, samples
                )
                echoed = await echo_round_trips(echo_port, samples)
                for q, name in ((0.5, "p50"), (0.99, "p99")):
                    mine = percentile(ours, q)
                    ratio_row(
                        f"relayed round trip, room of {size}, {name}", mine, percentile(relayed, q), "ms", "bare relay"
                    )
                    ratio_row(
                        f"relayed round trip, room of {size}, {name}", mine, percentile(echoed, q), "ms", "raw echo"
                    )
        for count in idle_counts:
            print(f"idle, {count} members ...", file=sys.stderr, flush=True)
            ours_idle = await hold_idle(
                urls, count, netcall=True, seconds=idle_seconds, pids=[s.process.pid for s in servers]
            )
            bare = start_bare_asgi(Path(tmp) / f"bare{count}")
            try:
                bare_idle = await hold_idle(
                    [f"ws://127.0.0.1:{bare[1]}/"], count, netcall=False, seconds=idle_seconds, pids=[bare[0].pid]
                )
            finally:
                bare[0].terminate()
                bare[0].wait()
            ratio_row(
                f"idle, {count} members: server CPU",
                ours_idle.cpu_per_minute,
                bare_idle.cpu_per_minute,
                "s/min",
                "bare ASGI",
            )
            ratio_row(f"idle, {count} members: server RSS", ours_idle.rss_mib, bare_idle.rss_mib, "MiB", "bare ASGI")
            ratio_row(
                f"idle, {count} members: memory per member",
                ours_idle.kib_per_member,
                bare_idle.kib_per_member,
                "KiB",
                "bare ASGI",
            )
    print("| measure | netcall | baseline | ratio |\n| --- | --- | --- | --- |")
    print("\n".join(rows))


def start_bare_asgi(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_asgi", str(port)],
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
    parser.add_argument(
        "--scale-out",
        action="store_true",
        help="two server processes on PostgreSQL + Redis (127.0.0.1:5432 and :6379): members alternate between them",
    )
    parser.add_argument("--idle", type=int, nargs="*", help="idle member counts (default 10000; --quick: 200)")
    parser.add_argument("--no-round-trips", action="store_true", help="measure only the idle cost")
    parser.add_argument("--no-idle", action="store_true", help="measure only the round trips")
    args = parser.parse_args()
    counts = [] if args.no_idle else args.idle if args.idle else ([200] if args.quick else [10_000])
    asyncio.run(main(args.quick, args.database_url, args.scale_out, counts, round_trips=not args.no_round_trips))
