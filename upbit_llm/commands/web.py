"""Run the web dashboard (market overview, summaries, anomaly feed, coin charts and Q&A) with uvicorn.

Binds 127.0.0.1 by default (WEB_HOST/WEB_PORT or --host/--port). Set WEB_TOKEN to require a bearer token
(browsers: open the page once with ?token=..., a cookie keeps it).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from upbit_core.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="bind address (default: WEB_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: WEB_PORT, 8000)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from dashboard.app import build_app

    host = args.host or settings.web_host
    port = args.port if args.port is not None else settings.web_port
    if not 0 < port < 65536:
        print(f"--port {port} is not a TCP port; use 1-65535", file=sys.stderr)
        return 2
    has_token = bool(settings.web_token.get_secret_value())
    if not is_loopback(host) and not has_token:
        print(
            f"refusing to serve the dashboard on {host} without a token: anyone who can reach it could read it "
            "and spend the Q&A budget. Set WEB_TOKEN, or bind 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    app = build_app(settings.model_copy(update={"web_host": host}))
    shown = f"[{host}]" if ":" in host else host
    print(f"dashboard on http://{shown}:{port}/  (token {'required' if has_token else 'off'}; Ctrl-C stops)")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        # Open live streams (server-sent events) would otherwise hold shutdown forever.
        timeout_graceful_shutdown=3,
        proxy_headers=False,
        server_header=False,
    )
    import logging

    from dashboard.auth import RedactTokenFilter

    logging.getLogger("uvicorn.access").addFilter(RedactTokenFilter())
    try:
        uvicorn.Server(config).run()
    except OSError as exc:
        print(
            f"cannot listen on {host}:{port}: {exc} — choose another --port or stop the other server",
            file=sys.stderr,
        )
        return 1
    return 0
