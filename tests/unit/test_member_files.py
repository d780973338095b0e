"""Member files without a network: the bitstream headers the recorder reads, and a MemberFile fed encoded
frames as a browser sends them (a keyframe to start on, a new segment when the picture size changes)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from recording.media.bitstream import frame_info
from recording.media.memberfile import FileSpec, MemberFile
from tests.support.live.media import EncodedSource, colour_share


@pytest.mark.parametrize(("codec", "size"), [("vp8", (320, 240)), ("h264", (320, 180)), ("h264", (638, 358))])
def test_keyframes_and_picture_sizes_are_read_from_the_bitstream(codec: str, size: tuple[int, int]) -> None:
    source = EncodedSource((40, 40, 220), 440, codec=codec, size=size)
    frames = [frame for _ in range(3) for frame in source.video()]
    first = frames[0]
    assert first.keyframe and (first.width, first.height) == size
    assert not any(frame.keyframe for frame in frames[1:])
    assert frame_info(codec, b"").keyframe is False
    if codec == "h264":
        assert first.parameter_sets.startswith(b"\x00\x00\x00\x01")


def test_a_member_file_starts_on_a_keyframe_and_splits_on_a_new_size(tmp_path: Path) -> None:
    opened: list[tuple[FileSpec, Path]] = []

    def open_segment(spec: FileSpec) -> Path:
        path = tmp_path / f"video-{spec.segment}.{spec.extension}"
        opened.append((spec, path))
        return path

    errors: list[str] = []
    file = MemberFile("video", open_segment, on_error=lambda track, error: errors.append(error))
    small = EncodedSource((220, 40, 40), 440, size=(320, 240))
    large = EncodedSource((40, 40, 220), 440, size=(640, 480))
    first = [frame for _ in range(20) for frame in small.video()]
    file.put(first[1])  # before any keyframe: waits for one
    for frame in first:
        file.put(frame)
    for index in range(20):
        for frame in large.video((20 + index) / 15):
            file.put(frame)
    file.close()
    assert not errors and file.waiting == 1
    assert [(spec.segment, spec.container, spec.mime_type) for spec, _ in opened] == [
        (0, "webm", 'video/webm;codecs="vp8"'),
        (1, "webm", 'video/webm;codecs="vp8"'),
    ]
    for (_, path), (size, colour) in zip(
        opened, [((320, 240), (220, 40, 40)), ((640, 480), (40, 40, 220))], strict=True
    ):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "vp8" and "ENCODER" not in stream.metadata
            pictures = list(container.decode(stream))
        assert len(pictures) == 20 and (pictures[0].width, pictures[0].height) == size
        assert colour_share(pictures[10].to_ndarray(format="rgb24"), colour) > 0.9
