"""The web server: `python -m netcall_site.serve [--host 127.0.0.1] [--port 8000] [--proxy-headers]`.

One uvicorn process serves everything on one origin: pages, the HTTP APIs, the tus uploads and the
signalling WebSocket (Channels). uvicorn, not Daphne, because it hands a request to the application as soon
as its headers arrive and stops reading the socket while the application does not consume the body (flow
control), so an upload streams to disk with flat memory and a refused one is answered before its body is
read; Daphne receives every body whole first (README "Uploads", docs/performance.md). `make run`, the
end-to-end tests and the deployment docs all start the server through this module, with these options.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvicorn

# The signalling consumer refuses frames over NETCALL_MAX_MESSAGE_BYTES with an error frame; the WebSocket
# layer drops a connection whose frame is larger still than this (a cap, like the HTTP body cap).
WS_MAX_FRAME_BYTES = 1024 * 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips (behind nginx)",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="comma list of proxy addresses whose X-Forwarded-* headers are trusted",
    )
    parser.add_argument("--log-level", default=os.environ.get("NETCALL_SERVER_LOG_LEVEL", "info"))
    parser.add_argument(
        "--app",
        default="netcall_site.asgi:application",
        help="the ASGI application (benchmarks serve their baselines with the same server and options)",
    )
    args = parser.parse_args(argv)
    uvicorn.run(
        args.app,
        **uvicorn_options(),
        host=args.host,
        port=args.port,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_level=args.log_level,
    )


def uvicorn_options() -> dict[str, Any]:
    """How uvicorn is set up for netcall (also used by bench/bare_asgi.py, so that its baseline is fair)."""
    return {
        "http": "httptools",
        "ws": "websockets-sansio",
        "ws_max_size": WS_MAX_FRAME_BYTES,
        "lifespan": "off",  # Channels' router speaks no lifespan protocol; start-up runs at import
        "server_header": False,
    }


if __name__ == "__main__":
    main()
