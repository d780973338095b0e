"""A call embedded in another site's page (/embed/ in an iframe, driven by static/netcall/embed.js).

Origins on loopback: the netcall server (Daphne) is one origin; a tiny static "host site" serves the
embedding pages on two other ports (both listed in NETCALL_EMBED_ORIGINS), and the same host site
reached as http://localhost:PORT is an origin that is not listed."""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import ConsoleMessage, Frame

from recording.testing import media
from recording.testing import recorder as rec
from recording.testing.browser import DEFAULT_TIMEOUT_MS, ParticipantPage, ProbeResult
from recording.testing.capture import ALICE, BOB, Participant
from recording.testing.server import DaphneServer, free_port
from tests.support.recording_checks import assert_tones as assert_decoded_tones
from tests.support.uploads import API_KEY, wait_for_status

from .conftest import ServerFactory

pytestmark = pytest.mark.e2e

OpenParticipant = Callable[..., ParticipantPage]
COLOUR_TOLERANCE = 45.0

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host site</title>
<style>#call {{ width: 640px; height: 420px; }}</style></head>
<body>
<h1>A product page that embeds a call</h1>
<div id="call"></div>
<script>
  // Every message this window receives, with where it came from.
  window.__messages = [];
  window.addEventListener('message', (e) => {{
    const d = (e.data && typeof e.data === 'object') ? e.data : {{}};
    const frame = document.querySelector('#call iframe');
    window.__messages.push({{ origin: e.origin, protocol: d.protocol || null, type: d.type || null,
      name: d.name || null, sibling: d.sibling || null, fromCallFrame: !!frame && e.source === frame.contentWindow }});
  }});
</script>
<script type="module">
  import {{ NetcallEmbed }} from '{server}/embed/embed.js';
  window.NetcallEmbed = NetcallEmbed;
  window.embedLoaded = true;
</script>
</body></html>
"""

# A page of another origin (or of the host's origin, but not the call frame's parent) that tries to
# command the call frame, and tells its own parent about anything it receives.
SIBLING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Intruder</title></head>
<body>
<script>
  window.addEventListener('message', (e) => {
    window.parent.postMessage({ sibling: location.origin, received: e.data && e.data.type }, '*');
  });
  const callFrame = window.parent.frames[0];
  for (const method of ['leaveChannel', 'stopDevice']) {
    callFrame.postMessage({ protocol: 'netcall-embed', version: 1, type: 'call', id: 'x-' + method,
                            method, args: method === 'stopDevice' ? [{ type: 0 }] : [] }, '*');
  }
</script>
</body></html>
"""

CREATE_JS = """
async ({ account, token, options }) => {
  window.__events = [];
  try {
    window.call = await window.NetcallEmbed.create({
      container: document.getElementById('call'), account, token, ...options });
  } catch (err) {
    return { ok: false, code: err.code, message: err.message };
  }
  for (const name of ['joinChannel', 'leaveChannel', 'remoteTrack', 'connectionState', 'recordStateChange',
                      'recordEnded', 'uploadProgress', 'error']) {
    window.call.on(name, (p) => window.__events.push({ name, account: p && p.account, state: p && p.state,
                                                      kind: p && p.kind, payload: p }));
  }
  return { ok: true, origin: window.call.origin };
}
"""

CALL_JS = """
async ([method, args]) => {
  try {
    const value = await window.call.call(method, ...args);
    if (value && value.blob instanceof Blob) {
      window.__files = window.__files || {};
      window.__files[value.fileName] = value.blob;
      const { blob, ...meta } = value;
      return { ok: true, value: { ...meta, blobSize: blob.size, blobType: blob.type } };
    }
    return { ok: true, value: value ?? null };
  } catch (err) {
    return { ok: false, code: err.code, name: err.name, message: err.message };
  }
}
"""

FETCH_FILE_JS = """
(name) => new Promise((resolve, reject) => {
  const reader = new FileReader();
  reader.onload = () => { const url = String(reader.result); resolve(url.slice(url.indexOf(';base64,') + 8)); };
  reader.onerror = () => reject(reader.error);
  reader.readAsDataURL(window.__files[name]);
})
"""


class HostSite:
    """A static site on its own port: the pages that embed the call."""

    def __init__(self, pages: dict[str, str]) -> None:
        site_pages = pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site_pages.get(self.path.split("?", 1)[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self.pages = pages
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"host-site-{self.port}", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def other_origin_url(self) -> str:
        """The same site under another origin (host name), one not allowed to embed the call."""
        return f"http://localhost:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def host_sites() -> Iterator[tuple[HostSite, HostSite]]:
    sites = (HostSite({}), HostSite({}))
    yield sites
    for site in sites:
        site.close()


@pytest.fixture(scope="module")
def embed_server(
    daphne_server: ServerFactory, host_sites: tuple[HostSite, HostSite], tmp_path_factory: pytest.TempPathFactory
) -> DaphneServer:
    root = tmp_path_factory.mktemp("embed-server")
    server = daphne_server(
        NETCALL_EMBED_ORIGINS=",".join(site.url for site in host_sites),
        NETCALL_MEDIA_ROOT=str(root / "media"),
        NETCALL_UPLOAD_STAGING_DIR=str(root / "staging"),
        NETCALL_UPLOAD_IDLE_SECONDS="3",
        NETCALL_API_KEY=API_KEY,
    )
    for site in host_sites:
        site.pages.update({"/host.html": HOST_PAGE.format(server=server.url), "/sibling.html": SIBLING_PAGE})
    return server


def unique_channel(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def open_host_page(open_participant: OpenParticipant, participant: Participant, site_url: str) -> ParticipantPage:
    page = open_participant(participant, base_url=site_url)
    page.page.goto(f"{site_url}/host.html")
    page.page.wait_for_function("() => window.embedLoaded === true")
    return page


def embed(host: ParticipantPage, server: DaphneServer, channel: str, **options: Any) -> dict[str, Any]:
    token = server.mint_token(host.account, channel, grants=("publish", "record", "upload"))
    result: dict[str, Any] = host.page.evaluate(
        CREATE_JS, {"account": host.account, "token": token, "options": options}
    )
    return result


def call(host: ParticipantPage, method: str, *args: Any) -> dict[str, Any]:
    result: dict[str, Any] = host.page.evaluate(CALL_JS, [method, list(args)])
    return result


def ok(host: ParticipantPage, method: str, *args: Any) -> Any:
    result = call(host, method, *args)
    assert result["ok"], f"{method}{args}: {result}"
    return result["value"]


def call_frame(host: ParticipantPage, server: DaphneServer) -> Frame:
    for frame in host.page.frames:
        if frame.url.startswith(f"{server.url}/embed/"):
            return frame
    raise AssertionError(f"no call frame in {[f.url for f in host.page.frames]}")


def expect_embedded_media_from(host: ParticipantPage, server: DaphneServer, remote: Participant) -> None:
    """Probe, inside the call frame, the stream the embedded call receives from `remote`."""
    frame = call_frame(host, server)
    host.expect_probe(
        lambda: ProbeResult(frame.evaluate("(a) => window.__e2e.probeRemote(a)", remote.account)),
        remote,
        f"{host.account} (embedded) <- {remote.account}",
        timeout=45.0,
    )


def fetch_file(host: ParticipantPage, meta: dict[str, Any], directory: Path) -> Path:
    data = base64.b64decode(host.page.evaluate(FETCH_FILE_JS, meta["fileName"]))
    assert len(data) == meta["size"] == meta["blobSize"], meta
    path = directory / meta["fileName"]
    path.write_bytes(data)
    return path


def assert_tones(path: Path, present: set[float]) -> media.Decoded:
    decoded = media.decode(path)
    assert_decoded_tones(decoded, present, path.name)
    return decoded


def host_messages(host: ParticipantPage) -> list[dict[str, Any]]:
    return list(host.page.evaluate("() => window.__messages"))


def is_ignored_notice(origin: str) -> Callable[[ConsoleMessage], bool]:
    return lambda message: f"netcall embed: ignored a message from {origin}" in message.text


# --- tests --------------------------------------------------------------------------------------


def test_embedded_call_with_recording_handed_to_the_host_page(
    embed_server: DaphneServer, host_sites: tuple[HostSite, HostSite], open_participant: OpenParticipant, tmp_path: Path
) -> None:
    """Alice in an iframe of the host site, Bob on the room page: they see and hear each other; the host
    page records Bob (MP4, also downloaded from the frame) and the mix (AAC call) through the helper."""
    channel = unique_channel("embed")
    host = open_host_page(open_participant, ALICE, host_sites[0].url)
    created = embed(host, embed_server, channel)
    assert created == {"ok": True, "origin": embed_server.url}
    joined = ok(host, "joinChannel", {"channelName": channel, "type": 2})
    assert joined["account"] == "alice" and joined["members"] == []

    bob = open_participant(BOB, embed_server)
    bob.join(channel)
    host.page.wait_for_function("() => window.__events.some((e) => e.name === 'joinChannel' && e.account === 'bob')")
    # remoteTrack is forwarded with the stream described, not the stream itself
    host.page.wait_for_function(
        "() => window.__events.some((e) => e.name === 'remoteTrack' && e.account === 'bob' && e.payload.track.kind)"
    )
    bob.wait_for_members(["alice"])
    expect_embedded_media_from(host, embed_server, BOB)
    bob.expect_media_from(ALICE)
    frame = call_frame(host, embed_server)
    assert frame.locator('figure.tile[data-account="bob"] video').count() == 1
    assert ok(host, "getState")["members"] == ["bob"]

    started = ok(host, "startRecordMp4", {"account": "bob", "save": "download"})
    assert started["account"] == "bob" and started["kind"] == "mp4" and started["save"] == "download"
    mix_started = ok(host, "startRecordAac")  # the embed default: the file is handed to the host page
    assert mix_started["save"] == "none"
    host.page.wait_for_function(
        "() => window.__events.some((e) => e.name === 'recordStateChange' && e.payload.kind === 'aac'"
        " && e.payload.state === 'started')"
    )
    rec.wait_page_ms(host, started["startedAt"], 6000)

    with host.page.expect_download() as download_info:  # 'download' works inside the cross-origin frame
        member = ok(host, "stopRecordMp4", "bob")
    download = download_info.value
    assert download.suggested_filename == member["fileName"] == started["fileName"]
    mix = ok(host, "stopRecordAac")
    assert member["saved"] == "download" and mix["saved"] == "none"

    member_path = fetch_file(host, member, tmp_path)
    downloaded = tmp_path / "downloaded" / member["fileName"]
    download.save_as(downloaded)
    assert downloaded.read_bytes() == member_path.read_bytes()
    decoded = assert_tones(member_path, {float(BOB.tone_hz)})
    assert "video" in decoded.codecs
    colour = media.main_colour(decoded)
    assert np.all(np.abs(colour - np.array(BOB.rgb)) <= COLOUR_TOLERANCE), f"colour {colour.round()} is not Bob's"
    assert decoded.audio_seconds > 4.0

    mix_path = fetch_file(host, mix, tmp_path)
    assert mix["kind"] == "aac" and mix["mimeType"].startswith("audio/")
    assert_tones(mix_path, {float(ALICE.tone_hz), float(BOB.tone_hz)})

    # Everything the host page received came from the call frame, on the netcall origin.
    messages = host_messages(host)
    assert messages, "no messages from the call frame"
    assert all(m["fromCallFrame"] and m["origin"] == embed_server.url for m in messages), messages
    assert {"ready", "result", "event"} <= {m["type"] for m in messages}

    ok(host, "leaveChannel")
    bob.page.wait_for_function(
        "() => window.__e2e.events.some((e) => e.name === 'leaveChannel' && e.account === 'alice')"
    )


def test_embedded_recording_uploaded_to_the_server(
    embed_server: DaphneServer, host_sites: tuple[HostSite, HostSite], open_participant: OpenParticipant
) -> None:
    """save: 'upload' from inside the frame: the file reaches the server, byte for byte."""
    channel = unique_channel("embed-up")
    host = open_host_page(open_participant, ALICE, host_sites[1].url)  # the second allowed origin
    assert embed(host, embed_server, channel, recordSave="upload")["ok"]
    ok(host, "joinChannel", {"channelName": channel, "type": 2})
    started = ok(host, "startRecordMp4")
    assert started["save"] == "upload"
    host.page.wait_for_function(
        "() => window.__events.some((e) => e.name === 'uploadProgress' && e.payload.sent > 0)",
        timeout=60_000,
    )
    rec.wait_page_ms(host, started["startedAt"], 3000)
    result = ok(host, "stopRecordMp4")
    assert result["saved"] == "upload" and result["recordingId"], result
    data = base64.b64decode(host.page.evaluate(FETCH_FILE_JS, result["fileName"]))
    # Complete on the server (what the server makes of it afterwards is the library's business).
    server_side = wait_for_status(embed_server, result["recordingId"], ("finishing", "ready"))
    assert server_side["sha256"] == hashlib.sha256(data).hexdigest() == result["sha256"]


def test_a_page_on_another_origin_cannot_frame_the_call(
    embed_server: DaphneServer, host_sites: tuple[HostSite, HostSite], open_participant: OpenParticipant
) -> None:
    host = open_host_page(open_participant, ALICE, host_sites[0].other_origin_url)
    host.allow_console_error(r"Content Security Policy directive: \"frame-ancestors ")
    token = embed_server.mint_token("alice", "embed-refused")
    with host.page.expect_console_message(lambda m: "frame-ancestors" in m.text, timeout=DEFAULT_TIMEOUT_MS) as msg:
        host.page.evaluate(
            """([token]) => {
                window.__created = window.NetcallEmbed.create({ container: document.getElementById('call'),
                    account: 'alice', token, readyTimeout: 5000 })
                  .then(() => 'created', (err) => err.code);
            }""",
            [token],
        )
    assert f"Framing '{embed_server.url}/'" in msg.value.text and "blocked" in msg.value.text
    # The browser showed its error page instead: no netcall page, so no 'ready' and no call.
    assert host.page.evaluate("() => window.__created") == "embed_timeout"
    assert not any(frame.url.startswith(f"{embed_server.url}/embed/") for frame in host.page.frames)
    assert host_messages(host) == []


def test_commands_from_other_windows_and_origins_are_ignored(
    embed_server: DaphneServer, host_sites: tuple[HostSite, HostSite], open_participant: OpenParticipant
) -> None:
    """Another origin's frame, and a frame of the parent's own (allowed) origin that is not the parent,
    both try to make the call frame leave: it ignores them and answers neither."""
    channel = unique_channel("embed-x")
    host = open_host_page(open_participant, ALICE, host_sites[0].url)
    assert embed(host, embed_server, channel)["ok"]
    ok(host, "joinChannel", {"channelName": channel, "type": 2})
    for intruder in (host_sites[0].other_origin_url, host_sites[0].url):
        with host.page.expect_console_message(is_ignored_notice(intruder)):
            host.page.evaluate(
                """(url) => { const f = document.createElement('iframe'); f.src = url;
                              document.body.append(f); }""",
                f"{intruder}/sibling.html",
            )
    state = ok(host, "getState")
    assert state["channelName"] == channel and state["connectionState"] == "connected", state
    local = call_frame(host, embed_server).evaluate(
        "() => window.netcall.getLocalStream().getAudioTracks().map((t) => t.readyState)"
    )
    assert local == ["live"]  # stopDevice was not run either
    messages = host_messages(host)
    assert not [m for m in messages if m["sibling"]], "the call frame answered an intruder"
    assert all(m["origin"] == embed_server.url for m in messages if m["protocol"]), messages


def test_the_frame_talks_only_to_its_real_parents_origin(
    embed_server: DaphneServer, host_sites: tuple[HostSite, HostSite], open_participant: OpenParticipant
) -> None:
    """A page that claims another origin (even an allowed one) gets nothing: the frame checks the claim
    and would post to the claimed origin only, which the browser does not deliver to this page."""
    host = open_host_page(open_participant, ALICE, host_sites[0].url)
    with host.page.expect_console_message(lambda m: "netcall embed: not starting" in m.text) as msg:
        host.page.evaluate(
            """([server, claimed]) => { const f = document.createElement('iframe');
                f.allow = 'camera; microphone';
                f.src = server + '/embed/#parent=' + encodeURIComponent(claimed);
                document.getElementById('call').append(f); }""",
            [embed_server.url, host_sites[1].url],
        )
    assert host_sites[0].url in msg.value.text
    frame = call_frame(host, embed_server)
    frame.wait_for_selector("#status")
    assert frame.evaluate("() => window.netcall") is None
    assert host_messages(host) == []
