"""The schema in plain PostgreSQL mode (always) and TimescaleDB mode (when TIMESCALE_TEST_DSN is set):
lossless raw storage, correct aggregates, a runner that can run twice and notices edited files."""

from __future__ import annotations

import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from db.connection import connect
from db.maintenance import refresh_aggregates
from db.migrate import MIGRATIONS_DIR, MigrationError, migrate
from tests.support.rows import query_rows
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 1, 0, 0, tzinfo=UTC)


def insert_fill(
    cur,
    code: str,
    at: datetime,
    price: float,
    volume: float,
    ask_bid: str = "BID",
    acc_volume: float = 0.0,
    msg_id: str | None = None,
    **extra: object,
) -> None:
    cols = {
        "time": at,
        "code": code,
        "msg_id": msg_id or str(uuid.uuid4()),
        "trade_price": price,
        "trade_volume": volume,
        "trade_timestamp": int(at.timestamp() * 1000),
        "ask_bid": ask_bid,
        "acc_trade_volume": acc_volume,
        "signed_change_rate": 0.01,
        "acc_trade_price_24h": 1e9,
    }
    cols.update(extra)
    names = ", ".join(f'"{k}"' for k in cols)
    marks = ", ".join(["%s"] * len(cols))
    cur.execute(
        f"INSERT INTO ticker_data ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING",  # noqa: S608 - fixed test columns
        list(cols.values()),
    )


def _fill_sample(settings: Settings) -> None:
    conn = connect(settings)
    with conn, conn.cursor() as cur:
        # KRW-BTC: 3 fills in one millisecond, then a later fill; rising over the 5 minutes.
        for i, (p, v) in enumerate([(100.0, 1.0), (101.0, 2.0), (99.0, 0.5)]):
            insert_fill(cur, "KRW-BTC", T0 + timedelta(seconds=10), p, v, "BID" if i != 2 else "ASK", acc_volume=i)
        insert_fill(cur, "KRW-BTC", T0 + timedelta(minutes=2, seconds=5), 110.0, 1.0, acc_volume=10)
        # KRW-SHIB: huge volumes and tiny prices; falling.
        insert_fill(cur, "KRW-SHIB", T0 + timedelta(seconds=1), 0.0123, 3.5e12, "ASK", acc_volume=1)
        insert_fill(
            cur,
            "KRW-SHIB",
            T0 + timedelta(minutes=1),
            0.0120,
            1.25e13,
            "ASK",
            acc_volume=2,
            acc_trade_volume_24h=9.87654321e14,
            market_state="SOMETHING_NEW",
            change="SIDEWAYS",
        )
        # KRW-ETH flat.
        insert_fill(cur, "KRW-ETH", T0 + timedelta(seconds=3), 5000.0, 1.0, acc_volume=1)
        insert_fill(cur, "KRW-ETH", T0 + timedelta(minutes=3), 5000.0, 1.0, acc_volume=2)
    conn.close()


def _check_aggregates(settings: Settings) -> None:
    conn = connect(settings)
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT code, open, high, low, close, volume, value, fills, buy_fills FROM ohlcv_1m "
            "WHERE code = 'KRW-BTC' ORDER BY bucket"
        )
        rows = cur.fetchall()
        assert rows[0][0] == "KRW-BTC"
        assert rows[0][2:4] == (101.0, 99.0)
        assert rows[0][5] == pytest.approx(3.5) and rows[0][6] == pytest.approx(100 + 202 + 49.5)
        assert rows[0][7] == 3 and rows[0][8] == 2
        assert rows[1][1] == rows[1][4] == 110.0
        cur.execute(
            "SELECT markets, rising, falling, flat, value_traded, fills, top_gainer, top_loser "
            "FROM market_summary_5m WHERE quote = 'KRW' AND bucket = %s",
            (T0,),
        )
        markets, rising, falling, flat, value, fills, gainer, loser = cur.fetchone()
        assert (markets, rising, falling, flat) == (3, 1, 1, 1)
        assert fills == 8
        expected_value = 100 + 202 + 49.5 + 110 + 0.0123 * 3.5e12 + 0.0120 * 1.25e13 + 10000
        assert value == pytest.approx(expected_value)
        assert gainer == "KRW-BTC" and loser == "KRW-SHIB"
        cur.execute("SELECT count(*) FROM volume_anomalies_1h")
        assert cur.fetchone()[0] == 3
    conn.close()


def test_same_millisecond_fills_are_all_kept_and_redelivery_is_stored_once(scratch_db: Settings) -> None:
    conn = connect(scratch_db)
    with conn, conn.cursor() as cur:
        same_id = str(uuid.uuid4())
        for i in range(13):
            insert_fill(cur, "KRW-XRP", T0, 700.0 + i, 1.0 + i, acc_volume=i)
        insert_fill(cur, "KRW-XRP", T0, 1.0, 1.0, msg_id=same_id)
        insert_fill(cur, "KRW-XRP", T0, 1.0, 1.0, msg_id=same_id)
        cur.execute("SELECT count(*) FROM ticker_data WHERE code = 'KRW-XRP'")
        assert cur.fetchone()[0] == 14
    conn.close()


def test_huge_volumes_tiny_prices_and_unknown_enums_are_stored_exactly(scratch_db: Settings) -> None:
    conn = connect(scratch_db)
    with conn, conn.cursor() as cur:
        insert_fill(
            cur,
            "BTC-TINY",
            T0,
            1e-8,
            9.99999999e15,
            acc_trade_volume_24h=1.23456789012345e13,
            market_state="NEW_STATE",
            market_warning="NEW_WARNING",
            stream_type="NEW",
            change="NEW",
        )
        insert_fill(cur, "KRW-BIG", T0, 987654321.12345678, 1e-8)
        cur.execute("SELECT trade_price, trade_volume, acc_trade_volume_24h FROM ticker_data WHERE code='BTC-TINY'")
        assert cur.fetchone() == (1e-8, 9.99999999e15, 1.23456789012345e13)
        cur.execute("SELECT trade_price FROM ticker_data WHERE code = 'KRW-BIG'")
        assert cur.fetchone()[0] == 987654321.12345678
    conn.close()


def test_aggregates_are_real_time_before_refresh_and_identical_after(scratch_db: Settings) -> None:
    _fill_sample(scratch_db)
    _check_aggregates(scratch_db)  # nothing materialised yet: computed from raw ticks
    conn = connect(scratch_db)
    result = refresh_aggregates(conn)
    assert result.mode == "postgres" and result.buckets == 6
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM agg_invalidations")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM ohlcv_1m_store")
        assert cur.fetchone()[0] == 6
    conn.rollback()
    _check_aggregates(scratch_db)  # now served from the store
    # A late fill into an already materialised minute is reflected at once, and after the next refresh.
    with conn, conn.cursor() as cur:
        insert_fill(cur, "KRW-BTC", T0 + timedelta(seconds=20), 150.0, 1.0, acc_volume=5)
    for _ in range(2):
        with conn, conn.cursor() as cur:
            cur.execute("SELECT high, fills FROM ohlcv_1m WHERE code='KRW-BTC' AND bucket=%s", (T0,))
            assert cur.fetchone() == (150.0, 4)
        refresh_aggregates(conn)
    conn.close()


def test_migrate_twice_changes_nothing(scratch_db: Settings) -> None:
    again = migrate(scratch_db)
    assert again.applied == [] and again.changed == [] and again.mode == "postgres"


def test_runner_reports_an_edited_applied_file_and_refuses_out_of_order_ones(
    scratch_db: Settings, tmp_path: Path
) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    first = sorted((copy / "incremental").glob("001-*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    report = migrate(scratch_db, migrations_dir=copy)
    assert report.changed == [first.name] and report.applied == []
    (copy / "incremental" / "000-too-early.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="numbered below"):
        migrate(scratch_db, migrations_dir=copy)


def test_mode_recorded_on_first_run_cannot_be_switched_silently(scratch_db: Settings) -> None:
    with pytest.raises(MigrationError, match="plain PostgreSQL mode"):
        migrate(scratch_db.model_copy(update={"timescaledb_mode": "on"}))


def test_concurrent_runners_wait_for_the_advisory_lock(scratch_db: Settings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: migrate(scratch_db), range(4)))
    assert all(r.applied == [] for r in reports)


def test_timescaledb_mode_has_hypertable_continuous_aggregate_and_policies(scratch_db_timescale: Settings) -> None:
    conn = connect(scratch_db_timescale)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name='ticker_data'")
        assert cur.fetchone()[0] == 1
        cur.execute(
            "SELECT materialized_only FROM timescaledb_information.continuous_aggregates WHERE view_name = 'ohlcv_1m'"
        )
        assert cur.fetchone()[0] is False
        cur.execute(
            "SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name IN ('ticker_data') ORDER BY 1"
        )
        procs = {r[0] for r in cur.fetchall()}
        assert "policy_compression" in procs
        # Retention is our own job (drops chunks without invalidating the candles), not policy_retention.
        cur.execute("SELECT config FROM timescaledb_information.jobs WHERE proc_name = 'upbit_drop_old_ticks'")
        assert cur.fetchall() == [({"retention_days": scratch_db_timescale.ticker_retention_days},)]
        cur.execute("SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates ORDER BY 1")
        assert cur.fetchall() == [
            ("ohlcv_1d_fills", False),
            ("ohlcv_1h_fills", False),
            ("ohlcv_1m", False),
            ("ohlcv_5m_fills", False),
        ]
        cur.execute(
            "SELECT hypertable_name FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_refresh_continuous_aggregate' ORDER BY 1"
        )
        assert [r[0] for r in cur.fetchall()] == ["ohlcv_1d_fills", "ohlcv_1h_fills", "ohlcv_1m", "ohlcv_5m_fills"]
    conn.close()
    _fill_sample(scratch_db_timescale)
    _check_aggregates(scratch_db_timescale)
    conn = connect(scratch_db_timescale)
    refresh_aggregates(conn)
    conn.close()
    _check_aggregates(scratch_db_timescale)
    again = migrate(scratch_db_timescale)
    assert again.applied == [] and again.mode == "timescaledb"


def test_timescaledb_mode_keeps_same_millisecond_fills(scratch_db_timescale: Settings) -> None:
    conn = connect(scratch_db_timescale)
    with conn, conn.cursor() as cur:
        dup = str(uuid.uuid4())
        for i in range(5):
            insert_fill(cur, "KRW-XRP", T0, 700.0 + i, 1.0, acc_volume=i)
        insert_fill(cur, "KRW-XRP", T0, 1.0, 1.0, msg_id=dup)
        insert_fill(cur, "KRW-XRP", T0, 1.0, 1.0, msg_id=dup)
        cur.execute("SELECT count(*) FROM ticker_data")
        assert cur.fetchone()[0] == 6
    conn.close()


def _minute(settings: Settings, code: str, bucket: datetime) -> tuple[Any, ...]:
    sql = "SELECT open, close, fills FROM ohlcv_1m WHERE code = %s AND bucket = %s"
    rows = query_rows(settings, sql, (code, bucket))
    assert len(rows) == 1, f"want one ohlcv_1m row for {code} {bucket}, got {rows}"
    return rows[0]


def test_fills_sharing_a_millisecond_give_one_open_and_close_live_and_materialised(
    scratch_db_each_mode: Settings,
) -> None:
    """Open/close of a minute whose first and last fills share a millisecond: ordered by acc_trade_volume in
    both modes, the same before the refresh (computed live) and after it (materialised)."""
    settings = scratch_db_each_mode
    conn = connect(settings)
    with conn, conn.cursor() as cur:
        # Inserted in an order that differs from the fills' order (acc_trade_volume 1..4).
        for price, acc in ((702.0, 2.0), (704.0, 4.0), (701.0, 1.0), (703.0, 3.0)):
            insert_fill(cur, "KRW-XRP", T0, price, 1.0, acc_volume=acc)
    live = _minute(settings, "KRW-XRP", T0)
    refresh_aggregates(conn)
    conn.close()
    assert live == _minute(settings, "KRW-XRP", T0) == (701.0, 704.0, 4)


@pytest.mark.timescaledb
def test_a_fill_in_the_current_minute_shows_right_after_a_refresh(scratch_db_timescale: Settings) -> None:
    """The refresh stops before the open minute, so later fills of that minute stay in the real-time results."""
    if datetime.now(UTC).second >= 58:  # keep the whole test inside one minute
        time.sleep(61 - datetime.now(UTC).second)
    now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0)
    conn = connect(scratch_db_timescale)
    with conn, conn.cursor() as cur:
        insert_fill(cur, "KRW-ETH", minute, 5_000_000.0, 1.0, acc_volume=1.0)
    refresh_aggregates(conn)
    with conn, conn.cursor() as cur:
        insert_fill(cur, "KRW-ETH", max(now, minute + timedelta(milliseconds=1)), 5_100_000.0, 1.0, acc_volume=2.0)
    conn.close()
    assert _minute(scratch_db_timescale, "KRW-ETH", minute)[1:] == (5_100_000.0, 2)


def test_unreachable_database_gives_an_actionable_error() -> None:
    from db.connection import DatabaseUnavailable

    bad = Settings(_env_file=None, timescaledb_port=1, environment="test")  # type: ignore[call-arg]
    with pytest.raises(DatabaseUnavailable, match="upbit-llm services up"):
        connect(bad, connect_timeout=1)
    assert psycopg2  # the driver under test is the real one
