"""List anomaly events with market, kind, severity, status, event times, key metrics and interpretation."""

from __future__ import annotations

import argparse
import sys

from upbit_llm.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="ISO timestamp; default: last 24 hours")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, settings: Settings) -> int:
    print("this command is not available in this build yet (tracked in issue 6)", file=sys.stderr)
    return 2
