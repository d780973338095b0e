"""`python -m tests.support.live.crash_recorder SESSION_ID`: record a synthetic broadcaster into a live session's
files until killed. Prints `recording <seconds>` lines; the test kills this process with SIGKILL."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netcall_site.test_settings")
django.setup()

import av  # noqa: E402
import numpy as np  # noqa: E402
from django.utils import timezone  # noqa: E402

from recording.library import storage  # noqa: E402
from recording.live import services as live  # noqa: E402
from recording.media.live_recorder import pipeline_config  # noqa: E402
from recording.media.memberfile import FileSpec  # noqa: E402
from recording.media.pipeline import LivePipeline  # noqa: E402
from tests.support.live.media import EncodedSource  # noqa: E402


def main(session_id: str) -> None:
    import uuid

    def open_file(account: str, spec: FileSpec) -> Path:
        recording_id = str(uuid.uuid4())
        name = storage.live_spool_name(session_id, recording_id, spec.extension)
        live.live_file_open(
            session_id=session_id,
            recording_id=recording_id,
            track=spec.track,
            account=account,
            spool_name=name,
            started_at=timezone.now(),
            container=spec.container,
            mime_type=spec.mime_type,
            codec=spec.codec,
            segment=spec.segment,
        )
        return storage.live_spool_path(name)

    pipeline = LivePipeline(pipeline_config(rtmp_url=None, record=True), open_file=open_file)
    source = EncodedSource((220, 40, 40), 440)  # what the browser sends, encoded
    pipeline.set_layout("alice", [])
    image = np.zeros((240, 320, 3), dtype=np.uint8)
    image[:] = (220, 40, 40)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    start = time.monotonic()
    frames = samples = 0
    reported = 0
    while True:
        now = time.monotonic() - start
        while samples < now * 48000:
            t = np.arange(samples, samples + 960) / 48000
            pipeline.audio_samples("alice", (np.sin(2 * np.pi * 440 * t) * 9000).astype(np.int16))
            for encoded in source.audio():
                pipeline.encoded_frame("alice", encoded)
            samples += 960
        if frames < now * 15:
            pipeline.video_frame("alice", frame)
            for encoded in source.video(now):  # timed by the clock, as a browser stamps its frames
                pipeline.encoded_frame("alice", encoded)
            frames += 1
        if int(now) > reported:
            reported = int(now)
            print(f"recording {now:.1f}", flush=True)
        time.sleep(0.005)


if __name__ == "__main__":
    main(sys.argv[1])
