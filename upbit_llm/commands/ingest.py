"""Stream the Upbit WebSocket ticker of every market in UPBIT_QUOTES into Kafka, or publish a recorded file."""

from __future__ import annotations

import argparse
import sys

from upbit_llm.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-file", metavar="FILE.jsonl", help="publish recorded ticker messages to Kafka")
    parser.add_argument("--codes", help="explicit market codes, comma separated (overrides UPBIT_QUOTES)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    print("this command is not available in this build yet (tracked in issue 3)", file=sys.stderr)
    return 2
