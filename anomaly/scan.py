"""One anomaly scan: evaluate every new bucket exactly once (persisted watermark) and persist the lifecycle.

`run_scan(settings)` is what the Celery task `scan_anomalies` and `upbit-llm scan` call. It reads fine buckets
with one aggregate query per chunk over the new event-time range of ticker_data, rebuilds the detector from the
stored trailing buckets (anomaly_buckets) and open episodes (anomaly_market_state), evaluates the new buckets and
commits the anomalies together with the new watermark, so a late, repeated or concurrent scan never evaluates a
bucket twice. Everything is in event time; `live=True` adds one wall-clock check (a stopped feed).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import psycopg2.extensions
from psycopg2.extras import Json, execute_values

from anomaly.detector import RUSH_WINDOWS, BucketRow, DetectorConfig
from anomaly.engine import DetectorEngine, StepInput, merge_parts
from anomaly.lifecycle import Action, Cooldown, Episode, Lifecycle
from db.connection import connect
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

SCAN_LOCK_KEY = 0x414E_4F4D_5343_414E  # "ANOMSCAN": one scan at a time per database
STATE_NAME = "default"


@dataclass(frozen=True)
class ScanOptions:
    """How a scan walks event time (the detection thresholds live in DetectorConfig)."""

    # A bucket is evaluated once the newest event time is this far past its end: fills of other markets that
    # arrive a little late (Kafka partitions, consumer batches) are still counted.
    lateness_seconds: int = 5
    # First scan on a database with history: start this far before the newest data (None: from the earliest data,
    # so a loaded file or a backfill is scanned in full).
    initial_backfill_seconds: int | None = None
    chunk_buckets: int = 360  # one aggregate query and one commit per hour of event time
    # Live only: no row *arrived* for this long (wall clock) → the feed stopped → one data_stale event.
    live_stale_seconds: int = 60
    # Every quote is scanned; BTC- and USDT-quoted values are converted to KRW (KRW-BTC / KRW-USDT) so the money
    # thresholds mean the same everywhere.
    quotes: tuple[str, ...] = ("KRW", "BTC", "USDT")
    # Fills that reached the database after their bucket was scanned (a lagging partition, a consumer restart, a
    # backfill) up to this far behind the watermark make the scan go back and evaluate those buckets again.
    late_rescan_seconds: int = 300
    # ingested_at is the insert transaction's start: a consumer batch that started before the previous scan but
    # committed after it read the table is older than the mark by up to its duration. A margin > 0 catches those
    # at the price of re-evaluating the buckets of every batch that landed just before a scan (0: off).
    late_visibility_margin_seconds: float = 0.0
    # Rescan from here (`upbit-llm scan --since`): the watermark goes back, the engine is rebuilt from raw ticks.
    since: datetime | None = None
    # Called after each committed chunk with (watermark reached, scan start, scan target, result so far): a long
    # catch-up (a file load, a backfill, `--since` a week back) shows where it is.
    progress: Callable[[datetime, datetime, datetime, ScanResult], None] | None = None


@dataclass
class ScanResult:
    """What one scan did. `to_interpret` (new + escalated ids) is what the Celery task hands to the LLM."""

    buckets_evaluated: int = 0
    watermark_from: datetime | None = None
    watermark_to: datetime | None = None
    opened: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    suppressed: int = 0
    markets: int = 0
    stale: bool = False
    skipped: str = ""
    seconds: float = 0.0
    rescanned_from: datetime | None = None  # the scan went back here (late fills or --since)

    @property
    def to_interpret(self) -> list[int]:
        seen: dict[int, None] = {}
        for i in self.opened + self.escalated:
            seen.setdefault(i, None)
        return list(seen)

    def as_dict(self) -> dict[str, object]:
        return {
            "buckets_evaluated": self.buckets_evaluated,
            "watermark_from": self.watermark_from.isoformat() if self.watermark_from else None,
            "watermark_to": self.watermark_to.isoformat() if self.watermark_to else None,
            "opened": self.opened,
            "escalated": self.escalated,
            "resolved": self.resolved,
            "to_interpret": self.to_interpret,
            "suppressed_by_cooldown": self.suppressed,
            "markets": self.markets,
            "stale": self.stale,
            "skipped": self.skipped,
            "rescanned_from": self.rescanned_from.isoformat() if self.rescanned_from else None,
            "seconds": round(self.seconds, 4),
        }


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def detector_config(settings: Settings) -> DetectorConfig:
    """The detector as the settings ask for it (the opt-in rush rule, the early-decision step)."""
    return DetectorConfig(
        rush_windows=RUSH_WINDOWS if settings.anomaly_rush_rule else (),
        early_step_seconds=settings.anomaly_early_step_seconds,
    )


def run_scan(
    settings: Settings,
    *,
    live: bool = True,
    config: DetectorConfig | None = None,
    options: ScanOptions | None = None,
) -> ScanResult:
    """Evaluate every bucket since the watermark. `live=False` (replays, evaluation) uses event time only."""
    cfg = config or detector_config(settings)
    opts = options or ScanOptions(
        lateness_seconds=settings.anomaly_lateness_seconds, late_rescan_seconds=settings.anomaly_late_rescan_seconds
    )
    started = time.perf_counter()
    result = ScanResult()
    conn = connect(settings, application_name="upbit-llm-scan")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (SCAN_LOCK_KEY,))
            row = cur.fetchone()
        conn.commit()
        if not row or not row[0]:
            result.skipped = "another scan is running"
            log.info("scan skipped reason=%s", result.skipped)
            return result
        try:
            _scan(conn, settings, cfg, opts, live, result)
        finally:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (SCAN_LOCK_KEY,))
            conn.commit()
    finally:
        conn.close()
    result.seconds = time.perf_counter() - started
    log.info(
        "scan done buckets=%s opened=%s escalated=%s resolved=%s suppressed=%s stale=%s seconds=%.3f",
        result.buckets_evaluated,
        len(result.opened),
        len(result.escalated),
        len(result.resolved),
        result.suppressed,
        result.stale,
        result.seconds,
    )
    return result


def _code_patterns(opts: ScanOptions) -> list[str]:
    return [f"{q}-%" for q in opts.quotes]


def _scan(
    conn: psycopg2.extensions.connection,
    settings: Settings,
    cfg: DetectorConfig,
    opts: ScanOptions,
    live: bool,
    result: ScanResult,
) -> None:
    bms = cfg.bucket_ms
    patterns = _code_patterns(opts)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT min(time), max(time) FROM ticker_data WHERE code LIKE ANY(%s)",
            (patterns,),
        )
        lo, hi = cur.fetchone()  # type: ignore[misc]
        cur.execute("SELECT watermark, state FROM anomaly_scan_state WHERE name = %s", (STATE_NAME,))
        state_row = cur.fetchone()
    conn.commit()
    if hi is None:
        result.skipped = "no ticker data yet"
        return
    target = (_ms(hi) - opts.lateness_seconds * 1000) // bms * bms
    if state_row is None:
        first = _ms(lo)
        if opts.initial_backfill_seconds is not None:
            first = max(first, _ms(hi) - opts.initial_backfill_seconds * 1000)
        start = first // bms * bms
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO anomaly_scan_state (name, watermark) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (STATE_NAME, _ts(start)),
            )
        conn.commit()
        wm, state = start, {}
    else:
        wm, state = _ms(state_row[0]), dict(state_row[1] or {})
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        scan_mark = cur.fetchone()[0]  # type: ignore[index]
        # The late-fill check reads the fills of the last `late_rescan_seconds` behind the watermark (~100 ms at 200
        # fills/s). A scan that only peeks at the unfinished bucket (9 of 10 live scans at the 1-s pace) skips it
        # while the last check is under a bucket old, and keeps that check's mark, so the next check still sees
        # every arrival since: a late fill is found within a bucket of wall time either way.
        last = state.get("ingest_mark")
        recent_check = (
            isinstance(last, str) and (scan_mark - datetime.fromisoformat(last)).total_seconds() < cfg.bucket_seconds
        )
        skip_check = opts.since is None and target <= wm and recent_check
        rewind = None if skip_check else _rewind_point(cur, opts, patterns, wm, state, _ms(lo), bms)
    conn.commit()
    if rewind is not None and rewind < wm:
        log.info("scan rewinds from=%s to=%s", _ts(wm).isoformat(), _ts(rewind).isoformat())
        result.rescanned_from = _ts(rewind)
        wm = rewind
        state.pop("stale_until_ms", None)
    if not skip_check:
        state["ingest_mark"] = scan_mark.isoformat()
    result.watermark_from = _ts(wm)
    result.watermark_to = _ts(wm)
    # Early decisions inside the bucket after the watermark: its points up to the newest event time less the
    # lateness (the bucket itself is evaluated in full by a later scan, its points again — idempotent).
    step = cfg.early_step_ms
    fine_target = (_ms(hi) - opts.lateness_seconds * 1000) // step * step if step else target
    while wm <= target:
        end = min(target, wm + opts.chunk_buckets * bms)
        peek_until = fine_target if end == target and fine_target > target else None
        if end == wm and peek_until is None:
            break
        _process_chunk(conn, settings, cfg, opts, wm, end, state, result, peek_until)
        wm = end
        result.watermark_to = _ts(wm)
        if opts.progress is not None and result.watermark_from is not None:
            opts.progress(result.watermark_to, result.watermark_from, _ts(target), result)
        if end == target:
            break
    # Everything visible behind the watermark has been evaluated: later arrivals there are late fills.
    if not skip_check:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE anomaly_scan_state SET state = coalesce(state, '{}'::jsonb) || %s WHERE name = %s",
                (Json({"ingest_mark": state["ingest_mark"]}), STATE_NAME),
            )
        conn.commit()
    if live:
        _live_stale_check(conn, settings, cfg, opts, wm, result)
    _check_flags(conn, wm, result)


def _rewind_point(
    cur: psycopg2.extensions.cursor,
    opts: ScanOptions,
    patterns: list[str],
    wm: int,
    state: dict[str, object],
    lo_ms: int,
    bms: int,
) -> int | None:
    """Where the scan must start again: `--since`, or the earliest bucket behind the watermark that received
    fills after the previous scan read the table (so a late fill is evaluated, not only counted in baselines)."""
    if opts.since is not None:
        return max(_ms(opts.since), lo_ms) // bms * bms
    mark = state.get("ingest_mark")
    if not isinstance(mark, str) or opts.late_rescan_seconds <= 0:
        return None
    cur.execute(
        "SELECT min(time) FROM ticker_data WHERE time >= %s AND time < %s AND code LIKE ANY(%s)"
        " AND ingested_at > %s::timestamptz - make_interval(secs => %s)",
        (_ts(wm - opts.late_rescan_seconds * 1000), _ts(wm), patterns, mark, opts.late_visibility_margin_seconds),
    )
    row = cur.fetchone()
    if not row or row[0] is None:
        return None
    return _ms(row[0]) // bms * bms


def _quote_rates(cur: psycopg2.extensions.cursor, quotes: tuple[str, ...]) -> dict[str, float]:
    """KRW per BTC / USDT from the latest KRW-BTC / KRW-USDT tick: the fallback until those markets trade inside
    the scanned range (the engine then uses their close in event time)."""
    codes = [f"KRW-{q}" for q in quotes if q != "KRW"]
    if not codes:
        return {}
    cur.execute("SELECT code, trade_price FROM ticker_latest WHERE code = ANY(%s)", (codes,))
    return {code.split("-", 1)[1]: float(price) for code, price in cur.fetchall() if price and price > 0}


def _load_lifecycle(cur: psycopg2.extensions.cursor, settings: Settings, cfg: DetectorConfig, now_ms: int) -> Lifecycle:
    cur.execute(
        "SELECT market, episode, cooldown_until, cooldown_severity FROM anomaly_market_state WHERE market NOT LIKE %s",
        ("%/caution",),
    )
    episodes: dict[str, Episode] = {}
    cooldowns: dict[str, Cooldown] = {}
    for market, episode, until, severity in cur.fetchall():
        if episode:
            episodes[market] = Episode.from_dict(episode)
        if until is not None and _ms(until) > now_ms:
            cooldowns[market] = Cooldown(_ms(until), severity or "info")
    return Lifecycle(cfg, settings.alert_cooldown_seconds, episodes, cooldowns)


def _save_lifecycle(cur: psycopg2.extensions.cursor, lc: Lifecycle) -> None:
    cur.execute("DELETE FROM anomaly_market_state WHERE market NOT LIKE %s", ("%/caution",))
    keys = sorted(set(lc.episodes) | set(lc.cooldowns))
    rows = []
    for key in keys:
        ep = lc.episodes.get(key)
        cd = lc.cooldowns.get(key)
        rows.append(
            (
                key,
                ep.anomaly_id if ep else None,
                Json(ep.to_dict() if ep else {}),
                _ts(cd.until_ms) if cd else None,
                cd.severity if cd else None,
            )
        )
    if rows:
        execute_values(
            cur,
            "INSERT INTO anomaly_market_state (market, open_anomaly_id, episode, cooldown_until, cooldown_severity)"
            " VALUES %s",
            rows,
        )


_BUCKET_SQL = """
SELECT code,
       (extract(epoch FROM date_bin(make_interval(secs => %(bucket)s), time, TIMESTAMPTZ '2000-01-01 00:00:00+00'))
        * 1000)::bigint AS bucket,
       (array_agg(trade_price ORDER BY time, acc_trade_volume))[1],
       max(trade_price),
       min(trade_price),
       (array_agg(trade_price ORDER BY time DESC, acc_trade_volume DESC))[1],
       coalesce(sum(trade_price * trade_volume), 0),
       coalesce(sum(trade_price * trade_volume) FILTER (WHERE ask_bid = 'BID'), 0),
       count(*),
       count(*) FILTER (WHERE ask_bid = 'BID'),
       count(DISTINCT time)
FROM ticker_data
WHERE time >= %(lo)s AND time < %(hi)s AND code LIKE ANY(%(patterns)s) AND trade_price > 0
GROUP BY 1, 2
"""


def _aggregate(
    cur: psycopg2.extensions.cursor,
    cfg: DetectorConfig,
    opts: ScanOptions,
    lo: int,
    hi: int,
    seconds: int | None = None,
) -> list[BucketRow]:
    """Rows per market and bucket of `seconds` (the detector's bucket by default) over [lo, hi)."""
    cur.execute(
        _BUCKET_SQL,
        {"bucket": seconds or cfg.bucket_seconds, "lo": _ts(lo), "hi": _ts(hi), "patterns": _code_patterns(opts)},
    )
    return [
        BucketRow(code, int(b), float(o), float(h), float(lw), float(c), float(v), float(bv), int(n), int(bn), int(od))
        for code, b, o, h, lw, c, v, bv, n, bn, od in cur.fetchall()
    ]


def _history(cur: psycopg2.extensions.cursor, lo: int, hi: int) -> list[BucketRow]:
    cur.execute(
        "SELECT code, (extract(epoch FROM bucket) * 1000)::bigint, open, high, low, close, value, buy_value, fills,"
        " buy_fills, orders FROM anomaly_buckets WHERE bucket >= %s AND bucket < %s",
        (_ts(lo), _ts(hi)),
    )
    return [BucketRow(*row) for row in cur.fetchall()]


def _rest_history(
    cur: psycopg2.extensions.cursor, cfg: DetectorConfig, opts: ScanOptions, lo: int, hi: int
) -> list[BucketRow]:
    """Upbit REST minutes (first-start backfill, healed gaps) of the baseline window, where no fills are stored:
    a market with no live history gets a baseline from minute one. One minute = one bucket at the minute's start;
    REST candles carry no fill count, so each counts DetectorConfig.rest_minute_fills fills and orders."""
    cur.execute(
        "SELECT code, (extract(epoch FROM bucket) * 1000)::bigint, open, high, low, close, value"
        " FROM ohlcv_1m_combined WHERE source = 'rest' AND bucket >= %s AND bucket < %s AND code LIKE ANY(%s)",
        (_ts(lo), _ts(hi), _code_patterns(opts)),
    )
    n = cfg.rest_minute_fills
    return [
        BucketRow(code, int(b), float(o), float(h), float(lw), float(c), float(v), float(v) / 2, n, n // 2, n)
        for code, b, o, h, lw, c, v in cur.fetchall()
        if int(b) % cfg.bucket_ms == 0
    ]


def _gaps(cur: psycopg2.extensions.cursor, lo: int, hi: int) -> list[tuple[str | None, int, int | None]]:
    cur.execute(
        "SELECT code, gap_start, gap_end FROM ingest_gaps WHERE gap_start < %s AND (gap_end IS NULL OR gap_end > %s)"
        " ORDER BY id",
        (_ts(hi), _ts(lo)),
    )
    return [(code, _ms(s), _ms(e) if e else None) for code, s, e in cur.fetchall()]


def _process_chunk(
    conn: psycopg2.extensions.connection,
    settings: Settings,
    cfg: DetectorConfig,
    opts: ScanOptions,
    wm: int,
    end: int,
    state: dict[str, object],
    result: ScanResult,
    peek_until: int | None = None,
) -> None:
    """Evaluate buckets [wm, end) and commit them with the new watermark; `peek_until`: also take the early
    decisions of the unfinished bucket at `end` up to that event time."""
    bms = cfg.bucket_ms
    step_s = cfg.early_step_ms // 1000
    with conn.cursor() as cur:
        # Rows at the early-decision step (when on): each bucket's early points need its finer rows, and a
        # bucket's row is their merge — the same numbers one aggregate over the bucket gives.
        parts_by_bucket: dict[int, list[BucketRow]] = defaultdict(list)
        if step_s:
            for r in _aggregate(cur, cfg, opts, wm, peek_until or end, step_s):
                parts_by_bucket[r.start_ms - r.start_ms % bms].append(r)
            new_rows = [row for t in sorted(parts_by_bucket) if t < end for row in merge_parts(t, parts_by_bucket[t])]
        else:
            new_rows = _aggregate(cur, cfg, opts, wm, end)
        gaps = _gaps(cur, wm, peek_until or end)
        lc = _load_lifecycle(cur, settings, cfg, wm)
        stale_until = state.get("stale_until_ms")
        engine = DetectorEngine(
            cfg,
            lc,
            int(stale_until) if isinstance(stale_until, int | float) else None,
            quote_rates=_quote_rates(cur, opts.quotes),
        )
        cur.execute(
            "SELECT engine FROM anomaly_scan_state WHERE name = %s AND engine_at = %s AND engine IS NOT NULL",
            (STATE_NAME, _ts(wm)),
        )
        saved = cur.fetchone()
        if saved is not None:
            engine.restore(json.loads(saved[0]))
        else:
            # No carry-over for this watermark (first scan, a rewind for late fills, `--since`): rebuild from the
            # raw ticks of the baseline window (stored buckets may predate late fills or be pruned already).
            history_from = wm - (cfg.baseline_minutes + 1) * 60_000
            by_bucket: dict[int, list[BucketRow]] = defaultdict(list)
            for r in _aggregate(cur, cfg, opts, history_from, wm):
                by_bucket[r.start_ms].append(r)
            for r in _rest_history(cur, cfg, opts, history_from, wm):
                by_bucket[r.start_ms].append(r)
            for t in range(history_from, wm, bms):
                engine.warm(t, sorted(by_bucket.get(t, ()), key=lambda r: r.code))
        new_by_bucket: dict[int, list[BucketRow]] = defaultdict(list)
        for r in new_rows:
            new_by_bucket[r.start_ms].append(r)
        applier = _Applier(cur, result)

        def step_input(t: int) -> StepInput:
            rows = sorted(new_by_bucket.get(t, ()), key=lambda r: r.code)
            global_gap = False
            gap_codes: set[str] = set()
            for code, gs, ge in gaps:
                if gs < t + bms and (ge is None or ge > t):
                    if code is None:
                        global_gap = True
                    else:
                        gap_codes.add(code)
            return StepInput(t, rows, frozenset(gap_codes), global_gap, parts_by_bucket.get(t, []))

        for t in range(wm, end, bms):
            for act in engine.step(step_input(t)):
                applier.apply(act, lc)
            result.buckets_evaluated += 1
        early = engine.peek(step_input(end), peek_until) if peek_until is not None else []
        for act in early:
            applier.apply(act, lc)
        # Only the unfinished bucket was peeked at (most live scans): tracks, stored buckets and the watermark are
        # as the last scan left them, so nothing but an early open or escalation is written.
        peek_only = end == wm
        if new_rows:
            execute_values(
                cur,
                "INSERT INTO anomaly_buckets"
                " (code, bucket, open, high, low, close, value, buy_value, fills, buy_fills, orders)"
                " VALUES %s ON CONFLICT (code, bucket) DO UPDATE SET open = EXCLUDED.open, high = EXCLUDED.high,"
                " low = EXCLUDED.low, close = EXCLUDED.close, value = EXCLUDED.value,"
                " buy_value = EXCLUDED.buy_value, fills = EXCLUDED.fills, buy_fills = EXCLUDED.buy_fills,"
                " orders = EXCLUDED.orders",
                [
                    (
                        r.code,
                        _ts(r.start_ms),
                        r.open,
                        r.high,
                        r.low,
                        r.close,
                        r.value,
                        r.buy_value,
                        r.fills,
                        r.buy_fills,
                        r.orders,
                    )
                    for r in new_rows
                ],
                page_size=5000,
            )
        if not peek_only:
            # Buckets older than the baseline window are never read again.
            cur.execute(
                "DELETE FROM anomaly_buckets WHERE bucket < %s", (_ts(end - (cfg.baseline_minutes + 5) * 60_000),)
            )
        if early or not peek_only:
            _save_lifecycle(cur, lc)
        state["stale_until_ms"] = engine.stale_until_ms
        result.suppressed += lc.suppressed
        result.markets = max(result.markets, len(engine.tracks))
        result.stale = lc.stale_open
        if saved is None or not peek_only:  # a rebuilt engine is kept, so the next scan restores it
            cur.execute(
                "UPDATE anomaly_scan_state SET watermark = %s, state = %s, scans = scans + 1, updated_at = now(),"
                " engine = %s, engine_at = %s WHERE name = %s",
                (_ts(end), Json(state), json.dumps(engine.to_state(), separators=(",", ":")), _ts(end), STATE_NAME),
            )
    conn.commit()


class _Applier:
    """Writes lifecycle actions to `anomalies` inside the chunk's transaction."""

    def __init__(self, cur: psycopg2.extensions.cursor, result: ScanResult) -> None:
        self.cur = cur
        self.result = result
        # Ids of the episodes opened through this applier: an action the engine made in the same bucket as the
        # open (an early open, then the bucket's own update or escalation) carries a copy taken before the id
        # was known.
        self.ids: dict[str, int] = {}

    def apply(self, act: Action, lc: Lifecycle) -> None:
        ep = act.episode
        cur = self.cur
        if act.op != "open" and ep.anomaly_id is None and ep.dedup_key in self.ids:
            ep = replace(ep, anomaly_id=self.ids[ep.dedup_key])
        if act.op == "open":
            cur.execute(
                "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics, dedup_key)"
                " VALUES (%s, %s, %s, 'open', %s, %s, %s, %s) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
                (
                    ep.market,
                    ep.kind,
                    ep.severity,
                    _ts(ep.started_ms),
                    _ts(ep.detected_ms),
                    Json(ep.metrics),
                    ep.dedup_key,
                ),
            )
            row = cur.fetchone()
            if row is None:
                cur.execute("SELECT id FROM anomalies WHERE dedup_key = %s", (ep.dedup_key,))
                row = cur.fetchone()
            else:
                self.result.opened.append(int(row[0]))
            anomaly_id = int(row[0]) if row else None
            if anomaly_id is not None:
                self.ids[ep.dedup_key] = anomaly_id
            live = lc.episodes.get(ep.key)
            if live is not None:
                live.anomaly_id = anomaly_id
            return
        if ep.anomaly_id is None:
            log.warning("lifecycle action without anomaly id op=%s market=%s", act.op, ep.market)
            return
        if act.op == "escalate":
            cur.execute(
                "UPDATE anomalies SET severity = %s, status = 'escalated', kind = %s, metrics = %s, updated_at = now()"
                " WHERE id = %s",
                (ep.severity, ep.kind, Json(ep.metrics), ep.anomaly_id),
            )
            self.result.escalated.append(ep.anomaly_id)
        elif act.op == "update":
            cur.execute(
                "UPDATE anomalies SET kind = %s, metrics = %s, updated_at = now() WHERE id = %s",
                (ep.kind, Json(ep.metrics), ep.anomaly_id),
            )
        elif act.op == "resolve":
            cur.execute(
                "UPDATE anomalies SET status = 'resolved', resolved_at = %s, resolution = %s, metrics = %s,"
                " updated_at = now() WHERE id = %s",
                (_ts(act.at_ms), act.resolution, Json(ep.metrics), ep.anomaly_id),
            )
            self.result.resolved.append(ep.anomaly_id)


def _live_stale_check(
    conn: psycopg2.extensions.connection,
    settings: Settings,
    cfg: DetectorConfig,
    opts: ScanOptions,
    wm: int,
    result: ScanResult,
) -> None:
    """A stopped feed produces no buckets, so event time alone cannot see it: compare arrival time with the
    wall clock (and look for an open ingest gap of the whole feed). Opens at most one data_stale event."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT time, ingested_at, now() FROM ticker_data WHERE code LIKE ANY(%s) ORDER BY time DESC LIMIT 1",
            (_code_patterns(opts),),
        )
        row = cur.fetchone()
        cur.execute("SELECT gap_start FROM ingest_gaps WHERE code IS NULL AND gap_end IS NULL ORDER BY id LIMIT 1")
        open_gap = cur.fetchone()
        if row is None:
            return
        last_event, ingested, now = row
        silent = (now - ingested).total_seconds()
        if silent < opts.live_stale_seconds and open_gap is None:
            return
        lc = _load_lifecycle(cur, settings, cfg, wm)
        if lc.stale_open:
            result.stale = True
            return
        metrics: dict[str, object] = {
            "reason": "ingest_gap_open" if open_gap else "feed_stopped",
            "seconds_without_new_rows": round(silent, 1),
            "last_event_at": last_event.isoformat(),
        }
        act = lc.open_stale(_ms(last_event), _ms(last_event), metrics)
        if act:
            _Applier(cur, result).apply(act, lc)
        _save_lifecycle(cur, lc)
        result.stale = True
    conn.commit()


_FLAG_SEVERITY = {"warning": "high"}


def _check_flags(conn: psycopg2.extensions.connection, wm: int, result: ScanResult) -> None:
    """Upbit caution flags (markets.warning / markets.caution) that changed since the last scan. The first scan
    only records them: a flag that was already set is not news."""
    with conn.cursor() as cur:
        cur.execute("SELECT code, warning, caution FROM markets WHERE listed ORDER BY code")
        current = {code: (bool(w), dict(c or {})) for code, w, c in cur.fetchall()}
        if not current:
            return
        cur.execute("SELECT code, warning, caution FROM anomaly_flag_state")
        previous = {code: (bool(w), dict(c or {})) for code, w, c in cur.fetchall()}
        first = not previous
        for code, (warning, caution) in current.items():
            before = previous.get(code)
            if before == (warning, caution):
                continue
            cur.execute(
                "INSERT INTO anomaly_flag_state (code, warning, caution, seen_at) VALUES (%s, %s, %s, now())"
                " ON CONFLICT (code) DO UPDATE SET warning = EXCLUDED.warning, caution = EXCLUDED.caution,"
                " seen_at = now()",
                (code, warning, Json(caution)),
            )
            if first or before is None:
                continue
            _flag_event(cur, code, before, (warning, caution), wm, result)
    conn.commit()


def _flag_event(
    cur: psycopg2.extensions.cursor,
    code: str,
    before: tuple[bool, dict[str, object]],
    after: tuple[bool, dict[str, object]],
    wm: int,
    result: ScanResult,
) -> None:
    was = {k for k, v in before[1].items() if v} | ({"WARNING"} if before[0] else set())
    now = {k for k, v in after[1].items() if v} | ({"WARNING"} if after[0] else set())
    added, removed = sorted(now - was), sorted(was - now)
    key = f"{code}/caution"
    cur.execute("SELECT open_anomaly_id FROM anomaly_market_state WHERE market = %s", (key,))
    row = cur.fetchone()
    open_id = row[0] if row else None
    metrics = {"flags_set": added, "flags_cleared": removed, "flags_now": sorted(now), "warning": after[0]}
    if added:
        severity = "high" if "WARNING" in added else "medium"
        dedup = f"caution:{code}:{wm}:{json.dumps(sorted(now))}"
        cur.execute(
            "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics, dedup_key)"
            " VALUES (%s, 'caution_flag', %s, 'open', %s, %s, %s, %s) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
            (code, severity, _ts(wm), _ts(wm), Json(metrics), dedup),
        )
        new = cur.fetchone()
        if new:
            result.opened.append(int(new[0]))
            if open_id:
                cur.execute(
                    "UPDATE anomalies SET status = 'resolved', resolved_at = %s, resolution = 'superseded',"
                    " updated_at = now() WHERE id = %s AND status <> 'resolved'",
                    (_ts(wm), open_id),
                )
            open_id = int(new[0])
    elif open_id and not now:
        cur.execute(
            "UPDATE anomalies SET status = 'resolved', resolved_at = %s, resolution = 'flag_cleared',"
            " metrics = metrics || %s, updated_at = now() WHERE id = %s AND status <> 'resolved'",
            (_ts(wm), Json(metrics), open_id),
        )
        result.resolved.append(int(open_id))
        open_id = None
    cur.execute(
        "INSERT INTO anomaly_market_state (market, open_anomaly_id) VALUES (%s, %s)"
        " ON CONFLICT (market) DO UPDATE SET open_anomaly_id = EXCLUDED.open_anomaly_id, updated_at = now()",
        (key, open_id),
    )
