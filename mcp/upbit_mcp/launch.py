"""Start the MCP server over stdio (Claude Desktop / Claude Code) or streamable HTTP (127.0.0.1 unless MCP_TOKEN).

`upbit-llm mcp` and `python -m upbit_mcp` both run this, so the flags are defined once. The server modules are
imported inside `run` so that `upbit-llm --help` does not load the MCP SDK.
"""

from __future__ import annotations

import argparse
import sys

from upbit_core.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default=None, help="HTTP bind address (default MCP_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default MCP_PORT)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Here, not at module top: the CLI imports this module for `upbit-llm --help`; the server (MCP SDK, analytics)
    # loads only when the command runs.
    from upbit_mcp.http import InsecureBind, serve_http
    from upbit_mcp.server import build_server

    if args.transport == "stdio":
        # stdout carries the protocol; everything for people goes to stderr.
        print(f"upbit MCP server on stdio (database {settings.timescaledb_dbname})", file=sys.stderr)
        build_server(settings).run("stdio")
        return 0
    host = args.host or settings.mcp_host
    port = args.port or settings.mcp_port
    try:
        print(f"upbit MCP server on http://{host}:{port}/mcp", file=sys.stderr)
        serve_http(settings, host, port)
    except InsecureBind as exc:
        print(f"mcp: {exc}", file=sys.stderr)
        return 2
    return 0
