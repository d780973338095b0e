"""`python tests/support/live/rtmp_listener.py PORT OUT.flv`: a one-shot RTMP server (PyAV `listen`) that copies
what it receives into OUT.flv and prints a JSON summary. A subprocess: PyAV holds the GIL while it waits
on the network, which would freeze a test's event loop."""

from __future__ import annotations

import json
import sys

import av


def main(port: int, out: str, timeout: float) -> None:
    summary: dict[str, object] = {"packets": {}, "codecs": {}}
    source = av.open(f"rtmp://127.0.0.1:{port}/live/test", "r", format="flv", options={"listen": "1"}, timeout=timeout)
    target = av.open(out, "w", format="flv")
    streams = [s for s in source.streams if s.type in ("video", "audio")]
    mapping = {s.index: target.add_stream_from_template(s) for s in streams}
    summary["codecs"] = {s.type: s.codec_context.name for s in streams}
    counts: dict[str, int] = {}
    try:
        for packet in source.demux(streams):
            if packet.dts is None:
                continue
            counts[packet.stream.type] = counts.get(packet.stream.type, 0) + 1
            packet.stream = mapping[packet.stream.index]
            target.mux(packet)
    except (av.FFmpegError, OSError) as exc:  # the sender closed: every frame has been delivered
        summary["end"] = str(exc)
    target.close()
    summary["packets"] = counts
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 60.0)
