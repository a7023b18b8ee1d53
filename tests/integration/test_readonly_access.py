"""The one read-only access path (db.readonly) on a real PostgreSQL: role, session policy, writer fallback, async
use, and every reader (MCP, dashboard, CLI listings, demo status line, alerts) going through it and through the one
anomaly reader (analytics.anomalies)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql
from psycopg2.extras import Json

from alerts.event import load_event
from analytics.anomalies import anomaly_by_id, anomaly_rows, query_anomalies
from anomaly.evaluate import fetch_anomalies
from dashboard.database import ReadPool
from db.connection import DatabaseUnavailable, connect
from db.readonly import ReadOnlyPool, writer_fallback_allowed
from upbit_core.settings import Settings
from upbit_llm.commands import anomalies as anomalies_command
from upbit_llm.demo.status import StatusReader
from upbit_mcp.db import DatabaseError
from upbit_mcp.db import ReadOnlyPool as McpPool

MISSING_ROLE = "no_such_reader_role_h13"


def _session(conn: Any) -> dict[str, Any]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT current_user, current_setting('statement_timeout'), current_setting('transaction_read_only'),"
            " current_setting('TimeZone'), current_setting('application_name')"
        )
        user, timeout, read_only, tz, app = cur.fetchone()
    return {"user": user, "timeout": timeout, "read_only": read_only, "tz": tz, "app": app}


@pytest.fixture
def pool(scratch_db: Settings) -> Iterator[ReadOnlyPool]:
    p = ReadOnlyPool(scratch_db, size=2, application_name="upbit-llm-test-read")
    yield p
    p.close()


def test_the_pool_reads_as_the_read_only_role_in_a_read_only_utc_session_with_the_statement_timeout(
    scratch_db: Settings, pool: ReadOnlyPool
) -> None:
    session = pool.run_sync(_session)
    assert session["user"] == scratch_db.readonly_user
    assert session["timeout"] == f"{scratch_db.readonly_statement_timeout_ms // 1000}s"
    assert session["read_only"] == "on"
    assert session["tz"] == "UTC"
    assert session["app"] == "upbit-llm-test-read"
    assert pool.role.readonly_role and pool.role.role == scratch_db.readonly_user


@pytest.mark.parametrize(
    "statement",
    ["INSERT INTO markets (code, quote, base) VALUES ('X-Y', 'X', 'Y')", "DELETE FROM anomalies", "TRUNCATE markets"],
)
def test_the_pool_cannot_write_even_when_the_session_asks_for_a_read_write_transaction(
    pool: ReadOnlyPool, statement: str
) -> None:
    def write(conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute(statement)

    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
        pool.run_sync(write)

    def write_read_write(conn: Any) -> None:
        conn.rollback()
        conn.set_session(readonly=False)
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION READ WRITE")
            cur.execute(statement)

    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        pool.run_sync(write_read_write)


def test_a_runaway_query_is_cancelled_by_the_statement_timeout_and_the_pool_keeps_working(
    scratch_db: Settings,
) -> None:
    settings = scratch_db.model_copy(update={"readonly_statement_timeout_ms": 300})
    p = ReadOnlyPool(settings, size=1)
    try:

        def slow(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(20)")

        started = time.monotonic()
        with pytest.raises(psycopg2.errors.QueryCanceled):
            p.run_sync(slow)
        assert time.monotonic() - started < 5
        assert p.run_sync(_session)["user"] == scratch_db.readonly_user
    finally:
        p.close()


@pytest.mark.parametrize(("environment", "fallback"), [("production", True), ("test", True), ("development", False)])
def test_an_unusable_reader_role_is_refused_with_the_fix_instead_of_reading_as_the_writer(
    scratch_db: Settings, environment: str, fallback: bool
) -> None:
    settings = scratch_db.model_copy(
        update={"readonly_user": MISSING_ROLE, "environment": environment, "readonly_fallback_to_writer": fallback}
    )
    assert not writer_fallback_allowed(settings)
    p = ReadOnlyPool(settings)
    try:
        with pytest.raises(DatabaseUnavailable) as exc:
            p.run_sync(_session)
        text = str(exc.value)
        assert MISSING_ROLE in text and "upbit-llm migrate" in text
        assert "never reads as the writer" in text and "READONLY_FALLBACK_TO_WRITER=true" in text
        assert p.role_if_known() is None  # no writer connection was opened
    finally:
        p.close()


def test_a_reader_role_missing_grants_is_refused_too(scratch_db: Settings) -> None:
    writer = connect(scratch_db)
    with writer, writer.cursor() as cur:
        cur.execute(sql.SQL("REVOKE SELECT ON anomalies FROM {}").format(sql.Identifier(scratch_db.readonly_user)))
    writer.close()
    p = ReadOnlyPool(scratch_db)
    try:
        with pytest.raises(DatabaseUnavailable, match="cannot read anomalies"):
            p.run_sync(_session)
    finally:
        p.close()


def test_the_writer_fallback_happens_only_in_development_when_asked_and_stays_read_only(
    scratch_db: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = scratch_db.model_copy(
        update={"readonly_user": MISSING_ROLE, "environment": "development", "readonly_fallback_to_writer": True}
    )
    p = ReadOnlyPool(settings)
    try:
        with caplog.at_level(logging.WARNING, logger="db.readonly"):
            session = p.run_sync(_session)
        assert session["user"] == scratch_db.timescaledb_user and session["read_only"] == "on"
        assert (p.role.role, p.role.readonly_role) == (scratch_db.timescaledb_user, False)
        assert any("falling back to writer role" in r.getMessage() for r in caplog.records)

        def write(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.execute("DELETE FROM anomalies")

        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            p.run_sync(write)
    finally:
        p.close()


def test_async_callers_queue_for_the_pool_and_never_hold_more_connections_than_its_size(
    pool: ReadOnlyPool,
) -> None:
    def backend(conn: Any) -> int:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_sleep(0.2), pg_backend_pid()")
            return int(cur.fetchone()[1])

    async def main() -> list[int]:
        return await asyncio.gather(*(pool.run(backend) for _ in range(8)))

    started = time.monotonic()
    pids = asyncio.run(main())
    assert len(pids) == 8 and len(set(pids)) <= pool.size == 2
    assert time.monotonic() - started >= 0.2 * 8 / 2 * 0.9  # two at a time, the rest waited


def test_mcp_dashboard_and_demo_status_all_read_as_the_read_only_role(scratch_db: Settings) -> None:
    mcp = McpPool(scratch_db)
    mcp.open()
    try:
        assert mcp.run_sync(_session)["user"] == scratch_db.readonly_user
        assert asyncio.run(mcp.run(_session))["app"] == "upbit-llm-mcp"
    finally:
        mcp.close()
    web = ReadPool(scratch_db)
    try:
        with web.connection() as conn:
            assert _session(conn)["user"] == scratch_db.readonly_user
    finally:
        web.close()
    status = StatusReader(scratch_db)
    try:
        st = status.read()
        assert st.db_ok and st.rows == 0 and st.anomalies == 0 and st.dead_letters == 0
    finally:
        status.close()


def test_every_reader_refuses_a_missing_reader_role_outside_development(scratch_db: Settings) -> None:
    settings = scratch_db.model_copy(update={"readonly_user": MISSING_ROLE, "readonly_fallback_to_writer": True})
    mcp = McpPool(settings)
    with pytest.raises(DatabaseError, match="unavailable"):
        mcp.run_sync(_session)
    web = ReadPool(settings)
    with pytest.raises(DatabaseUnavailable, match="never reads as the writer"), web.connection():
        pass
    with pytest.raises(DatabaseUnavailable, match="never reads as the writer"):
        anomalies_command.fetch(settings, datetime.now(UTC) - timedelta(days=1), 10)
    status = StatusReader(settings)
    try:
        assert status.read().db_ok is False
    finally:
        status.close()


def _insert_anomalies(settings: Settings) -> list[int]:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    conn = connect(settings)
    ids = []
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO markets (code, quote, base, korean_name, english_name) VALUES"
            " ('KRW-BTC', 'KRW', 'BTC', '비트코인', 'Bitcoin') ON CONFLICT (code) DO NOTHING"
        )
        for i, (market, severity, status) in enumerate(
            [("KRW-BTC", "high", "open"), ("KRW-ETH", "low", "resolved"), ("KRW-BTC", "medium", "escalated")]
        ):
            cur.execute(
                "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, metrics,"
                " interpretation, dedup_key) VALUES (%s, 'pump', %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    market,
                    severity,
                    status,
                    base + timedelta(minutes=i),
                    base + timedelta(minutes=i, seconds=10),
                    Json({"price_change_pct": 5.0 + i}),
                    Json({"text": f"해석 {i}"}),
                    f"h13-{i}",
                ),
            )
            ids.append(int(cur.fetchone()[0]))
    conn.close()
    return ids


def test_the_cli_listing_alerts_evaluation_and_mcp_read_the_same_anomaly_rows(scratch_db: Settings) -> None:
    ids = _insert_anomalies(scratch_db)
    listed = anomalies_command.fetch(scratch_db, datetime.now(UTC) - timedelta(days=1), 10)
    assert [r["id"] for r in listed] == ids[::-1]  # newest first
    assert set(listed[0]) == set(anomalies_command.LISTED)  # the --json fields are unchanged
    p = ReadOnlyPool(scratch_db)
    try:
        rows = p.run_sync(lambda conn: anomaly_rows(conn, order="newest"))
        assert [r["id"] for r in rows] == ids[::-1]
        one = p.run_sync(lambda conn: anomaly_by_id(conn, ids[0]))
        assert one is not None and one["korean_name"] == "비트코인" and one["severity"] == "high"
        assert p.run_sync(lambda conn: anomaly_by_id(conn, max(ids) + 100)) is None
        items, total = p.run_sync(lambda conn: query_anomalies(conn, status="open"))
        assert total == 2 and {i.id for i in items} == {ids[0], ids[2]}
    finally:
        p.close()
    writer = connect(scratch_db)
    try:
        event = load_event(writer, ids[0])
        assert event is not None and event.korean_name == "비트코인" and event.metrics["price_change_pct"] == 5.0
        assert event.title.startswith("KRW-BTC (비트코인)")
    finally:
        writer.close()
    replay = fetch_anomalies(scratch_db)
    assert [r["dedup_key"] for r in replay] == ["h13-0", "h13-1", "h13-2"]
    assert "id" not in replay[0] and "interpretation" not in replay[0]
