"""Chromium processes with fake media, and `ParticipantPage`: one participant's page with the probes and
SDK helpers tests use (what the `participant` fixture returns)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, Playwright

from .capture import MediaFiles, Participant, colour_rgb
from .recorder import RecordingHandle

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)
DEFAULT_TIMEOUT_MS = 30_000
MEDIA_TIMEOUT = 45.0
COLOUR_TOLERANCE = 40.0
TONE_TOLERANCE_HZ = 30.0
SILENCE_DB = -90.0
PROBE_JS = (Path(__file__).with_name("probe.js")).read_text(encoding="utf-8")

# Console errors no test should fail on: the browser asking for an icon the site doesn't have.
ALWAYS_ALLOWED_CONSOLE = (re.compile(r"favicon\.ico"),)


def chromium_executable() -> str | None:
    """The system's Chromium when installed (e.g. Debian's), else None: Playwright's own browser."""
    found = shutil.which("chromium") if not SYSTEM_CHROMIUM.exists() else str(SYSTEM_CHROMIUM)
    return found


def launch_chromium(playwright: Playwright, media: MediaFiles) -> Browser:
    """One Chromium process whose fake microphone and camera read `media`."""
    return playwright.chromium.launch(
        executable_path=chromium_executable(),
        headless=True,
        args=[
            *CHROMIUM_FLAGS,
            f"--use-file-for-fake-audio-capture={media.wav}",
            f"--use-file-for-fake-video-capture={media.y4m}",
        ],
    )


@dataclass
class ProbeResult:
    """What a probe measured on one stream (see probe.js)."""

    raw: dict[str, Any]

    @property
    def rgb(self) -> tuple[float, float, float] | None:
        rgb = self.raw.get("rgb")
        return None if rgb is None else (float(rgb[0]), float(rgb[1]), float(rgb[2]))

    @property
    def freq(self) -> float | None:
        freq = self.raw.get("freq")
        return None if freq is None else float(freq)

    @property
    def peak_db(self) -> float | None:
        peak = self.raw.get("peakDb")
        return None if peak is None else float(peak)

    @property
    def fresh(self) -> bool:
        return bool(self.raw.get("fresh"))

    def colour_matches(self, rgb: Iterable[int], tolerance: float = COLOUR_TOLERANCE) -> bool:
        got = self.rgb
        return self.fresh and got is not None and all(abs(g - e) <= tolerance for g, e in zip(got, rgb, strict=True))

    def tone_matches(self, tone_hz: float, tolerance: float = TONE_TOLERANCE_HZ) -> bool:
        return (
            self.freq is not None
            and self.peak_db is not None
            and self.peak_db > SILENCE_DB
            and abs(self.freq - tone_hz) <= tolerance
        )

    def __str__(self) -> str:
        return json.dumps(self.raw, sort_keys=True)


@dataclass
class ParticipantPage:
    """One participant's page, in its own browser context, with the probes tests need.

    Every SDK event of `window.netcall` is recorded from the page's first script on
    (probe.js hooks the assignment of `window.netcall`), per page load.
    """

    participant: Participant
    base_url: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    allowed_console: list[re.Pattern[str]] = field(default_factory=list)
    channel: str | None = None
    sdk: str = "window.netcall"  # the JS expression of the page's SDK instance (`.netcall()`)
    files_dir: Path | None = None  # where `.record()` writes finished files

    @property
    def account(self) -> str:
        return self.participant.account

    # --- error bookkeeping -------------------------------------------------------------
    def allow_console_error(self, pattern: str) -> None:
        """Do not fail the test on console.error messages matching `pattern` (a regex)."""
        self.allowed_console.append(re.compile(pattern))

    def _on_console(self, message: ConsoleMessage) -> None:
        location = message.location.get("url", "") if message.location else ""
        line = f"[{message.type}] {message.text} ({location})"
        self.console.append(line)
        if message.type != "error":
            return
        text = f"{message.text} {location}"
        allowed = (*ALWAYS_ALLOWED_CONSOLE, *self.allowed_console)
        if not any(p.search(text) for p in allowed):
            self.errors.append(f"console.error: {message.text} ({location})")

    def _on_pageerror(self, error: Error) -> None:
        self.console.append(f"[pageerror] {error}")
        self.errors.append(f"pageerror: {error.message}\n{error.stack or ''}")

    # --- room ----------------------------------------------------------------------------
    def room_url(self, channel: str, *, type: str | None = None) -> str:
        from urllib.parse import quote, urlencode

        query = {"account": self.account}
        if type is not None:
            query["type"] = type
        return f"{self.base_url}/room/{quote(channel, safe='')}/?{urlencode(query)}"

    def join(self, channel: str, *, type: str | None = None) -> None:
        """Open the demo room page and wait until its joinChannel promise resolves; fail if it rejects."""
        state = self.open_room(channel, type=type)
        assert state == "ok", f"{self.account}: joinChannel failed: {state}"

    def open_room(self, channel: str, *, type: str | None = None) -> str:
        """Open the demo room page; return how its join settled: "ok" or "error: CODE message"."""
        self.channel = channel
        self.page.goto(self.room_url(channel, type=type))
        return self.join_state()

    def join_state(self, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> str:
        """Wait for `window.netcallReady` (the page's joinChannel promise) to settle and say how."""
        self.page.wait_for_function(
            "() => window.netcall !== undefined && window.netcallReady !== undefined",
            timeout=timeout_ms,
        )
        self.page.evaluate(
            """() => {
                const ready = window.netcallReady;
                window.__e2eReady = undefined;
                Promise.resolve(ready).then(
                    () => { if (window.netcallReady === ready) window.__e2eReady = 'ok'; },
                    (e) => {
                        if (window.netcallReady === ready)
                            window.__e2eReady = 'error: ' + (e && (e.code || e.name)) + ' ' + (e && e.message);
                    },
                );
            }"""
        )
        self.page.wait_for_function("() => window.__e2eReady !== undefined", timeout=timeout_ms)
        return str(self.page.evaluate("() => window.__e2eReady"))

    def wait_ready(self, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> None:
        """Wait until the page has joined; fail if its joinChannel rejected."""
        state = self.join_state(timeout_ms)
        assert state == "ok", f"{self.account}: joinChannel failed: {state}"

    def reload(self) -> None:
        """Reload the page (a fresh SDK instance joins again) and wait until it has joined."""
        self.page.reload()
        self.wait_ready()

    # --- the kit's API (README "Testing your app with netcall") ------------------------------
    def netcall(self, expr: str) -> Any:
        """Evaluate the JS expression `expr` with `netcall` bound to the page's SDK instance and return
        its (awaited) value, e.g. `alice.netcall("netcall.setMute('audio', true)")`."""
        return self.page.evaluate(f"async () => {{ const netcall = {self.sdk}; return await ({expr}); }}")

    def wait_for_member(self, account: str, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> None:
        """Wait until `account` is among the SDK's remote members."""
        try:
            self.page.wait_for_function(
                f"(a) => {{ const nc = {self.sdk}; return !!nc && [...(nc.members ?? [])].includes(a); }}",
                arg=account,
                timeout=timeout_ms,
            )
        except Error as exc:
            raise AssertionError(f"{self.account}: {account} never joined; members {self.members()}") from exc

    def wait_for_remote_media(
        self,
        account: str,
        *,
        tone: float | None = None,
        colour: str | tuple[int, int, int] | None = None,
        timeout: float = MEDIA_TIMEOUT,
    ) -> ProbeResult:
        """Probe `account`'s stream as this page receives it until it carries `tone` (Hz) and `colour`
        (by content: a fresh frame of that colour, that frequency in the sound); fail with the last probe."""
        if tone is None and colour is None:
            raise ValueError("give tone=, colour= or both")
        rgb = None if colour is None else colour_rgb(colour)
        deadline = time.monotonic() + timeout
        while True:
            result = self.probe(account)
            if (rgb is None or result.colour_matches(rgb)) and (tone is None or result.tone_matches(tone)):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.account} <- {account}: expected colour {rgb} (±{COLOUR_TOLERANCE:.0f}) and tone "
                    f"{tone} Hz (±{TONE_TOLERANCE_HZ:.0f}) within {timeout:.0f} s; last probe: {result}"
                )

    def record(
        self, target: str | None = None, *, kind: str = "mp4", save: str | list[str] = "none"
    ) -> RecordingHandle:
        """Start a recording in the page: `kind="mp4"` of `target` (default yourself) with startRecordMp4,
        `kind="aac"` of the mix with startRecordAac; `save` as in the SDK ("none", "upload", ...)."""
        if kind not in ("mp4", "aac"):
            raise ValueError(f"kind must be 'mp4' or 'aac', not {kind!r}")
        assert self.files_dir is not None, "this page has no directory for recorded files"
        return RecordingHandle(self, kind, target, self.files_dir).start(save)

    def save_blob(self, expr: str, name: str) -> Path:
        """Write the Blob the page's JS expression `expr` evaluates to (e.g. a stop result's `blob` that an
        embedding page was handed) under the test's directory as `name`; return its path."""
        assert self.files_dir is not None, "this page has no directory for files"
        data = self.page.evaluate(
            f"""async () => {{
                const blob = await ({expr});
                const url = await new Promise((resolve, reject) => {{
                    const reader = new FileReader();
                    reader.onload = () => resolve(String(reader.result));
                    reader.onerror = () => reject(reader.error);
                    reader.readAsDataURL(blob);
                }});
                return url.slice(url.indexOf(';base64,') + 8);
            }}"""
        )
        path = self.files_dir / name
        path.write_bytes(base64.b64decode(data))
        return path

    def leave_with_button(self) -> None:
        self.page.click("#leave")

    def members(self) -> list[str]:
        return sorted(self.page.evaluate("() => [...(window.netcall?.members ?? [])]"))

    def wait_for_members(self, accounts: Iterable[str], timeout_ms: float = DEFAULT_TIMEOUT_MS) -> None:
        """Wait until `netcall.members` is exactly `accounts` (remote members, any order)."""
        expected = sorted(accounts)
        try:
            self.page.wait_for_function(
                """(expected) => {
                    const nc = window.netcall;
                    if (!nc) return false;
                    const got = [...nc.members].sort();
                    return JSON.stringify(got) === JSON.stringify(expected);
                }""",
                arg=expected,
                timeout=timeout_ms,
            )
        except Exception as exc:
            raise AssertionError(f"{self.account}: members {self.members()} never became {expected}") from exc

    # --- events --------------------------------------------------------------------------
    def events(self, name: str | None = None, account: str | None = None) -> list[dict[str, Any]]:
        """SDK events recorded since this page load, optionally filtered."""
        events: list[dict[str, Any]] = self.page.evaluate("() => window.__e2e.events")
        return [
            e
            for e in events
            if (name is None or e["name"] == name) and (account is None or e.get("account") == account)
        ]

    def event_count(self) -> int:
        return int(self.page.evaluate("() => window.__e2e.events.length"))

    def wait_for_event(
        self,
        name: str,
        account: str | None = None,
        *,
        after: int = 0,
        timeout_ms: float = DEFAULT_TIMEOUT_MS,
    ) -> dict[str, Any]:
        """Wait for an event `name` (for `account`) at index >= `after` in the event log."""
        arg = {"name": name, "account": account, "after": after}
        try:
            self.page.wait_for_function(
                """({name, account, after}) => window.__e2e.events.slice(after).some(
                    (e) => e.name === name && (account === null || e.account === account))""",
                arg=arg,
                timeout=timeout_ms,
            )
        except Exception as exc:
            raise AssertionError(
                f"{self.account}: no {name!r} event for {account!r} after #{after}; events: {self.events()}"
            ) from exc
        return next(
            e for e in self.events()[after:] if e["name"] == name and (account is None or e.get("account") == account)
        )

    # --- media probes --------------------------------------------------------------------
    def probe(self, account: str) -> ProbeResult:
        """Measure colour and tone of `netcall.getRemoteStream(account)` once."""
        return ProbeResult(self.page.evaluate("(a) => window.__e2e.probeRemote(a)", account))

    def probe_local(self) -> ProbeResult:
        """Measure `netcall.getLocalStream()` once."""
        return ProbeResult(self.page.evaluate("() => window.__e2e.probeLocal()"))

    def probe_expression(self, label: str, stream_js: str) -> ProbeResult:
        """Measure the MediaStream that the JS expression `stream_js` evaluates to (in page scope)."""
        return ProbeResult(
            self.page.evaluate(f"async () => window.__e2e.probe({json.dumps(label)}, await ({stream_js}))")
        )

    def expect_media_from(
        self,
        remote: Participant,
        *,
        timeout: float = MEDIA_TIMEOUT,
        video: bool = True,
        audio: bool = True,
    ) -> ProbeResult:
        """Probe `remote.account`'s stream until its colour and tone match `remote`, or fail."""
        return self.expect_probe(
            lambda: self.probe(remote.account),
            remote,
            f"{self.account} <- {remote.account}",
            timeout=timeout,
            video=video,
            audio=audio,
        )

    def expect_local_media(self, *, timeout: float = MEDIA_TIMEOUT) -> ProbeResult:
        return self.expect_probe(self.probe_local, self.participant, f"{self.account} local", timeout=timeout)

    def expect_probe(
        self,
        measure: Callable[[], ProbeResult],
        expected: Participant,
        what: str,
        *,
        timeout: float,
        video: bool = True,
        audio: bool = True,
    ) -> ProbeResult:
        """Call `measure` until its result matches `expected`'s colour and tone, or fail at `timeout`."""
        deadline = time.monotonic() + timeout
        result = measure()
        while True:
            ok_video = not video or result.colour_matches(expected.rgb)
            ok_audio = not audio or result.tone_matches(expected.tone_hz)
            if ok_video and ok_audio:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: expected rgb {expected.rgb} (±{COLOUR_TOLERANCE:.0f}) and "
                    f"{expected.tone_hz} Hz (±{TONE_TOLERANCE_HZ:.0f}); last probe: {result}"
                )
            result = measure()  # each probe waits up to 1.5 s for a fresh frame

    def expect_no_stream_from(self, account: str, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> None:
        """Wait until `getRemoteStream(account)` is null or has no live track."""
        self.page.wait_for_function(
            """(a) => {
                const s = window.netcall?.getRemoteStream(a);
                return !s || s.getTracks().every((t) => t.readyState === 'ended');
            }""",
            arg=account,
            timeout=timeout_ms,
        )


def open_participant_page(
    browser: Browser, participant: Participant, base_url: str, *, files_dir: Path | None = None
) -> ParticipantPage:
    """A new context and page in `browser`, with probes injected and errors collected."""
    context = browser.new_context(viewport={"width": 800, "height": 600})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.add_init_script(PROBE_JS)
    page = context.new_page()
    wrapper = ParticipantPage(
        participant=participant, base_url=base_url, context=context, page=page, files_dir=files_dir
    )
    page.on("console", wrapper._on_console)
    page.on("pageerror", wrapper._on_pageerror)
    return wrapper
