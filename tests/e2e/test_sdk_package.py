"""The SDK as the npm package `netcall`, used the way a product team would: packed with `npm pack`,
installed into a scratch project outside the checkout, bundled with esbuild, type-checked with tsc
against the declarations the package ships, and the bundled page, served from an origin of its own,
joins a call on a running netcall server and records itself.

The tools are the checkout's own (node_modules/.bin: esbuild and TypeScript pinned in package.json,
installed by `npm ci`); the package has no runtime dependency, so installing its tarball needs no
registry (`npm install --offline`)."""

from __future__ import annotations

import functools
import json
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from recording.testing import media
from recording.testing import recorder as rec
from recording.testing.browser import ParticipantPage
from recording.testing.capture import ALICE, BOB
from recording.testing.server import free_port
from tests.support import recording_checks as checks
from tests.support.paths import REPO_ROOT

from .conftest import ServerFactory

pytestmark = pytest.mark.e2e

OpenParticipant = Callable[..., ParticipantPage]
SDK_DIR = REPO_ROOT / "static" / "netcall"
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
RECORD_SECONDS = 3

# The scratch project's page: the package's three entry points, as a bundler resolves them.
PAGE_ENTRY = """\
import { Netcall, NetcallError } from 'netcall';
import { attachStream } from 'netcall/dom';
import { NetcallEmbed } from 'netcall/embed';

window.packaged = {
  embed: typeof NetcallEmbed.create === 'function',
  async join({ url, account, token, channelName }) {
    const netcall = new Netcall({ account, token, url, recordSave: 'none' });
    window.netcall = netcall; // where the tests' probes and recording helpers find it
    netcall.on('remoteTrack', ({ stream }) => attachStream(document.getElementById('remote'), stream));
    try {
      const joined = await netcall.joinChannel({ channelName, type: Netcall.NETCALL_TYPE_VIDEO });
      await attachStream(document.getElementById('self'), netcall.getLocalStream(), { muted: true });
      return { ok: true, members: joined.members, account: joined.account };
    } catch (err) {
      return { ok: false, netcallError: err instanceof NetcallError, code: err.code, message: err.message };
    }
  },
};
"""

PAGE_HTML = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A product page built with the netcall package</title></head>
<body>
<video id="self" muted playsinline></video>
<video id="remote" playsinline></video>
<script type="module" src="/page.js"></script>
</body></html>
"""

TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "target": "ES2022",
        "module": "ESNext",
        "moduleResolution": "bundler",
        "lib": ["ES2023", "DOM", "DOM.Iterable"],
        "types": [],
        "skipLibCheck": False,  # the shipped declarations themselves must type-check
    },
    "files": ["app.ts"],
}

# A TypeScript file of a team's code, using the public API: options, results, typed events, errors.
APP_TS = """\
import {
  ClientErrorCode, InvalidStateError, Netcall, NetcallError, NetcallEvent,
  type JoinResult, type NetcallOptions, type RecordResult, type RecordStateChange, type StartResult,
} from 'netcall';
import { NetcallEmbed, NetcallEmbedError, type EmbedOptions } from 'netcall/embed';
import { attachStream, detachStream } from 'netcall/dom';

export async function call(video: HTMLVideoElement): Promise<string[]> {
  const options: NetcallOptions = { account: 'alice', token: 'a-token', url: 'wss://call.example.org/ws/netcall/' };
  const netcall = new Netcall(options);
  const seen: string[] = [];
  const off = netcall.on('recordStateChange', (e) => seen.push(e.target ?? 'the mix'));
  netcall.on(NetcallEvent.REMOTE_TRACK, ({ stream }) => void attachStream(video, stream));
  netcall.once('leaveChannel', ({ account, reason }) => seen.push(`${account}: ${reason}`));
  netcall.on('error', (err: NetcallError) => seen.push(err.code));
  const joined: JoinResult = await netcall.joinChannel({ channelName: 'demo', type: Netcall.NETCALL_TYPE_VIDEO });
  const started: StartResult = await netcall.startRecordMp4({ save: 'none', videoBitsPerSecond: 1_000_000 });
  await netcall.startRecordMp4('bob');
  const mine: RecordResult = await netcall.stopRecordMp4();
  const bobs: RecordResult = await netcall.stopRecordMp4({ account: 'bob' });
  const blob: Blob = mine.blob;
  try {
    await netcall.stopRecordAac();
  } catch (err) {
    if (err instanceof InvalidStateError && err.code === ClientErrorCode.NOT_RECORDING) seen.push(err.message);
  }
  const changes: RecordStateChange[] = [];
  off();
  detachStream(video);
  await netcall.leaveChannel();
  const embedOptions: EmbedOptions = {
    container: document.body, account: 'alice', token: 'a-token', server: 'https://call.example.org',
  };
  const embed = await NetcallEmbed.create(embedOptions);
  await embed.joinChannel({ channelName: 'demo', type: NetcallEmbed.NETCALL_TYPE_VIDEO });
  embed.destroy();
  seen.push(new NetcallEmbedError('embed_timeout').code);
  return [...joined.members, started.fileName, bobs.fileName, String(blob.size), String(changes.length), ...seen];
}
"""

# Mistakes a team could make, each with the error tsc must report for it.
DELIBERATE_ERRORS = {
    "a field the event does not carry": (
        "new Netcall({ account: 'a', token: 't' }).on('joinChannel', (e) => e.target);",
        "error TS2339: Property 'target' does not exist on type '{ account: string; }'.",
    ),
    "an option of the wrong type": (
        "void new Netcall({ account: 'a', token: 't' }).startRecordMp4({ videoBitsPerSecond: 'fast' });",
        "error TS2322: Type 'string' is not assignable to type 'number'.",
    ),
}


@dataclass
class ScratchProject:
    """A project outside the checkout with the packed SDK installed in its node_modules."""

    directory: Path
    tarball: Path
    packed_files: list[str]

    @property
    def installed(self) -> Path:
        return self.directory / "node_modules" / "netcall"


def run(args: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=180, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def scratch_project(tmp_path_factory: pytest.TempPathFactory) -> ScratchProject:
    # The declarations are generated, not committed: make them as `make test` does (a no-op when fresh).
    run(["make", "--no-print-directory", "sdk-types"], REPO_ROOT)
    work = tmp_path_factory.mktemp("sdk-package")
    assert REPO_ROOT not in work.resolve().parents, "the scratch project must live outside the checkout"
    packed: dict[str, Any] = json.loads(
        run(["npm", "pack", "--json", "--loglevel=error", "--pack-destination", str(work)], SDK_DIR).stdout
    )[0]
    tarball = work / packed["filename"]
    project = work / "project"
    project.mkdir()
    (project / "package.json").write_text(json.dumps({"name": "scratch", "private": True, "type": "module"}))
    offline = ["--offline", "--no-audit", "--no-fund", "--loglevel=error", "--cache", str(work / "cache")]
    run(["npm", "install", *offline, str(tarball)], project)
    return ScratchProject(project, tarball, sorted(f["path"] for f in packed["files"]))


def test_the_package_holds_the_served_modules_and_their_declarations(scratch_project: ScratchProject) -> None:
    modules = sorted(p.name for p in SDK_DIR.glob("*.js"))
    declarations = sorted(f"types/{name.removesuffix('.js')}.d.ts" for name in modules)
    assert scratch_project.packed_files == sorted([*modules, *declarations, "package.json"])
    with tarfile.open(scratch_project.tarball) as tar:
        assert all(name.startswith("package/") for name in tar.getnames())
    for name in modules:  # the very files the server serves: nothing was built
        assert (scratch_project.installed / name).read_bytes() == (SDK_DIR / name).read_bytes(), name
    installed = json.loads((scratch_project.directory / "package.json").read_text())
    assert list(installed["dependencies"]) == ["netcall"]
    assert not (scratch_project.installed / "node_modules").exists(), "the package pulled in dependencies"


def write_typescript(project: Path, extra: str = "") -> int:
    """Write tsconfig.json and app.ts (with `extra` as its last line); return that line's number."""
    (project / "tsconfig.json").write_text(json.dumps(TSCONFIG, indent=2))
    source = APP_TS + extra + "\n"
    (project / "app.ts").write_text(source)
    return source.count("\n")


def tsc(project: Path) -> subprocess.CompletedProcess[str]:
    return run([str(NODE_BIN / "tsc"), "-p", "tsconfig.json"], project, check=False)


def test_typescript_type_checks_the_public_api(scratch_project: ScratchProject) -> None:
    write_typescript(scratch_project.directory)
    result = tsc(scratch_project.directory)
    assert result.returncode == 0, f"tsc rejected correct uses of the package:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("mistake", list(DELIBERATE_ERRORS))
def test_typescript_reports_a_deliberate_type_error(scratch_project: ScratchProject, mistake: str) -> None:
    line, expected = DELIBERATE_ERRORS[mistake]
    number = write_typescript(scratch_project.directory, f"call; {line}")
    result = tsc(scratch_project.directory)
    errors = [out for out in result.stdout.splitlines() if "error TS" in out]
    assert result.returncode != 0 and len(errors) == 1, f"{mistake}: tsc said\n{result.stdout}{result.stderr}"
    assert errors[0].startswith(f"app.ts({number},"), errors[0]
    assert errors[0].endswith(expected), errors[0]


class StaticSite:
    """A directory served on a loopback port of its own: another origin than the netcall server's."""

    def __init__(self, directory: Path, port: int) -> None:
        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.origin = f"http://127.0.0.1:{port}"
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=str(directory)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"site-{port}", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def bundled_site(scratch_project: ScratchProject) -> Iterator[StaticSite]:
    project = scratch_project.directory
    (project / "page.js").write_text(PAGE_ENTRY)
    dist = project / "dist"
    run(
        [str(NODE_BIN / "esbuild"), "page.js", "--bundle", "--format=esm", "--target=es2022", "--outfile=dist/page.js"],
        project,
    )
    bundle = (dist / "page.js").read_text()
    for entry in ("netcall.js", "embed.js", "dom.js"):  # esbuild heads each module it bundles with its path
        assert f"// node_modules/netcall/{entry}\n" in bundle, f"{entry} is not in the bundle"
    assert "from 'netcall" not in bundle and "/static/netcall/" not in bundle, "the bundle still imports the SDK"
    (dist / "index.html").write_text(PAGE_HTML)
    site = StaticSite(dist, free_port())
    yield site
    site.close()


def test_the_bundled_page_from_another_origin_joins_a_call_and_records_itself(
    bundled_site: StaticSite, daphne_server: ServerFactory, open_participant: OpenParticipant, tmp_path: Path
) -> None:
    server = daphne_server(NETCALL_WS_ORIGINS=bundled_site.origin)
    channel = checks.unique_channel("package")
    bob = open_participant(BOB, server)
    bob.join(channel)

    alice = open_participant(ALICE, base_url=bundled_site.origin)
    requested: list[str] = []
    alice.page.on("request", lambda request: requested.append(request.url))
    sockets: list[str] = []
    alice.page.on("websocket", lambda socket: sockets.append(socket.url))
    alice.page.goto(f"{bundled_site.origin}/index.html")
    alice.page.wait_for_function("() => window.packaged !== undefined")
    ws_url = server.url.replace("http://", "ws://", 1) + "/ws/netcall/"
    joined = alice.page.evaluate(
        "(args) => window.packaged.join(args)",
        {
            "url": ws_url,
            "account": "alice",
            "token": server.mint_token("alice", channel, grants=("publish", "record")),
            "channelName": channel,
        },
    )
    assert joined == {"ok": True, "members": ["bob"], "account": "alice"}, joined
    assert alice.page.evaluate("() => window.packaged.embed")
    bob.wait_for_members(["alice"])
    bob.expect_media_from(ALICE)  # the packaged SDK's peer connection carries alice's camera and microphone

    started = rec.start(alice, "startRecordMp4", {"save": "none"})
    assert started["account"] == "alice" and started["save"] == "none", started
    rec.wait_page_ms(alice, int(started["startedAt"]), RECORD_SECONDS * 1000)
    recorded = rec.stop(alice, "stopRecordMp4", directory=tmp_path, name="self")
    assert recorded.meta["account"] == "alice" and recorded.meta["saved"] == "none", recorded.meta

    decoded = media.decode(recorded.path)
    assert set(decoded.codecs) == {"audio", "video"}, decoded.codecs
    assert decoded.video_seconds >= RECORD_SECONDS - 1 and decoded.audio_seconds >= RECORD_SECONDS - 1
    checks.assert_colour(decoded, ALICE)
    checks.assert_tones(decoded, {float(ALICE.tone_hz)}, "alice's recording of herself")

    # Every module came from the bundle on the page's own origin; the server was only the WebSocket.
    assert requested and all(url.startswith(bundled_site.origin + "/") for url in requested), requested
    assert sockets == [ws_url], sockets
