"""Drive the SDK's recording API in a page and read the finished file back: `call`/`start`/`stop` for
any recording method, and `RecordingHandle` (what `ParticipantPage.record()` returns)."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from playwright.sync_api import Page


class ParticipantPage(Protocol):
    """What these helpers use of `recording.testing.browser.ParticipantPage`."""

    @property
    def account(self) -> str: ...

    page: Page


DEFAULT_TIMEOUT_MS = 30_000

RECORD_TIMEOUT_MS = 60_000

# Page-side helpers, installed once per page (idempotent). Results are kept in window.__rec by name;
# files come back as base64 (FileReader, so no string building in JS).
INSTALL_JS = """
() => {
  if (window.__rec) return;
  const toBase64 = (blob) => new Promise((resolve, reject) => {
    const reader = new FileReader();
    // The data URL's type may hold commas (codecs=avc3,opus): cut after ';base64,'.
    reader.onload = () => { const url = String(reader.result); resolve(url.slice(url.indexOf(';base64,') + 8)); };
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
  const describe = (err) => ({ error: (err && (err.code || err.name)) || String(err), name: err && err.name,
                               message: err && err.message });
  window.__rec = {
    results: {},
    async call(method, args) {
      try {
        const value = await window.netcall[method](...args);
        return { ok: true, value: value ?? null, at: Date.now() };
      } catch (err) {
        return { ok: false, ...describe(err), at: Date.now() };
      }
    },
    async stop(name, method, args) {
      const out = await window.__rec.call(method, args);
      if (!out.ok) return out;
      const { blob, ...meta } = out.value;
      window.__rec.results[name] = out.value;
      return { ok: true, at: out.at, meta: { ...meta, blobSize: blob.size, blobType: blob.type } };
    },
    async fetch(name) {
      return toBase64(window.__rec.results[name].blob);
    },
  };
}
"""


def install(page: ParticipantPage) -> None:
    page.page.evaluate(INSTALL_JS)


def call(page: ParticipantPage, method: str, *args: Any) -> dict[str, Any]:
    """Call `netcall[method](...args)`; {'ok': True, 'value', 'at'} or {'ok': False, 'error': code, ...}."""
    install(page)
    result: dict[str, Any] = page.page.evaluate(
        "([method, args]) => window.__rec.call(method, args)", [method, list(args)]
    )
    return result


def start(page: ParticipantPage, method: str, *args: Any) -> dict[str, Any]:
    """Start a recording; fail the test if it does not start. Returns the start result."""
    result = call(page, method, *args)
    assert result["ok"], f"{page.account}: {method}{args} failed: {result}"
    value: dict[str, Any] = result["value"]
    return value


@dataclass
class Recorded:
    """A finished recording fetched from the page."""

    meta: dict[str, Any]
    path: Path
    stopped_at: int  # page clock (ms since epoch) when stop resolved

    @property
    def duration(self) -> float:
        return float(self.meta["duration"])


def stop(page: ParticipantPage, method: str, *args: Any, directory: Path, name: str) -> Recorded:
    """Stop a recording, fetch its Blob, write it under `directory`, return what stop resolved with."""
    return fetch(page, stop_only(page, method, *args, name=name), directory=directory, name=name)


def stop_only(page: ParticipantPage, method: str, *args: Any, name: str) -> dict[str, Any]:
    """Stop a recording and keep its Blob in the page under `name` (`fetch` it later: reading a file out
    keeps a page busy, which the recordings still running there would feel)."""
    install(page)
    out: dict[str, Any] = page.page.evaluate(
        "([name, method, args]) => window.__rec.stop(name, method, args)", [name, method, list(args)]
    )
    assert out["ok"], f"{page.account}: {method}{args} failed: {out}"
    return out


def fetch(page: ParticipantPage, out: dict[str, Any], *, directory: Path, name: str) -> Recorded:
    """Write the Blob `stop_only` kept under `name` to `directory`."""
    data = base64.b64decode(page.page.evaluate("(name) => window.__rec.fetch(name)", name))
    meta = out["meta"]
    path = directory / meta["fileName"]
    path.write_bytes(data)
    assert len(data) == meta["size"] == meta["blobSize"], meta
    return Recorded(meta=meta, path=path, stopped_at=int(out["at"]))


def wait_page_ms(page: ParticipantPage, since_ms: int, duration_ms: int) -> None:
    """Wait until the page's own clock has passed `since_ms + duration_ms` (no sleep in the test)."""
    page.page.wait_for_function(
        "(until) => Date.now() >= until",
        arg=since_ms + duration_ms,
        timeout=duration_ms + DEFAULT_TIMEOUT_MS,
        polling=100,
    )


def page_now(page: ParticipantPage) -> int:
    return int(page.page.evaluate("() => Date.now()"))


_names = itertools.count(1)


class RecordingHandle:
    """A recording started by `ParticipantPage.record()`; `stop()` finishes it and returns the file on disk."""

    def __init__(self, page: ParticipantPage, kind: str, target: str | None, directory: Path) -> None:
        self.page, self.kind, self.target, self.directory = page, kind, target, directory
        self.started: dict[str, Any] = {}
        self.recorded: Recorded | None = None

    def start(self, save: str | list[str]) -> RecordingHandle:
        if self.kind == "aac":
            self.started = start(self.page, "startRecordAac", {"save": save})
        else:
            options: dict[str, Any] = {"save": save}
            if self.target is not None:
                options["account"] = self.target
            self.started = start(self.page, "startRecordMp4", options)
        return self

    @property
    def started_at(self) -> int:
        """The page clock (ms since epoch) when the recording started."""
        return int(self.started.get("startedAt") or page_now(self.page))

    def wait(self, seconds: float) -> RecordingHandle:
        """Wait until the recording is `seconds` old by the page's clock (a condition, not a sleep)."""
        wait_page_ms(self.page, self.started_at, int(seconds * 1000))
        return self

    def stop(self) -> Path:
        """Stop, write the file under the test's temporary directory and return its path."""
        if self.kind == "aac":
            args: tuple[Any, ...] = ()
            method = "stopRecordAac"
        else:
            args = () if self.target is None else (self.target,)
            method = "stopRecordMp4"
        name = f"rec{next(_names)}"
        self.recorded = stop(self.page, method, *args, directory=self.directory, name=name)
        return self.recorded.path

    @property
    def seconds(self) -> float:
        """How long it recorded by the page's clock (after `stop()`)."""
        assert self.recorded is not None, "stop() the recording first"
        return (self.recorded.meta["stoppedAt"] - self.recorded.meta["startedAt"]) / 1000

    @property
    def result(self) -> dict[str, Any]:
        """What the SDK's stop resolved with (without the Blob): fileName, size, duration, recordingId, ..."""
        assert self.recorded is not None, "stop() the recording first"
        return self.recorded.meta
