"""Gap healing and first-start history: missing minutes fetched from Upbit REST into `rest_candles_1m`.

`heal_gaps` (Celery beat, celery_app.tasks.history) takes every closed `ingest_gaps` row not healed yet — the
reconnects and watchdog recycles ingest records, plus stretches with no fills on any market that the heal scan
finds (ingest down, consumer lost data) — fetches the gap's minutes for its markets and records the outcome:
healed (with the number of REST minutes now filling it), not_healable (older than Upbit keeps minute candles) or
failed (REST unreachable; retried next run). `startup_backfill` is the first-start history ingest runs once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg2.extensions

from ingest.rest_candles import (
    MINUTE,
    JobProgress,
    RestCandleClient,
    RestError,
    backfill,
    floor_minute,
    followed_markets,
)
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

MAX_GAPS_PER_RUN = 20
MAX_ATTEMPTS = 5
# Minutes with no fills on any market for at least this long, inside the scan window, count as missing.
SILENT_MINUTES = 2
SCAN_LOOKBACK = timedelta(hours=6)


@dataclass
class HealReport:
    silent_found: int = 0
    healed: list[int] = field(default_factory=list)
    not_healable: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    minutes: int = 0
    requests: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "silent_stretches_found": self.silent_found,
            "healed": self.healed,
            "not_healable": self.not_healable,
            "failed": self.failed,
            "rest_minutes": self.minutes,
            "requests": self.requests,
        }


def record_silent_stretches(conn: psycopg2.extensions.connection, now: datetime | None = None) -> int:
    """Record stretches of SILENT_MINUTES+ minutes without a fill on any market, between stored minutes, that no
    gap covers yet (the ingest process was down, or data was lost downstream): they become gaps to heal."""
    now = now or datetime.now(UTC)
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH b AS (
                SELECT DISTINCT bucket FROM ohlcv_1m WHERE bucket >= %(lo)s AND bucket < %(hi)s
            ), s AS (
                SELECT bucket, lead(bucket) OVER (ORDER BY bucket) AS nxt FROM b
            )
            INSERT INTO ingest_gaps (code, gap_start, gap_end, reason)
            SELECT NULL, s.bucket + INTERVAL '1 minute', s.nxt, 'no fills on any market (found by the heal scan)'
            FROM s
            WHERE s.nxt - s.bucket > make_interval(mins => %(silent)s)
              AND NOT EXISTS (
                  SELECT 1 FROM ingest_gaps g
                  WHERE g.code IS NULL AND g.gap_start < s.nxt AND coalesce(g.gap_end, 'infinity') > s.bucket
              )
            """,
            {"lo": now - SCAN_LOOKBACK, "hi": floor_minute(now), "silent": SILENT_MINUTES},
        )
        found = cur.rowcount
    conn.commit()
    return max(found, 0)


def heal_gaps(
    conn: psycopg2.extensions.connection,
    settings: Settings,
    client: RestCandleClient,
    *,
    now: datetime | None = None,
    scan_silent: bool = True,
) -> HealReport:
    """Heal every closed gap not healed yet (oldest first, MAX_GAPS_PER_RUN per run)."""
    now = now or datetime.now(UTC)
    report = HealReport()
    if scan_silent:
        report.silent_found = record_silent_stretches(conn, now)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, code, gap_start, gap_end FROM ingest_gaps WHERE gap_end IS NOT NULL"
            " AND (heal_status IS NULL OR (heal_status = 'failed' AND heal_attempts < %s)) ORDER BY id LIMIT %s",
            (MAX_ATTEMPTS, MAX_GAPS_PER_RUN),
        )
        gaps = cur.fetchall()
    conn.commit()
    horizon = now - timedelta(days=settings.upbit_rest_history_days)
    markets: list[str] | None = None
    for gap_id, code, start, end in gaps:
        since = floor_minute(start)
        until = floor_minute(end) + MINUTE
        if since < horizon:
            _mark(conn, gap_id, "not_healable", 0)
            report.not_healable.append(gap_id)
            log.info(
                "gap not healable id=%s start=%s (older than %s days)", gap_id, start, settings.upbit_rest_history_days
            )
            continue
        if code is None and markets is None:
            markets = followed_markets(conn, settings)
        codes = [code] if code else list(markets or [])
        try:
            job = backfill(conn, client, kind=f"heal:{gap_id}", since=since, until=until, markets=codes)
        except (RestError, psycopg2.Error) as exc:
            conn.rollback()
            _mark(conn, gap_id, "failed", None)
            report.failed.append(gap_id)
            log.warning("gap heal failed id=%s error=%s", gap_id, exc)
            continue
        minutes = _rest_minutes(conn, codes, since, until)
        _mark(conn, gap_id, "healed", minutes)
        report.healed.append(gap_id)
        report.minutes += minutes
        report.requests += job.requests
        log.info("gap healed id=%s start=%s end=%s markets=%s rest_minutes=%s", gap_id, start, end, len(codes), minutes)
    return report


def _rest_minutes(conn: psycopg2.extensions.connection, codes: list[str], since: datetime, until: datetime) -> int:
    """Minutes of the window the combined history now serves from REST (no fills stored for them)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM ohlcv_1m_combined WHERE source = 'rest' AND code = ANY(%s)"
            " AND bucket >= %s AND bucket < %s",
            (codes, since, until),
        )
        row = cur.fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def _mark(conn: psycopg2.extensions.connection, gap_id: int, status: str, minutes: int | None) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ingest_gaps SET heal_status = %s, heal_minutes = coalesce(%s, heal_minutes),"
            " healed_at = CASE WHEN %s = 'healed' THEN now() ELSE healed_at END, heal_attempts = heal_attempts + 1"
            " WHERE id = %s",
            (status, minutes, status, gap_id),
        )
    conn.commit()


def startup_backfill(
    conn: psycopg2.extensions.connection,
    settings: Settings,
    client: RestCandleClient,
    markets: list[str],
    *,
    now: datetime | None = None,
    should_stop: object = None,
) -> JobProgress | None:
    """First start only: BACKFILL_ON_START_HOURS of minutes up to now, unless a backfill already ran here (an
    interrupted first-start backfill is resumed)."""
    if settings.backfill_on_start_hours <= 0 or not markets:
        return None
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FILTER (WHERE kind IN ('startup', 'backfill') AND status = 'done'),"
            " count(*) FILTER (WHERE kind = 'startup' AND status = 'running') FROM rest_backfill_jobs"
        )
        row = cur.fetchone()
    conn.commit()
    done, running = (int(row[0]), int(row[1])) if row else (0, 0)
    if done and not running:
        return None
    now = now or datetime.now(UTC)
    stop = should_stop if callable(should_stop) else (lambda: False)
    return backfill(
        conn,
        client,
        kind="startup",
        since=now - timedelta(hours=settings.backfill_on_start_hours),
        until=floor_minute(now),
        markets=markets,
        should_stop=stop,
    )
