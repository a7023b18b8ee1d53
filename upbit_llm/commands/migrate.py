"""Create the database if needed and apply the schema; running it twice changes nothing.

Prints the mode: `timescaledb` (hypertable, continuous aggregates, compression, retention) or `postgres`
(plain tables and views maintained by the incremental refresh). TIMESCALEDB_MODE=auto|on|off chooses.
"""

from __future__ import annotations

import argparse

from upbit_core.settings import Settings
from upbit_llm.output import print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for PostgreSQL (default 30)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from db.connection import DatabaseUnavailable, wait_for_database
    from db.migrate import MigrationError, migrate

    try:
        wait_for_database(settings, timeout=args.wait)
        report = migrate(settings)
    except (DatabaseUnavailable, MigrationError) as exc:
        print(f"migrate failed: {exc}")
        return 1
    if args.json:
        print_json(report.as_dict())
        return 0
    print(f"database {report.database}: mode={report.mode}" + (" (created)" if report.created_database else ""))
    if report.applied:
        for name in report.applied:
            print(f"  applied   {name}")
    else:
        print("  schema up to date: no new migrations")
    for name in report.changed:
        print(f"  WARNING   {name} changed after it was applied; add a new migration instead of editing it")
    print(f"  re-applied {len(report.idempotent)} idempotent file(s)")
    return 0
