"""Fair baseline for the round-trip benchmark: a bare `websockets` relay (no Django, no Channels, no
database) doing what netcall does for the same frames: `join` puts the connection in a room, `signal` is
parsed, addressed by account and relayed as a new frame to the addressee, `media` is broadcast to the room,
and every request is acknowledged. Two hops per round trip, like netcall's; one process, rooms in memory."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: dict[str, dict[str, ServerConnection]] = {}


async def relay(connection: ServerConnection) -> None:
    room: dict[str, ServerConnection] | None = None
    account = ""
    try:
        async for message in connection:
            frame = json.loads(message)
            kind, request_id = frame.get("type"), frame.get("id")
            if kind == "join":
                account = str(frame.get("account") or f"anon{id(connection)}")
                room = rooms.setdefault(str(frame.get("channel")), {})
                room[account] = connection
            elif kind == "signal" and room is not None:
                target = room.get(str(frame.get("to")))
                if target is None:
                    await connection.send(json.dumps({"type": "error", "id": request_id, "code": "not_in_room"}))
                    continue
                await target.send(json.dumps({"type": "signal", "from": account, "data": frame.get("data")}))
            elif kind == "media" and room is not None:
                update = {"type": "member.updated", "member": {"account": account, "media": frame}}
                broadcast([c for a, c in room.items() if a != account], json.dumps(update))
            await connection.send(json.dumps({"type": "ack", "id": request_id, "data": {"time": time.time()}}))
    finally:
        if room is not None and room.get(account) is connection:
            del room[account]


async def main(port: int) -> None:
    async with serve(relay, "127.0.0.1", port, max_size=2**20, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
