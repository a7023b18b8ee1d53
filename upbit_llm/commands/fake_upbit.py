"""Run the local Upbit-protocol replay server (WebSocket /websocket/v1 and REST /v1/market/all)."""

from __future__ import annotations

import argparse
import sys

from upbit_llm.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8590, help="0 picks a free port and prints the URLs")
    parser.add_argument("--file", metavar="FILE.jsonl", help="replay recorded messages")
    parser.add_argument("--speed", default="1", help="replay speed relative to the file's timestamps, or 'max'")
    parser.add_argument("--loop", action="store_true", help="replay the file forever")
    parser.add_argument("--simulate", action="store_true", help="run the market simulator")
    parser.add_argument("--markets", type=int, default=160, help="simulated markets")
    parser.add_argument("--rate", type=float, default=100.0, help="simulated messages per second")


def run(args: argparse.Namespace, settings: Settings) -> int:
    print("this command is not available in this build yet (tracked in issue 3)", file=sys.stderr)
    return 2
