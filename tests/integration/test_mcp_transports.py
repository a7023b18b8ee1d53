"""The official MCP SDK client, over stdio and streamable HTTP, lists and calls every tool against a database filled
through the real ingest pipeline (fake-upbit → producer → Kafka → consumer)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from analytics.tokens import count_tokens
from db.connection import connect
from db.maintenance import refresh_aggregates
from tests.conftest import make_scratch_db
from tests.support.analytics_data import LEAK_MARKERS
from upbit_core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

TOOLS = {
    "market_overview",
    "coin_brief",
    "top_movers",
    "candles",
    "anomalies",
    "latest_summary",
    "search_markets",
    "indicators",
}
CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("market_overview", {}, "overview"),
    ("market_overview", {"quote": "KRW"}, "overview"),
    ("coin_brief", {"coin": "W코인 지금 어때?"}, "brief"),
    ("coin_brief", {"coin": "KRW-BTC"}, "brief"),
    ("top_movers", {"window": "1h", "direction": "gainers", "limit": 5}, "movers"),
    ("top_movers", {"window": "24h"}, "movers"),
    ("candles", {"coin": "이더리움", "interval": "5m", "limit": 12}, "candles"),
    ("candles", {"coin": "BTC", "interval": "1m", "limit": 500}, "candles"),
    ("anomalies", {"status": "open"}, "anomalies"),
    ("anomalies", {"coin": "비트"}, "anomalies"),
    ("latest_summary", {}, "summary"),
    ("latest_summary", {"kind": "market_summary", "coin": "KRW-BTC"}, "summary"),
    ("search_markets", {"query": "비트랑 이더 어때?"}, "resolution"),
    ("indicators", {"coin": "비트코인", "interval": "1m"}, "indicators"),
    ("indicators", {"coin": "KRW-ETH", "interval": "1h"}, "indicators"),
]


@pytest.fixture(scope="module")
def pipeline_db(kafka_bootstrap: str) -> Iterator[Settings]:
    """A scratch database filled by the ingest pipeline: 160 simulated markets, 65 minutes of event time."""
    from tests.support.pipeline import fill_via_pipeline

    gen = make_scratch_db()
    settings = next(gen)
    try:
        summary = fill_via_pipeline(settings, kafka_bootstrap, markets=160, duration_s=65 * 60, rate=4.0, seed=3)
        assert summary.stored > 10_000
        conn = connect(settings)
        try:
            refresh_aggregates(conn)
            with conn, conn.cursor() as cur:
                cur.execute("SELECT max(time) FROM ticker_data")
                as_of = cur.fetchone()[0]  # type: ignore[index]
                cur.execute(
                    "INSERT INTO anomalies (market, kind, severity, status, started_at, detected_at, dedup_key) "
                    "VALUES ('KRW-BTC', 'value_spike', 'high', 'open', %s, %s, 'mcp-test')",
                    (as_of - timedelta(minutes=3), as_of),
                )
                cur.execute(
                    "INSERT INTO llm_results (kind, window_key, as_of, model, context, text, markets) "
                    "VALUES ('market_summary', 'mcp-test', %s, 'offline-analyst', '{}', '시장은 보합세', "
                    "ARRAY['KRW-BTC'])",
                    (as_of,),
                )
        finally:
            conn.close()
        yield settings
    finally:
        gen.close()


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIMESCALEDB_", "MCP_", "ANTHROPIC_"))}
    env.update(
        {
            "TIMESCALEDB_DBNAME": settings.timescaledb_dbname,
            "TIMESCALEDB_HOST": settings.timescaledb_host,
            "TIMESCALEDB_PORT": str(settings.timescaledb_port),
            "TIMESCALEDB_MODE": "off",
            "READONLY_USER": settings.readonly_user,
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


async def exercise(client: Client) -> dict[str, Any]:
    """List and call everything; return what a test wants to check."""
    listed = await client.list_tools()
    tools = {t.name: t for t in listed.tools}
    results = []
    for name, args, key in CALLS:
        result = await client.call_tool(name, args)
        text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
        assert not result.is_error, (name, args, text)
        data = result.structured_content
        assert data is not None and key in data, (name, data)
        assert data["text_tokens"] > 0 and "as_of" in data and "stale" in data and "truncated" in data
        # The text a model reads is the compact context, never the structured data serialised again.
        assert "as of " in text or name == "search_markets"
        assert not text.lstrip().startswith("{") and json.dumps(data[key], ensure_ascii=False)[:40] not in text
        results.append((name, args, {**data, "text": text}))
    resources = await client.list_resources()
    catalog = await client.read_resource("upbit://markets")
    prompts = await client.list_prompts()
    analyze = await client.get_prompt("analyze_coin", {"coin": "웜홀"})
    briefing = await client.get_prompt("market_briefing", {"language": "en"})
    asked = await client.get_prompt("ask_market", {"question": "지금 제일 많이 오른 코인 뭐야?"})
    assert "지금 제일 많이 오른 코인" in asked.messages[0].content.text  # type: ignore[union-attr]
    assert "투자 권유가 아니" in asked.messages[0].content.text  # type: ignore[union-attr]
    return {
        "tools": tools,
        "results": results,
        "resources": [str(r.uri) for r in resources.resources],
        "catalog": json.loads(catalog.contents[0].text),  # type: ignore[union-attr]
        "prompts": {p.name for p in prompts.prompts},
        "prompt_texts": [analyze.messages[0].content.text, briefing.messages[0].content.text],  # type: ignore[union-attr]
    }


def check(outcome: dict[str, Any]) -> None:
    assert set(outcome["tools"]) == TOOLS
    for tool in outcome["tools"].values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.output_schema is not None  # structured (pydantic) output
    by_name = {(n, json.dumps(a, ensure_ascii=False)): d for n, a, d in outcome["results"]}
    overview = by_name[("market_overview", "{}")]
    assert overview["overview"]["markets"] == 160 and overview["text_tokens"] <= 500
    brief = by_name[("coin_brief", json.dumps({"coin": "W코인 지금 어때?"}, ensure_ascii=False))]
    assert brief["brief"]["ref"]["market"] == "KRW-W" and brief["text_tokens"] <= 250
    candles = by_name[("candles", json.dumps({"coin": "BTC", "interval": "1m", "limit": 500}))]
    compact = candles["candles"]
    assert compact["columns"] == ["t", "open", "high", "low", "close", "volume", "value_krw", "fills"]
    assert 1 <= len(compact["rows"]) <= 500 and compact["freshness"]["as_of"]
    fields = [row.split(",") for row in compact["rows"]]
    assert all(len(f) == 8 for f in fields) and [f[0] for f in fields] == sorted({f[0] for f in fields})
    assert all(float(f[2]) >= float(f[3]) > 0 and int(f[7]) > 0 for f in fields)  # high ≥ low, fills counted
    search = by_name[("search_markets", json.dumps({"query": "비트랑 이더 어때?"}, ensure_ascii=False))]
    assert [m["market"] for m in search["matches"]] == ["KRW-BTC", "KRW-ETH"]
    anomalies = by_name[("anomalies", json.dumps({"status": "open"}))]
    assert anomalies["anomalies"]["items"][0]["market"] == "KRW-BTC"
    summary = by_name[("latest_summary", "{}")]
    assert summary["summary"]["summary"]["text"] == "시장은 보합세"
    # The indicators tool's text (what the model reads through the SDK client) is its compact context, ≤ 300 tokens.
    minute = by_name[("indicators", json.dumps({"coin": "비트코인", "interval": "1m"}, ensure_ascii=False))]
    assert count_tokens(minute["text"]) <= 300 and minute["text_tokens"] == count_tokens(minute["text"])
    assert minute["indicators"]["market"] == "KRW-BTC" and minute["indicators"]["open_included"] is False
    assert "RSI14(1m) " in minute["text"] and minute["indicators"]["rsi14"] is not None
    assert minute["indicators"]["candles"] >= 60 and "closed 1m candles" in minute["text"]
    hourly = by_name[("indicators", json.dumps({"coin": "KRW-ETH", "interval": "1h"}))]
    assert hourly["indicators"]["rsi14"] is None and "needs 15 1h candles" in hourly["indicators"]["na"]["rsi14"]
    assert "RSI14(1h) n/a" in hourly["text"] and count_tokens(hourly["text"]) <= 300
    assert outcome["resources"] == ["upbit://markets"] and len(outcome["catalog"]) == 160
    assert outcome["prompts"] == {"analyze_coin", "market_briefing", "ask_market"}
    assert "웜홀" in outcome["prompt_texts"][0] and "English" in outcome["prompt_texts"][1]


def test_sdk_client_over_stdio_lists_and_calls_every_tool(pipeline_db: Settings) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "upbit_llm", "mcp", "--transport", "stdio"],
        env=server_env(pipeline_db),
        cwd=str(ROOT),
    )

    async def main() -> dict[str, Any]:
        async with Client(params) as client:
            return await exercise(client)

    check(anyio.run(main))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server(pipeline_db: Settings) -> Iterator[tuple[str, str]]:
    port = _free_port()
    token = "test-token-" + os.urandom(6).hex()
    proc = subprocess.Popen(
        [sys.executable, "-m", "upbit_llm", "mcp", "--transport", "http", "--port", str(port)],
        env=server_env(pipeline_db, MCP_TOKEN=token),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}/mcp", token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_sdk_client_over_streamable_http_with_bearer_token_lists_and_calls_every_tool(
    http_server: tuple[str, str],
) -> None:
    url, token = http_server

    async def main() -> dict[str, Any]:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            return await exercise(client)

    check(anyio.run(main))


def test_http_transport_rejects_requests_without_the_right_bearer_token(http_server: tuple[str, str]) -> None:
    url, token = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        reply = httpx.post(url, json=body, headers={**headers, **auth}, timeout=10)
        assert reply.status_code == 401
        assert token not in reply.text and "Traceback" not in reply.text


def test_http_transport_refuses_to_bind_off_loopback_without_a_token(pipeline_db: Settings) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "upbit_llm", "mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "1"],
        env=server_env(pipeline_db),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "MCP_TOKEN" in out.stderr and "refusing" in out.stderr


def test_tool_errors_over_stdio_are_mcp_errors_without_database_text(pipeline_db: Settings) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "upbit_llm", "mcp", "--transport", "stdio"],
        env=server_env(pipeline_db),
        cwd=str(ROOT),
    )

    async def main() -> list[tuple[bool, str]]:
        async with Client(params) as client:
            out = []
            for name, args in [
                ("coin_brief", {"coin": "'; DROP TABLE ticker_data; --"}),
                ("candles", {"coin": "KRW-BTC", "limit": 100_000}),
                ("top_movers", {"window": "7d"}),
            ]:
                r = await client.call_tool(name, args)
                out.append((bool(r.is_error), r.content[0].text if r.content else ""))  # type: ignore[union-attr]
            return out

    for is_error, text in anyio.run(main):
        assert is_error and text
        assert not any(marker in text for marker in LEAK_MARKERS), text
