"""The demo's live status line: ingest rate, rows, last summary, open anomalies (small read-only-role queries)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2

from db.connection import DatabaseUnavailable
from db.readonly import ReadOnlyPool
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

# Each query is small and read-only; a query that fails (table not there yet, DB restarting) shows "?" for its field.
QUERIES: dict[str, str] = {
    "rows": "SELECT count(*) FROM ticker_data",
    "markets": "SELECT count(*) FROM ticker_latest",
    "last_summary": "SELECT max(created_at) FROM llm_results WHERE kind = 'market_summary'",
    "summaries": "SELECT count(*) FROM llm_results WHERE kind = 'market_summary'",
    "open_anomalies": "SELECT count(*) FROM anomalies WHERE status <> 'resolved'",
    "anomalies": "SELECT count(*) FROM anomalies",
    "dead_letters": "SELECT count(*) FROM dead_letters",
}


@dataclass
class DemoStatus:
    at: float
    rows: int | None = None
    rate: float | None = None
    markets: int | None = None
    last_summary: datetime | None = None
    summaries: int | None = None
    open_anomalies: int | None = None
    anomalies: int | None = None
    dead_letters: int | None = None
    db_ok: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "rows_per_s": None if self.rate is None else round(self.rate, 1),
            "markets": self.markets,
            "last_summary": self.last_summary.isoformat() if self.last_summary else None,
            "summaries": self.summaries,
            "open_anomalies": self.open_anomalies,
            "anomalies": self.anomalies,
            "dead_letters": self.dead_letters,
            "db_ok": self.db_ok,
        }


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def format_status(st: DemoStatus, *, elapsed: float, up: int, total: int, restarts: int) -> str:
    """One line for people, e.g. `[02:15] 8/8 up · ingest 412 rows/s · rows 51,234 · summary 14:52:10 (35s ago) ...`."""
    mins, secs = divmod(int(elapsed), 60)
    rate = "?" if st.rate is None else f"{st.rate:,.0f}"
    if st.last_summary is None:
        summary = "none yet" if st.summaries == 0 else "?"
    else:
        age = (datetime.now(UTC) - st.last_summary).total_seconds()
        summary = f"{st.last_summary.astimezone(UTC):%H:%M:%S}Z ({age:.0f}s ago, {_n(st.summaries)} total)"
    parts = [
        f"[{mins:02d}:{secs:02d}] {up}/{total} up" + (f" ({restarts} restarts)" if restarts else ""),
        f"ingest {rate} rows/s",
        f"rows {_n(st.rows)} ({_n(st.markets)} markets)",
        f"last summary {summary}",
        f"open anomalies {_n(st.open_anomalies)} of {_n(st.anomalies)}",
        f"dead letters {_n(st.dead_letters)}",
    ]
    if not st.db_ok:
        parts.append("database unreachable")
    return " · ".join(parts)


class StatusReader:
    """Reads the status figures through the read-only access path (one pooled connection, reopened after a
    failure); each query is its own read transaction, so one that fails does not blank the others."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool = ReadOnlyPool(settings, size=1, application_name="upbit-llm-demo-status")
        self._prev: tuple[float, int] | None = None
        self._told_unusable = False

    def read(self) -> DemoStatus:
        now = time.monotonic()
        st = DemoStatus(at=now)
        for field, sql in QUERIES.items():
            try:
                with self._pool.connection() as conn, conn.cursor() as cur:
                    cur.execute(sql)
                    row = cur.fetchone()
                setattr(st, field, row[0] if row else None)
            except DatabaseUnavailable as exc:
                # Told once at warning level: a reader role that is not usable would otherwise look like a
                # database that is down.
                log.log(logging.DEBUG if self._told_unusable else logging.WARNING, "status: %s", exc)
                self._told_unusable = True
                st.db_ok = False
                break
            except psycopg2.Error as exc:
                log.debug("status: query=%s failed: %s", field, exc)
        if st.rows is not None:
            if self._prev is not None and now > self._prev[0]:
                st.rate = max(0.0, (st.rows - self._prev[1]) / (now - self._prev[0]))
            self._prev = (now, st.rows)
        return st

    def close(self) -> None:
        self._pool.close()
