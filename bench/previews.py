"""What the library's previews job costs, beside the decode check every recording already gets.

Both decode the same file (a VP8 + Opus WebM, or H.264 + AAC MP4, of `--seconds` at 320x240, 15 fps,
written here with PyAV); measured in CPU seconds of this process (`time.process_time`), each run
alternating baseline and previews, the median of `--runs`. Also the process's peak RSS.

Run: `.venv/bin/python -m bench.previews [--seconds 120] [--runs 5]`; prints a Markdown table.
The figures in docs/performance.md come from this script.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from recording.media.inspect import media_inspect
from recording.media.preview import media_previews
from tests.support.mediafiles import write_test_media


def cpu(function: Callable[..., object], *args: object, **kwargs: object) -> float:
    start = time.process_time()
    function(*args, **kwargs)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("| file | decode check (CPU s) | previews (CPU s) | previews / check | peak RSS (MiB) |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for container in ("webm", "mp4"):
            path = write_test_media(
                directory / f"bench.{container}", seconds=args.seconds, container=container, size=(320, 240)
            )
            checks, previews = [], []
            for _ in range(args.runs):
                checks.append(cpu(media_inspect, path))
                previews.append(cpu(media_previews, path, directory, duration=args.seconds))
            check, made = statistics.median(checks), statistics.median(previews)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"| {container}, {args.seconds:.0f} s | {check:.3f} | {made:.3f} | {made / check:.2f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
