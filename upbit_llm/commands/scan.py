"""Run one anomaly scan now: the same function as the Celery task `scan_anomalies` (without the LLM/alert hand-off).

Evaluates every 10-second bucket since the stored watermark exactly once, opens/escalates/resolves anomaly events
and prints what changed. Running it twice in a row evaluates nothing the second time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from upbit_core.settings import Settings
from upbit_llm.output import print_json

if TYPE_CHECKING:
    from anomaly.scan import ScanResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the scan result as JSON")
    parser.add_argument(
        "--replay",
        action="store_true",
        help="event time only: skip the wall-clock 'feed stopped' check (for data replayed from a file)",
    )
    parser.add_argument(
        "--since",
        type=_iso,
        default=None,
        metavar="ISO",
        help="rescan from this event time (e.g. 2026-01-01T00:00:00+00:00; naive times are UTC) to the newest data;"
        " events already recorded are not duplicated",
    )


def _iso(value: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO time: {value!r}") from exc
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _progress() -> Callable[[datetime, datetime, datetime, ScanResult], None]:
    """A progress line on stderr per committed chunk (an hour of event time) when the scan spans more than one
    chunk: a live scan never prints; a catch-up over days (a file load, a backfill, `--since`) says where it is
    and how long is left."""
    started = time.monotonic()

    def report(reached: datetime, first: datetime, target: datetime, result: ScanResult) -> None:
        elapsed = time.monotonic() - started
        if reached >= target or (target - first).total_seconds() <= 3600:
            return
        done = (reached - first).total_seconds()
        total = max((target - first).total_seconds(), 1.0)
        left = elapsed * (total - done) / max(done, 1.0)
        print(
            f"scan: {reached:%Y-%m-%d %H:%M} UTC of {target:%Y-%m-%d %H:%M} ({100 * done / total:.0f} %),"
            f" {result.buckets_evaluated:,} buckets, {len(result.opened)} new event(s),"
            f" {elapsed:.0f} s so far, ~{left:.0f} s left",
            file=sys.stderr,
            flush=True,
        )

    return report


def run(args: argparse.Namespace, settings: Settings) -> int:
    from anomaly.scan import ScanOptions, run_scan
    from db.connection import DatabaseUnavailable

    try:
        opts = ScanOptions(
            since=args.since,
            lateness_seconds=settings.anomaly_lateness_seconds,
            late_rescan_seconds=settings.anomaly_late_rescan_seconds,
            progress=_progress(),
        )
        result = run_scan(settings, live=not args.replay, options=opts)
    except DatabaseUnavailable as exc:
        print(f"scan failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a missing table means the schema is old
        if "does not exist" in str(exc):
            print(f"scan failed: {exc.__class__.__name__}: {exc} — run `upbit-llm migrate`", file=sys.stderr)
            return 1
        raise
    if args.json:
        print_json(result.as_dict())
        return 0
    if result.skipped:
        print(f"scan skipped: {result.skipped}")
        return 0
    span = (
        f"{result.watermark_from:%Y-%m-%d %H:%M:%S} → {result.watermark_to:%H:%M:%S} UTC"
        if result.watermark_from
        else "-"
    )
    print(
        f"scanned {result.buckets_evaluated} bucket(s) ({span}) over {result.markets} market(s) in "
        f"{result.seconds * 1000:.0f} ms: {len(result.opened)} new, {len(result.escalated)} escalated, "
        f"{len(result.resolved)} resolved, {result.suppressed} suppressed by cooldown"
        + (f"; went back to {result.rescanned_from:%Y-%m-%d %H:%M:%S} UTC" if result.rescanned_from else "")
        + ("; DATA STALE" if result.stale else "")
    )
    if result.opened or result.escalated:
        print("list them with `upbit-llm anomalies`")
    return 0
