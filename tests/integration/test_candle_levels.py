"""Candles at 1m/5m/1h/1d in both DB modes: reads and refreshes across chunk boundaries, rollups equal to a direct
aggregation of the fills, candles that outlive tick retention, and every analytics entry point answering the same
in TimescaleDB mode as in plain mode over days of replayed history, before and after the refresh."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db.connection import connect
from db.maintenance import apply_retention, refresh_aggregates
from tests.support.history import history_catalog, history_messages
from tests.support.rows import load_catalog, load_messages, query_rows
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration

LEVELS = {"ohlcv_1m": "1 minute", "ohlcv_5m": "5 minutes", "ohlcv_1h": "1 hour", "ohlcv_1d": "1 day"}
COLUMNS = "bucket, code, open, high, low, close, volume, value, fills, buy_volume, sell_volume, buy_value, sell_value"
COLUMNS += ", buy_fills, last_time"


def _insert(cur: Any, code: str, at: datetime, price: float, acc: float, side: str = "BID") -> None:
    cur.execute(
        "INSERT INTO ticker_data (time, code, msg_id, trade_price, trade_volume, trade_timestamp, ask_bid, "
        "acc_trade_volume, signed_change_rate, acc_trade_price_24h) "
        "VALUES (%s, %s, %s, %s, 1.0, %s, %s, %s, 0.01, 1e9)",
        (at, code, str(uuid.uuid4()), price, int(at.timestamp() * 1000), side, acc),
    )


def _hold_refresh_policies(settings: Settings) -> None:
    """TimescaleDB: stop the background refresh policies of this database, so that "before the refresh" means it.
    A policy run in the middle of a multi-batch load materialises part of it; rows committed after that run into
    already materialised buckets then show only after the next run (a minute later), as for any backfill."""
    from db.migrate import current_mode

    conn = connect(settings)
    try:
        if current_mode(conn) != "timescaledb":
            return
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs "
                "WHERE proc_name = 'policy_refresh_continuous_aggregate'"
            )
    finally:
        conn.close()


def _rows(settings: Settings, view: str) -> list[tuple[Any, ...]]:
    return query_rows(settings, f"SELECT {COLUMNS} FROM {view} ORDER BY code, bucket")  # noqa: S608 - fixed names


def _direct(settings: Settings, step: str) -> list[tuple[Any, ...]]:
    """The candles of `step` computed straight from the fills (ties inside a millisecond by acc_trade_volume)."""
    return query_rows(
        settings,
        """
        SELECT date_bin(%s::interval, time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b, code,
               (array_agg(trade_price ORDER BY time, acc_trade_volume))[1], max(trade_price), min(trade_price),
               (array_agg(trade_price ORDER BY time DESC, acc_trade_volume DESC))[1],
               sum(trade_volume), sum(trade_volume * trade_price), count(*),
               sum(trade_volume) FILTER (WHERE ask_bid = 'BID'), sum(trade_volume) FILTER (WHERE ask_bid = 'ASK'),
               sum(trade_volume * trade_price) FILTER (WHERE ask_bid = 'BID'),
               sum(trade_volume * trade_price) FILTER (WHERE ask_bid = 'ASK'),
               count(*) FILTER (WHERE ask_bid = 'BID'), max(time)
        FROM ticker_data GROUP BY 1, 2 ORDER BY 2, 1
        """,
        (step,),
    )


def _same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 relative (sums of minute sums vs sums of fills add in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _assert_same_rows(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]], what: str) -> None:
    assert len(got) == len(want), f"{what}: {len(got)} rows, want {len(want)}"
    for g, w in zip(got, want, strict=True):
        assert _same(g, w), f"{what}: got {g}\nwant {w}"


# --- the midnight crash -----------------------------------------------------------------------------------------


def test_a_minute_window_across_midnight_utc_reads_and_refreshes_at_every_level(
    scratch_db_each_mode: Settings,
) -> None:
    """40 fills, 20 at 23:59 and 20 at 00:00 UTC (two 1-day chunks in TimescaleDB mode): reading the candles and
    refreshing them works, live and materialised, with open/close ordered by acc_trade_volume inside a millisecond.
    Before migration 070 TimescaleDB mode raised "input of anonymous composite types is not implemented" here."""
    settings = scratch_db_each_mode
    _hold_refresh_policies(settings)
    before, after = datetime(2026, 11, 27, 23, 59, 30, tzinfo=UTC), datetime(2026, 11, 28, 0, 0, 10, tzinfo=UTC)
    conn = connect(settings)
    with conn, conn.cursor() as cur:
        # Inserted out of acc_trade_volume order; every fill of a side of midnight shares one millisecond.
        for i in [*range(20, 0, -1), *range(40, 20, -1)]:
            _insert(cur, "KRW-ARN", before if i <= 20 else after, 100.0 + i, float(i))
    want_1m = [(100.0 + 1, 100.0 + 20, 20), (100.0 + 21, 100.0 + 40, 20)]
    live = {view: query_rows(settings, f"SELECT open, close, fills FROM {view} ORDER BY bucket") for view in LEVELS}  # noqa: S608
    refresh_aggregates(conn)
    refresh_aggregates(conn)
    conn.close()
    done = {view: query_rows(settings, f"SELECT open, close, fills FROM {view} ORDER BY bucket") for view in LEVELS}  # noqa: S608
    for state in (live, done):
        assert state["ohlcv_1m"] == want_1m
        assert state["ohlcv_5m"] == want_1m and state["ohlcv_1h"] == want_1m and state["ohlcv_1d"] == want_1m
    assert query_rows(settings, "SELECT count(*) FROM market_summary_5m") == [(2,)]


@pytest.mark.timescaledb
def test_timescaledb_reads_partially_aggregated_minutes_over_several_chunks(scratch_db_timescale: Settings) -> None:
    """The plan really is chunk-wise (Partial/Finalize aggregate over several chunks) and it finalises."""
    conn = connect(scratch_db_timescale)
    with conn, conn.cursor() as cur:
        for day in range(3):
            for i in range(5):
                _insert(cur, "KRW-BTC", datetime(2026, 11, 20 + day, 12, 0, 1, tzinfo=UTC), 1.0 + i, float(i))
        cur.execute("EXPLAIN SELECT * FROM ohlcv_1m")
        plan = "\n".join(r[0] for r in cur.fetchall())
        assert "Partial" in plan
        cur.execute("SELECT open, close FROM ohlcv_1m ORDER BY bucket")
        assert cur.fetchall() == [(1.0, 5.0)] * 3
    conn.close()


# --- rollups equal a direct aggregation -------------------------------------------------------------------------


@pytest.fixture
def two_days(scratch_db_each_mode: Settings) -> Settings:
    start = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    _hold_refresh_policies(scratch_db_each_mode)
    load_catalog(scratch_db_each_mode, history_catalog())
    load_messages(scratch_db_each_mode, history_messages(start, 28 * 60))
    return scratch_db_each_mode


def test_5m_1h_1d_candles_equal_a_direct_aggregation_of_the_fills_live_and_refreshed(two_days: Settings) -> None:
    for state in ("live", "refreshed"):
        if state == "refreshed":
            conn = connect(two_days)
            refresh_aggregates(conn)
            conn.close()
        for view, step in LEVELS.items():
            _assert_same_rows(_rows(two_days, view), _direct(two_days, step), f"{view} {state}")


def test_late_fills_into_a_refreshed_day_update_every_level(two_days: Settings, request: pytest.FixtureRequest) -> None:
    """A backfilled fill in an already materialised day reaches the 1m, 5m, 1h and 1d candles after the refresh.
    Plain mode shows it at once (its views know the invalidated minutes); TimescaleDB's real-time part only covers
    buckets above the watermark, so there it appears with the next refresh (the policy runs every minute)."""
    plain = request.node.callspec.params["scratch_db_each_mode"] == "postgres"
    conn = connect(two_days)
    refresh_aggregates(conn)
    with conn, conn.cursor() as cur:
        _insert(cur, "KRW-BTC", datetime(2026, 11, 26, 3, 7, 1, tzinfo=UTC), 1.0, 0.0, side="ASK")
    for state in ("live", "refreshed") if plain else ("refreshed",):
        if state == "refreshed":
            refresh_aggregates(conn)
        for view, step in LEVELS.items():
            _assert_same_rows(_rows(two_days, view), _direct(two_days, step), f"{view} {state}")
    conn.close()


# --- candles outlive raw ticks ----------------------------------------------------------------------------------


def _drop_all_ticks(settings: Settings, mode: str) -> None:
    """Tick retention as each mode runs it, made to cover every tick stored so far."""
    conn = connect(settings)
    try:
        if mode == "postgres":
            with conn, conn.cursor() as cur:
                cur.execute("UPDATE ticker_data SET ingested_at = now() - interval '40 days'")
            assert apply_retention(conn, settings.model_copy(update={"ticker_retention_days": 30})) > 0
        else:
            conn.autocommit = True
            with conn.cursor() as cur:
                # The job the retention policy runs, with a window that covers chunks created a moment ago.
                cur.execute("CALL upbit_drop_old_ticks(0, '{\"retention_days\": -1}')")
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ticker_data")
            assert cur.fetchone() == (0,)
    finally:
        conn.close()


def test_candles_and_summaries_of_days_whose_ticks_were_dropped_are_unchanged(
    two_days: Settings, request: pytest.FixtureRequest
) -> None:
    mode = request.node.callspec.params["scratch_db_each_mode"]
    conn = connect(two_days)
    refresh_aggregates(conn)
    conn.close()
    views = [*LEVELS, "market_summary_5m", "volume_anomalies_1h"]
    kept = {v: query_rows(two_days, f"SELECT * FROM {v} ORDER BY 1, 2") for v in views}  # noqa: S608
    assert all(kept.values())
    _drop_all_ticks(two_days, mode)
    # A new day arrives and every refresh path runs (Celery's refresh_aggregates, TimescaleDB's policies' windows).
    conn = connect(two_days)
    with conn, conn.cursor() as cur:
        _insert(cur, "KRW-BTC", datetime(2026, 11, 28, 9, 0, 1, tzinfo=UTC), 1.0, 0.0)
    refresh_aggregates(conn)
    if mode == "timescaledb":
        conn.autocommit = True
        with conn.cursor() as cur:
            for view in ("ohlcv_1m", "ohlcv_5m_fills", "ohlcv_1h_fills", "ohlcv_1d_fills"):
                cur.execute(
                    f"CALL refresh_continuous_aggregate('{view}', now() - interval '28 days', "
                    "now() - interval '1 hour')"
                )
    conn.close()
    for v in views:
        now = query_rows(two_days, f"SELECT * FROM {v} WHERE bucket < '2026-11-28' ORDER BY 1, 2")  # noqa: S608
        want = [r for r in kept[v] if r[0] < datetime(2026, 11, 28, tzinfo=UTC)]
        _assert_same_rows(now, want, v)


# --- every analytics entry point, both modes, days of replayed history ------------------------------------------


def _normalise(value: Any) -> Any:
    """Drop what depends on the wall clock or on row ids; keep every number and text users see."""
    if isinstance(value, dict):
        return {
            k: _normalise(v)
            for k, v in value.items()
            if k not in {"lag_seconds", "stale", "age_seconds", "created_at", "id", "result_id", "latency_ms"}
        }
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _entry_points(settings: Settings) -> dict[str, Any]:
    from analytics.candles import candles
    from analytics.coin import coin_brief
    from analytics.movers import top_movers
    from analytics.overview import market_overview
    from analytics.summaries import latest_summary
    from llm.qa import answer_question
    from llm.summary import produce_summary
    from tests.support.analyst_data import clear_llm_state

    clear_llm_state(settings)
    conn = connect(settings)
    try:
        out: dict[str, Any] = {
            "brief": {m: coin_brief(conn, m).model_dump(mode="json") for m in ("KRW-BTC", "KRW-ARN", "KRW-SHIB")},
            "overview": market_overview(conn).model_dump(mode="json"),
            "movers": {w: top_movers(conn, window=w).model_dump(mode="json") for w in ("1m", "5m", "1h", "24h")},
            "candles": {
                i: candles(conn, "KRW-ETH", i, limit=500).model_dump(mode="json")  # type: ignore[arg-type]
                for i in ("1m", "5m", "1h")
            },
        }
        conn.rollback()
        produce_summary(settings)
        out["summary"] = latest_summary(conn).summary.text  # type: ignore[union-attr]
        answer = answer_question(settings, "KRW-ARN 어때?")
        out["qa"] = (answer.status, answer.markets, answer.text)
    finally:
        conn.close()
    return _normalise(out)


@pytest.fixture(scope="module")
def replayed() -> Iterator[dict[str, Settings]]:
    """The same 3 days and a bit of real-format tickers, ending a minute ago, replayed into a database per mode."""
    from tests.conftest import make_scratch_db, timescale_overrides

    overrides = timescale_overrides()
    if overrides is None:
        pytest.skip("TimescaleDB mode not tested: set TIMESCALE_TEST_DSN to a PostgreSQL with the extension")
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    minutes = 3 * 24 * 60 + 90
    messages = history_messages(end - timedelta(minutes=minutes), minutes)
    gens = {"postgres": make_scratch_db(), "timescaledb": make_scratch_db(**overrides)}
    dbs = {mode: next(gen) for mode, gen in gens.items()}
    try:
        for settings in dbs.values():
            _hold_refresh_policies(settings)
            load_catalog(settings, history_catalog())
            load_messages(settings, messages)
        yield dbs
    finally:
        for gen in gens.values():
            gen.close()


@pytest.mark.timescaledb
def test_every_entry_point_answers_the_same_in_both_modes_before_and_after_refresh(
    replayed: dict[str, Settings],
) -> None:
    plain, ts = replayed["postgres"], replayed["timescaledb"]
    conn = connect(ts)
    conn.autocommit = True
    with conn.cursor() as cur:  # an old chunk compressed as the policy would: reads and refreshes go through it
        cur.execute("SELECT compress_chunk(c) FROM show_chunks('ticker_data') c ORDER BY c LIMIT 2")
        cur.execute("SELECT count(*) FROM show_chunks('ticker_data')")
        assert cur.fetchone()[0] >= 4  # type: ignore[index]
    conn.close()
    unrefreshed = _entry_points(ts)
    assert _same(unrefreshed, _entry_points(plain))
    assert unrefreshed["brief"]["KRW-BTC"]["value_baseline_1h_fills_krw"]
    for settings in (plain, ts):
        conn = connect(settings)
        refresh_aggregates(conn)
        conn.close()
    refreshed = _entry_points(ts)
    assert _same(refreshed, _entry_points(plain))
    assert _same(refreshed, unrefreshed)
    for view, step in LEVELS.items():
        _assert_same_rows(_rows(ts, view), _rows(plain, view), f"{view} plain vs timescaledb")
        _assert_same_rows(_rows(ts, view), _direct(plain, step), f"{view} vs fills")


def test_retention_in_plain_mode_keeps_rollup_tables(scratch_db: Settings) -> None:
    """apply_retention deletes ticks only: the rollup stores keep their rows."""
    load_catalog(scratch_db, history_catalog())
    load_messages(scratch_db, history_messages(datetime(2026, 11, 26, tzinfo=UTC), 120))
    conn = connect(scratch_db)
    refresh_aggregates(conn)
    conn.close()
    counts = (
        "SELECT (SELECT count(*) FROM ohlcv_5m_store), (SELECT count(*) FROM ohlcv_1h_store), "
        "(SELECT count(*) FROM ohlcv_1d_store)"
    )
    before = query_rows(scratch_db, counts)
    _drop_all_ticks(scratch_db, "postgres")
    assert query_rows(scratch_db, counts) == before and before[0][0] > 0
