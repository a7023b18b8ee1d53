"""The consumer's writer against a real database: exact values, same-millisecond fills, idempotency, latest."""

from __future__ import annotations

import pytest

from fake_upbit.simulator import MarketSimulator
from ingest.ticker import FIELDS, InvalidMessage, message_id
from ingest.writer import PreparedRow, latest_rows
from tests.support.rows import load_catalog, load_messages, query_rows
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration

START_MS = 1_767_243_600_000  # 2026-01-01 05:00 UTC


def test_simulated_messages_are_stored_once_each_with_the_values_sent(scratch_db: Settings) -> None:
    sim = MarketSimulator(markets=160, seed=3, start_ms=START_MS, rate=100)
    messages = list(sim.messages(60))
    assert load_catalog(scratch_db, sim.catalog()) == 160
    assert load_messages(scratch_db, messages) == len(messages)
    # A second delivery of the same messages stores nothing new.
    assert load_messages(scratch_db, messages) == 0
    assert query_rows(scratch_db, "SELECT count(*) FROM ticker_data")[0][0] == len(messages)

    columns = ", ".join(f'"{f}"' for f in FIELDS)
    stored = {
        row[0]: row[1:]
        for row in query_rows(
            scratch_db,
            f"SELECT msg_id::text, {columns}, "  # noqa: S608 (constant column list)
            "to_char(highest_52_week_date, 'YYYY-MM-DD'), to_char(lowest_52_week_date, 'YYYY-MM-DD') "
            "FROM ticker_data",
        )
    }
    for msg in messages:
        row = stored[str(message_id(msg))]
        for i, name in enumerate(FIELDS):
            if name.endswith("_52_week_date"):
                continue
            assert row[i] == msg[name], name
        assert row[len(FIELDS)] == msg["highest_52_week_date"]


def test_fills_sharing_a_millisecond_and_volumes_above_1e12_are_all_kept(scratch_db: Settings) -> None:
    base = next(m for m in MarketSimulator(markets=20, seed=1, start_ms=START_MS).messages(30))
    base = dict(base, code="KRW-PEPE", trade_price=0.0148)
    fills = [
        dict(base, trade_volume=1e6 + i, acc_trade_volume=2.5e12 + i * 1e6, acc_trade_price=3.7e10 + i)
        for i in range(13)
    ]
    assert load_messages(scratch_db, fills) == 13
    rows = query_rows(scratch_db, "SELECT acc_trade_volume FROM ticker_data ORDER BY acc_trade_volume")
    assert [r[0] for r in rows] == [f["acc_trade_volume"] for f in fills]


def test_latest_price_never_moves_back_to_an_older_message(scratch_db: Settings) -> None:
    msgs = [m for m in MarketSimulator(markets=5, seed=2, start_ms=START_MS).messages(30) if m["code"] == "KRW-BTC"]
    newest, older = msgs[-1], msgs[0]
    load_messages(scratch_db, [newest])
    load_messages(scratch_db, [older])
    rows = query_rows(scratch_db, "SELECT trade_timestamp, trade_price FROM ticker_latest WHERE code = 'KRW-BTC'")
    assert rows == [(newest["trade_timestamp"], newest["trade_price"])]


def test_invalid_message_is_refused_with_its_reasons(scratch_db: Settings) -> None:
    good = next(MarketSimulator(markets=5, seed=2, start_ms=START_MS).messages(10))
    with pytest.raises(InvalidMessage) as err:
        load_messages(scratch_db, [dict(good, trade_price="1e3", trade_timestamp=12)])
    assert "trade_price is not a number" in str(err.value)
    assert "trade_timestamp 12 is not a plausible epoch time" in str(err.value)


def _rows_and_a_refused_row(seed: int, n: int, source: str, raw: bytes) -> tuple[list[PreparedRow], PreparedRow]:
    """n valid prepared rows, and a copy of the first one with a surplus CSV column (PostgreSQL refuses it)."""
    from ingest.writer import prepare

    good = list(MarketSimulator(markets=5, seed=seed, start_ms=START_MS).messages(20))[:n]
    bad = prepare(good[0])
    bad.line = bad.line.replace(b'"ticker"', b'"ticker","surplus-column"', 1)
    bad.source, bad.raw = source, raw
    return [prepare(m) for m in good], bad


def test_a_row_the_database_refuses_becomes_a_dead_letter_and_the_rest_are_stored(scratch_db: Settings) -> None:
    from db.connection import connect
    from ingest.writer import write_batch

    rows, bad = _rows_and_a_refused_row(2, 50, "upbit_ticker/0/7", b'{"broken": true}')
    conn = connect(scratch_db)
    try:
        result = write_batch(conn, [*rows[:20], bad, *rows[20:]])
    finally:
        conn.close()
    assert result.inserted == 50
    assert query_rows(scratch_db, "SELECT count(*) FROM ticker_data")[0][0] == 50
    letters = query_rows(scratch_db, "SELECT stage, source, dedup_key, raw, reason FROM dead_letters")
    assert len(letters) == 1
    assert letters[0][:4] == ("consumer", "upbit_ticker/0/7", "upbit_ticker/0/7", '{"broken": true}')
    assert "database refused the row" in str(letters[0][4])


def test_a_redelivered_batch_holding_a_refused_row_is_stored_once_with_one_dead_letter(
    scratch_db_each_mode: Settings,
) -> None:
    """Both careful paths at once: the first COPY fails on the refused row, the bisection then meets a row that is
    already stored, and the batch is redone through staging (ON CONFLICT) — still one row per message, and
    ticker_latest holds each market's newest message. In both database modes (hypertable or plain table)."""
    scratch_db = scratch_db_each_mode
    from db.connection import connect
    from ingest.writer import write_batch

    rows, bad = _rows_and_a_refused_row(3, 40, "upbit_ticker/1/9", b'{"broken": 1}')
    conn = connect(scratch_db)
    try:
        first = write_batch(conn, rows[:10])
        again = write_batch(conn, [bad, *rows])  # rows[:10] are re-deliveries
    finally:
        conn.close()
    assert (first.inserted, first.path) == (10, "direct")
    assert (again.offered, again.inserted, again.path, again.dead_letters) == (41, 30, "staging", 1)
    assert query_rows(scratch_db, "SELECT count(*), count(DISTINCT msg_id) FROM ticker_data")[0] == (40, 40)
    assert query_rows(scratch_db, "SELECT source FROM dead_letters") == [("upbit_ticker/1/9",)]
    newest = latest_rows(rows)
    stored = query_rows(scratch_db, "SELECT code, replace(msg_id::text, '-', '') FROM ticker_latest ORDER BY code")
    assert stored == sorted((r.code, r.line.split(b",")[1].strip(b'"').decode()) for r in newest)
