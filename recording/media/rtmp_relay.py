"""`python -m recording.media.rtmp_relay URL [ALLOWED_HOST ...]`: copy an FLV stream from stdin to an RTMP
server, if the server's address is one we may connect to (recording/net.py; ALLOWED_HOST: the operator's
NETCALL_LIVE_RTMP_ALLOWED_HOSTS).

Runs as a child process of the recorder because PyAV holds the GIL while it blocks on the network: a
stalled or unreachable RTMP server would otherwise freeze the recorder's whole process. The parent
watches this process and replaces it (with backoff) when it fails or stops making progress.

Prints `pushing` once the RTMP server accepted the stream, `error: ...` before exiting non-zero, and
`refused: ...` (exit 2) when the address is not one to connect to.
No Django here: this must start fast.
"""

from __future__ import annotations

import ipaddress
import sys
from urllib.parse import urlsplit, urlunsplit

import av

from recording.net import TargetRefused, target_addresses

DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def pinned_target(url: str, allowed_hosts: list[str]) -> tuple[str, dict[str, str]]:
    """The URL to open and its protocol options, after checking the address right before connecting.

    For rtmp:// to a name, connect to the address just checked (a name could re-resolve elsewhere between
    the check and the connection) and keep the name in the tcUrl the server sees. rtmps:// keeps the name
    (TLS needs it); its window between check and connect is this process's start."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 1935)
    addresses = target_addresses(host, port, allowed_hosts=allowed_hosts)
    if not addresses or parts.scheme.lower() != "rtmp" or _is_address(host):
        return url, {}
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path, parts.query, ""))
    app = parts.path.rsplit("/", 1)[0]
    return pinned, {"rtmp_tcurl": f"{parts.scheme}://{parts.netloc}{app}"}


def relay(url: str, allowed_hosts: list[str]) -> int:
    try:
        target_url, options = pinned_target(url, allowed_hosts)
    except TargetRefused as exc:
        print(f"refused: {exc}", flush=True)
        return 2
    try:
        # The raw pipe: a read returns what has arrived. The buffered reader's read(32 KiB) waited for 32 KiB,
        # seconds of a quiet picture (10.5 s before the first byte went out, for black video and silence).
        # The FLV header, metadata and both sequence headers come first, in a few hundred bytes.
        stdin = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)  # noqa: SIM115 (the process's own)
        source = av.open(stdin, "r", format="flv", options={"analyzeduration": "0", "probesize": "1024"})
        streams = [s for s in source.streams if s.type in ("video", "audio")]
        target = av.open(target_url, "w", format="flv", options=options)
        mapping = {s.index: target.add_stream_from_template(s) for s in streams}
        target.start_encoding()
        print("pushing", flush=True)
        for packet in source.demux(streams):
            if packet.dts is None or packet.size == 0:
                continue
            packet.stream = mapping[packet.stream.index]
            target.mux(packet)
        target.close()
        source.close()
    except (av.FFmpegError, OSError, ValueError) as exc:
        print(f"error: {exc.__class__.__name__}: {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(relay(sys.argv[1], sys.argv[2:]))
