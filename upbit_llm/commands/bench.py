"""Run the benchmarks and print measured figures next to their goals."""

from __future__ import annotations

import argparse
import sys

from upbit_llm.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("which", nargs="?", default="all", help="all, ingest, mcp, tokens, anomaly")
    parser.add_argument("--json-out", default="artifacts/bench.json", help="where to write the JSON results")


def run(args: argparse.Namespace, settings: Settings) -> int:
    print("this command is not available in this build yet (tracked in issue 7)", file=sys.stderr)
    return 2
