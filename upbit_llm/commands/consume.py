"""Write Kafka ticker messages into the database: batched, idempotent, offsets committed after the DB commit."""

from __future__ import annotations

import argparse
import sys

from upbit_llm.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-messages", type=int, default=0, help="stop after this many messages (0 = run forever)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    print("this command is not available in this build yet (tracked in issue 3)", file=sys.stderr)
    return 2
