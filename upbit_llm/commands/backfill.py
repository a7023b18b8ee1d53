"""Fetch 1-minute candles from Upbit REST for every followed market (history from minute one, gaps filled).

Pages `/v1/candles/minutes/1` backwards (`to` + `count` ≤ 200) from now (or --until) to --since for every listed
market of UPBIT_QUOTES (or --markets), within Upbit's rate limits (Remaining-Req, 429/418 backoff). Progress is
committed per page: after Ctrl-C, running the same command again resumes the interrupted run (--fresh starts over).
REST minutes are stored in rest_candles_1m; they fill the history only where no fills are stored.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from datetime import UTC, datetime
from types import FrameType

from upbit_core.settings import Settings
from upbit_llm.output import print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", default="24h", help="how far back: 24h, 90m, 2d or an ISO time (default 24h)")
    parser.add_argument("--until", help="exclusive end (ISO time, default now); minutes are whole UTC minutes")
    parser.add_argument("--markets", help="market codes, comma separated (default: every market of UPBIT_QUOTES)")
    parser.add_argument("--fresh", action="store_true", help="abandon an interrupted run instead of resuming it")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _bar(done: int, total: int, requests: int, candles: int, throttled: int, seconds: float) -> str:
    fraction = done / total if total else 1.0
    width = 30
    filled = int(width * fraction)
    rate = requests / seconds if seconds > 0 else 0.0
    return (
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} markets · {requests:,} requests "
        f"({rate:.1f}/s) · {candles:,} candles · 429s {throttled}"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from db.connection import DatabaseUnavailable, connect
    from ingest.rest_candles import (
        JobProgress,
        RestCandleClient,
        RestError,
        abandon_jobs,
        backfill,
        parse_since,
        refresh_markets,
        unfinished_job,
    )

    now = datetime.now(UTC)
    try:
        until = parse_since(args.until, now) if args.until else now
        since = parse_since(args.since, until)
    except ValueError as exc:
        print(f"backfill: {exc}", file=sys.stderr)
        return 2
    if since >= until:
        print("backfill: --since must be before --until", file=sys.stderr)
        return 2
    try:
        conn = connect(settings, application_name="upbit-llm-backfill")
    except DatabaseUnavailable as exc:
        print(f"backfill: {exc}", file=sys.stderr)
        return 1
    stop = {"flag": False}

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    client = RestCandleClient.from_settings(settings)
    started = time.monotonic()

    def progress(state: JobProgress) -> None:
        if not args.json:
            line = _bar(
                state.markets_done,
                state.markets,
                state.requests,
                state.candles,
                client.stats.throttled,
                time.monotonic() - started,
            )
            print(line, end="", file=sys.stderr, flush=True)

    try:
        if args.fresh:
            abandon_jobs(conn, ["backfill"])
        resuming = unfinished_job(conn, ["backfill"])
        if resuming is not None:
            markets: list[str] = []
            if not args.json:
                print(f"resuming interrupted backfill #{resuming} (--fresh starts over)", file=sys.stderr)
        elif args.markets:
            markets = sorted({c.strip().upper() for c in args.markets.split(",") if c.strip()})
        else:
            markets = refresh_markets(conn, settings)
        if resuming is None and not markets:
            print("backfill: no markets to fetch (catalog empty: check UPBIT_REST_URL / UPBIT_QUOTES)", file=sys.stderr)
            return 1
        job = backfill(
            conn,
            client,
            kind="backfill",
            since=since,
            until=until,
            markets=markets,
            progress=progress,
            should_stop=lambda: stop["flag"],
        )
    except RestError as exc:
        print(f"\nbackfill stopped (resume by running it again): {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
        conn.close()
    if not args.json:
        print(file=sys.stderr)
    # requests/candles: the whole job (a resumed one included); http_requests: this run's calls, 429/418 included.
    summary = job.as_dict() | client.stats.as_dict()
    summary["requests_per_second"] = round(client.stats.requests / job.seconds, 2) if job.seconds > 0 else None
    if args.json:
        print_json(summary)
    else:
        state = "interrupted — run again to resume" if job.interrupted else "done"
        print(
            f"backfill #{job.job_id} {state}: {job.markets_done}/{job.markets} markets, {job.candles:,} candles "
            f"({job.since:%Y-%m-%d %H:%MZ} → {job.until:%Y-%m-%d %H:%MZ}), {client.stats.requests:,} requests "
            f"in {job.seconds:.1f}s, 429s {client.stats.throttled}, 418s {client.stats.blocked}"
        )
    return 130 if job.interrupted else 0
