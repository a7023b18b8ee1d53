"""List anomaly events: id, market, kind, severity, status, started_at (event time the anomaly began),
detected_at (event time at detection), key metrics and the interpretation."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from upbit_core.settings import Settings
from upbit_llm.output import print_json, print_table

# The --json fields: every column of analytics.anomalies.ROW_COLUMNS but the detector's dedup key (spelled out here
# so `upbit-llm --help` does not import the analytics layer; a test checks the two agree).
LISTED = ("id", "market", "kind", "severity", "status", "started_at", "detected_at", "resolved_at", "resolution",
          "metrics", "interpretation")  # fmt: skip
KEY_METRICS = ("price_change_pct", "peak_change_pct", "value_ratio", "buy_share_pct", "markets_moving", "reason")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="ISO timestamp (event time of detection); default: last 24 hours")
    parser.add_argument("--limit", type=int, default=100, help="at most this many events, newest first (default 100)")
    parser.add_argument("--json", action="store_true")


def parse_since(text: str | None, now: datetime | None = None) -> datetime:
    """ISO date or timestamp (naive = UTC); None → 24 hours ago. Raises ValueError with a usable message."""
    if not text:
        return (now or datetime.now(UTC)) - timedelta(hours=24)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"--since {text!r} is not an ISO timestamp; use e.g. 2026-01-01T09:00:00+09:00") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def fetch(settings: Settings, since: datetime, limit: int) -> list[dict[str, Any]]:
    """The events detected since `since`, newest first, read as the read-only role."""
    from analytics.anomalies import anomaly_rows
    from db.readonly import ReadOnlyPool

    pool = ReadOnlyPool(settings, size=1, application_name="upbit-llm-anomalies")
    try:
        rows = pool.run_sync(lambda conn: anomaly_rows(conn, detected_since=since, limit=limit, order="newest"))
    finally:
        pool.close()
    return [{k: v for k, v in row.items() if k in LISTED} for row in rows]


def _metrics_text(metrics: dict[str, Any]) -> str:
    parts = []
    for key in KEY_METRICS:
        if metrics.get(key) is not None:
            parts.append(f"{key}={metrics[key]}")
    return " ".join(parts)


def _interp_text(interp: Any) -> str:
    if not isinstance(interp, dict):
        return "-"
    head = interp.get("cause_category") or ""
    text = str(interp.get("text") or "")
    return (f"[{head}] " if head else "") + (text[:80] + ("…" if len(text) > 80 else ""))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from db.connection import DatabaseUnavailable

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        rows = fetch(settings, since, args.limit)
    except DatabaseUnavailable as exc:
        print(f"anomalies failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no anomaly events detected since {since.isoformat()} (try --since with an earlier time)")
        return 0
    table = [
        {
            "id": r["id"],
            "market": r["market"],
            "kind": r["kind"],
            "severity": r["severity"],
            "status": r["status"] + (f"/{r['resolution']}" if r["resolution"] else ""),
            "started_at": r["started_at"],
            "detected_at": r["detected_at"],
            "metrics": _metrics_text(r["metrics"] or {}),
            "interpretation": _interp_text(r["interpretation"]),
        }
        for r in rows
    ]
    print_table(table)
    return 0
