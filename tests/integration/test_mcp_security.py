"""MCP hardening: 100 hostile strings into every string argument give clean errors; the server's role cannot write."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import psycopg2
import pytest
from mcp import Client

from db.connection import connect
from tests.conftest import make_scratch_db
from tests.support.analytics_data import GARBAGE_STRINGS, LEAK_MARKERS, catalog_entry, tick
from tests.support.rows import load_catalog, load_messages
from upbit_core.settings import Settings
from upbit_mcp.db import ReadOnlyPool
from upbit_mcp.server import build_server

pytestmark = pytest.mark.integration

# Every string argument of every tool, with the other arguments it needs.
STRING_ARGUMENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("coin_brief", "coin", {}),
    ("candles", "coin", {}),
    ("candles", "interval", {"coin": "KRW-BTC"}),
    ("anomalies", "coin", {}),
    ("anomalies", "status", {}),
    ("anomalies", "min_severity", {}),
    ("latest_summary", "coin", {}),
    ("latest_summary", "kind", {}),
    ("search_markets", "query", {}),
    ("top_movers", "window", {}),
    ("top_movers", "direction", {}),
    ("top_movers", "quote", {}),
    ("market_overview", "quote", {}),
    ("indicators", "coin", {}),
    ("indicators", "interval", {"coin": "KRW-BTC"}),
]


@pytest.fixture(scope="module")
def small_db() -> Iterator[Settings]:
    gen = make_scratch_db()
    settings = next(gen)
    now = int(time.time() * 1000)
    load_catalog(
        settings, [catalog_entry("KRW-BTC", "비트코인", "Bitcoin"), catalog_entry("KRW-W", "웜홀", "Wormhole")]
    )
    load_messages(
        settings,
        [tick("KRW-BTC", now - 60_000 * m, 1e8 + m, prev_close=1e8) for m in range(90)]
        + [tick("KRW-W", now - 1000, 150.0, prev_close=140.0)],
    )
    try:
        yield settings
    finally:
        gen.close()


def _counts(settings: Settings) -> tuple[int, ...]:
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM ticker_data), (SELECT count(*) FROM markets), "
                "(SELECT count(*) FROM anomalies), (SELECT count(*) FROM llm_results), "
                "(SELECT count(*) FROM pg_roles WHERE rolsuper)"
            )
            return tuple(cur.fetchone())  # type: ignore[arg-type]
    finally:
        conn.close()


def test_hundred_hostile_strings_in_every_string_argument_give_clean_errors(small_db: Settings) -> None:
    assert len(GARBAGE_STRINGS) == 100
    before = _counts(small_db)

    async def main() -> list[tuple[str, str, str, bool, str]]:
        out = []
        async with Client(build_server(small_db)) as client:
            for tool, argument, base in STRING_ARGUMENTS:
                for text in GARBAGE_STRINGS:
                    result = await client.call_tool(tool, {**base, argument: text})
                    body = "".join(getattr(c, "text", "") for c in result.content)
                    out.append((tool, argument, text, bool(result.is_error), body))
            for text in GARBAGE_STRINGS:
                prompt = await client.get_prompt("analyze_coin", {"coin": text})
                assert prompt.messages
        return out

    started = time.monotonic()
    outcomes = anyio.run(main)
    elapsed = time.monotonic() - started
    assert len(outcomes) == 100 * len(STRING_ARGUMENTS)
    for tool, argument, text, is_error, body in outcomes:
        assert body, (tool, argument, text)
        leaked = [m for m in LEAK_MARKERS if m in body and m not in text]
        assert not leaked, (tool, argument, text, body[:300])
        if argument not in ("query",) and tool != "market_overview" and argument != "coin":
            assert is_error, (tool, argument, text)  # a Literal argument accepts only its values
    # no hostile string produced a result claiming a market it did not name
    search_hits = [(t, b) for tool, arg, t, err, b in outcomes if tool == "coin_brief" and not err]
    assert all("KRW-" in b for _, b in search_hits)
    assert _counts(small_db) == before, "a hostile string changed the database"
    assert elapsed < 600  # 'pg_sleep' strings never reached SQL (a sleeping query would take 10 s each)


def test_mcp_pool_connects_as_the_read_only_role_with_a_statement_timeout(small_db: Settings) -> None:
    pool = ReadOnlyPool(small_db)
    pool.open()
    try:

        def probe(conn: Any) -> tuple[str, str, str]:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT current_user, current_setting('statement_timeout'), "
                    "current_setting('transaction_read_only')"
                )
                return cur.fetchone()  # type: ignore[no-any-return]

        user, timeout, read_only = pool.run_sync(probe)
        assert user == small_db.readonly_user
        assert timeout == f"{small_db.readonly_statement_timeout_ms // 1000}s" or timeout.endswith("ms")
        assert read_only == "on"

        def slow(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(30)")

        from upbit_mcp.db import DatabaseError

        started = time.monotonic()
        with pytest.raises(DatabaseError, match="took too long") as exc:
            pool.run_sync(slow)
        assert time.monotonic() - started < 10
        assert "pg_sleep" not in str(exc.value) and "canceling" not in str(exc.value)
    finally:
        pool.close()


WRITES = [
    "INSERT INTO markets (code, quote, base) VALUES ('X-Y', 'X', 'Y')",
    "UPDATE markets SET korean_name = 'hacked'",
    "DELETE FROM ticker_data",
    "TRUNCATE anomalies",
    "CREATE TABLE evil (a int)",
    "CREATE INDEX evil_idx ON markets (korean_name)",
    "DROP TABLE ticker_latest",
    "ALTER TABLE markets ADD COLUMN evil int",
    "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE SCHEMA evil",
    "SELECT nextval('anomalies_id_seq')",
]


@pytest.mark.parametrize("statement", WRITES)
def test_the_read_only_role_cannot_write_even_after_turning_read_only_off(small_db: Settings, statement: str) -> None:
    before = _counts(small_db)
    conn = psycopg2.connect(small_db.readonly_dsn())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone()[0] == small_db.readonly_user  # type: ignore[index]
            with pytest.raises(psycopg2.Error) as first:
                cur.execute(statement)
            assert first.value.pgcode in {"25006", "42501"}  # read-only transaction (or no privilege at all)
            # Session override: now the privileges themselves must refuse it.
            cur.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg2.Error) as second:
                cur.execute(statement)
            assert second.value.pgcode in {"42501", "3F000"}, second.value.pgerror  # insufficient privilege
    finally:
        conn.close()
    assert _counts(small_db) == before


def test_migrate_reapplies_the_role_grants_for_tables_created_later(small_db: Settings) -> None:
    from db.migrate import migrate

    writer = connect(small_db)
    with writer, writer.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS later_table (a int)")
        cur.execute("REVOKE ALL ON later_table FROM " + small_db.readonly_user)
    writer.close()
    migrate(small_db)
    conn = psycopg2.connect(small_db.readonly_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM later_table")
            assert cur.fetchone()[0] == 0  # type: ignore[index]
    finally:
        conn.close()


def test_many_concurrent_tool_calls_queue_for_the_pool_instead_of_failing(small_db: Settings) -> None:
    async def main() -> list[bool]:
        async with Client(build_server(small_db)) as client:
            results: list[bool] = []

            async def one() -> None:
                r = await client.call_tool("coin_brief", {"coin": "KRW-BTC"})
                results.append(bool(r.is_error))

            async with anyio.create_task_group() as tg:
                for _ in range(24):
                    tg.start_soon(one)
            return results

    assert anyio.run(main) == [False] * 24
