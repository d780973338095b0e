"""The seed's save-to-path in a real browser (issue 16, point 3): `save: 'folder'` with the
origin-private file system as the recordings folder. The folder handed to one page is remembered
(IndexedDB) by the next; three recordings land at their paths' relative parts, sub-folders created,
the second of the same name numbered instead of overwriting the first; a path with '..' is refused."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from recording.testing import media
from recording.testing import recorder as rec
from recording.testing.capture import ALICE
from tests.support.recording_checks import READ_OPFS_JS, OpenParticipant, assert_colour, assert_tones, unique_channel

pytestmark = pytest.mark.e2e

SET_FOLDER_JS = """
async () => {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry('calls', { recursive: true }).catch(() => {});
  await window.netcall.setRecordFolder(root);
}
"""
LIST_JS = """
async () => {
  const out = [];
  const walk = async (dir, prefix) => {
    for await (const [name, handle] of dir.entries()) {
      if (handle.kind === 'directory') await walk(handle, `${prefix}${name}/`);
      else out.push(`${prefix}${name}`);
    }
  };
  const root = await navigator.storage.getDirectory();
  await walk(await root.getDirectoryHandle('calls'), 'calls/');
  return out.sort();
}
"""


def test_recordings_land_at_their_paths_inside_the_folder(open_participant: OpenParticipant, tmp_path: Path) -> None:
    channel = unique_channel("folder")
    alice = open_participant(ALICE)
    alice.join(channel)
    alice.page.evaluate(SET_FOLDER_JS)
    alice.reload()  # the next page of this origin (joined again) finds the folder again

    escape = rec.call(alice, "startRecordMp4", {"path": "E:/calls/../../escape.mp4", "save": "folder"})
    assert not escape["ok"] and escape["error"] == "bad_argument", escape
    assert alice.page.evaluate("() => window.netcall.getRecordings()") == []

    first = rec.start(alice, "startRecordMp4", {"path": "E:/calls/2026/test.mp4", "save": "folder"})
    mix = rec.start(alice, "startRecordAac", {"path": "D:\\calls\\2026\\mix.m4a", "save": "folder"})
    assert (first["save"], mix["save"]) == ("folder", "folder"), (first, mix)
    rec.wait_page_ms(alice, first["startedAt"], 3000)
    running = alice.page.evaluate("() => window.netcall.getRecordings()")
    assert all(r["size"] > 0 for r in running), running  # streamed into the files while recording
    results = [rec.stop(alice, "stopRecordMp4", directory=tmp_path, name="first").meta]
    second = rec.start(alice, "startRecordMp4", {"path": "E:/calls/2026/test.mp4", "save": "folder"})
    rec.wait_page_ms(alice, second["startedAt"], 3000)
    results.append(rec.stop(alice, "stopRecordMp4", directory=tmp_path, name="second").meta)
    results.append(rec.stop(alice, "stopRecordAac", directory=tmp_path, name="mix").meta)

    assert [(r["saved"], r["path"], r["fileName"]) for r in results] == [
        ("folder", "calls/2026/test.mp4", "test.mp4"),
        ("folder", "calls/2026/test (1).mp4", "test (1).mp4"),
        ("folder", "calls/2026/mix.m4a", "mix.m4a"),
    ], results
    assert alice.page.evaluate(LIST_JS) == ["calls/2026/mix.m4a", "calls/2026/test (1).mp4", "calls/2026/test.mp4"]
    for result in results:
        path = tmp_path / f"opfs-{result['fileName']}"
        path.write_bytes(base64.b64decode(alice.page.evaluate(READ_OPFS_JS, result["path"])))
        assert path.stat().st_size == result["size"]
        header = media.header_duration(path)
        decoded = media.decode(path)
        assert header is not None and abs(header - decoded.audio_seconds) < 0.6, (result["path"], header)
        assert_tones(decoded, {ALICE.tone_hz}, result["path"])
        if "video" in decoded.codecs:
            assert_colour(decoded, ALICE)
    assert not alice.errors, alice.errors
