"""The host site of the embed example: a tiny static server on its own origin serving host.html, and the
"backend" endpoint /token that mints join tokens with netcall's HTTP API (as your backend would). netcall
must list the host site's origin in NETCALL_EMBED_ORIGINS, so this conftest starts its own `netcall_server`
with that setting (`running_server` from the kit's plugin)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from recording.testing.plugin import running_server
from recording.testing.server import NetcallServer
from recording.testing.webhooks import CallbackReceiver

HOST_PAGE = Path(__file__).with_name("host.html").read_bytes()


class HostSite:
    def __init__(self) -> None:
        self.netcall: NetcallServer | None = None
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/host.html":
                    self.answer(200, "text/html; charset=utf-8", HOST_PAGE)
                elif url.path == "/token" and site.netcall is not None:
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    token = site.netcall.token(query["account"], query["channel"], grants=("publish", "record"))
                    self.answer(200, "application/json", json.dumps({"token": token}).encode())
                else:
                    self.answer(404, "text/plain", b"not found")

            def answer(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def host_site() -> Iterator[HostSite]:
    site = HostSite()
    yield site
    site.close()


@pytest.fixture(scope="session")
def netcall_server(
    tmp_path_factory: pytest.TempPathFactory, webhook_receiver: CallbackReceiver, host_site: HostSite
) -> Iterator[NetcallServer]:
    with running_server(
        tmp_path_factory.mktemp("netcall-embed"), webhook_receiver, NETCALL_EMBED_ORIGINS=host_site.origin
    ) as server:
        host_site.netcall = server
        yield server
