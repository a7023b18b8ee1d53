"""Run the MCP server over stdio or streamable HTTP."""

from __future__ import annotations

import argparse
import sys

from upbit_llm.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default=None, help="HTTP bind address (default MCP_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default MCP_PORT)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    print("this command is not available in this build yet (tracked in issue 4)", file=sys.stderr)
    return 2
