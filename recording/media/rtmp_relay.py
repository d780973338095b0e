"""`python -m recording.media.rtmp_relay URL`: copy an FLV stream from stdin to an RTMP server.

Runs as a child process of the recorder because PyAV holds the GIL while it blocks on the network: a
stalled or unreachable RTMP server would otherwise freeze the recorder's whole process. The parent
watches this process and replaces it (with backoff) when it fails or stops making progress.

Prints `pushing` once the RTMP server accepted the stream, `error: ...` before exiting non-zero.
No Django here: this must start fast.
"""

from __future__ import annotations

import sys

import av


def relay(url: str) -> int:
    try:
        source = av.open(sys.stdin.buffer, "r", format="flv", options={"analyzeduration": "0", "probesize": "4096"})
        streams = [s for s in source.streams if s.type in ("video", "audio")]
        target = av.open(url, "w", format="flv")
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
    sys.exit(relay(sys.argv[1]))
