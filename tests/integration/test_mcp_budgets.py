"""What a model receives from the MCP server fits the budgets: the official SDK client, over stdio and over streamable
HTTP, on a simulator-filled 160-market database with open anomalies and stored summaries — each tool's text content
(defaults and the largest arguments), the model-visible tool definitions, and `upbit-llm tokens --json`, counted
offline and exactly through the Messages API stand-in's count_tokens."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from analytics import tools as registry
from analytics.tokens import count_tokens
from bench.realistic import fill_realistic
from tests.conftest import make_scratch_db
from tests.support.fake_anthropic import FakeAnthropic, count_request_tokens
from upbit_core.settings import Settings
from upbit_mcp.measure import DEFINITIONS_BUDGET, ESTIMATE, EXACT, Counter, collect, default_calls, report, server_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

# Defaults, plus the arguments that make each tool's text longest.
CALLS: list[tuple[str, dict[str, Any]]] = [
    *default_calls("KRW-BTC"),
    ("coin_brief", {"coin": "이더리움"}),
    ("top_movers", {"window": "1h", "limit": 50}),
    ("top_movers", {"window": "5m", "direction": "losers", "limit": 50}),
    ("candles", {"coin": "KRW-BTC", "interval": "1m", "limit": 500}),
    ("candles", {"coin": "KRW-ETH", "interval": "1h", "limit": 500}),
    ("anomalies", {"status": "all", "limit": 100, "since_hours": 168}),
    ("latest_summary", {"kind": "coin_qa"}),
    ("latest_summary", {"kind": "anomaly_interpretation"}),
    ("search_markets", {"query": "비트랑 이더랑 리플이랑 도지 솔라나 어때?"}),
]


@pytest.fixture(scope="module")
def realistic_db() -> Iterator[Settings]:
    gen = make_scratch_db()
    settings = next(gen)
    try:
        fill = fill_realistic(settings, markets=160, minutes=75)
        assert fill.markets == 160 and fill.anomalies_open >= 3 and fill.summaries >= 3
        yield settings
    finally:
        gen.close()


def check_within_budget(received: dict[str, Any]) -> None:
    rep = report(received, Counter(None))
    assert rep.counting == ESTIMATE and not rep.exact
    assert rep.tool_definitions_tokens <= DEFINITIONS_BUDGET, rep.tool_definitions_tokens
    assert {d["name"] for d in received["definitions"]} == set(registry.REGISTRY)
    for size, result in zip(rep.tools, received["results"], strict=True):
        assert not size.is_error, (size.name, result["text"])
        assert size.text_tokens <= size.budget, (size.name, size.arguments, size.text_tokens)
        # the data is in structuredContent and not repeated in the text
        data = result["structured"]
        assert data is not None and size.structured_bytes > size.text_bytes
        assert not result["text"].lstrip().startswith("{")
        assert '"market":' not in result["text"] and '"freshness"' not in result["text"]
    by_name = {(r["name"], json.dumps(r["arguments"])): r for r in received["results"]}
    overview = by_name[("market_overview", "{}")]
    assert overview["structured"]["overview"]["markets"] == 160
    assert "open anomalies 3" in overview["text"] or "open anomalies" in overview["text"]
    summary = by_name[("latest_summary", "{}")]
    assert summary["structured"]["summary"]["found"] and "market_summary" in summary["text"]
    week = by_name[("candles", json.dumps({"coin": "KRW-BTC", "interval": "1m", "limit": 500}))]
    assert "truncated: newest" in week["text"] and "before=" in week["text"]
    assert len(week["structured"]["candles"]["rows"]) > week["text"].count("\n")  # programs get every row


def test_sdk_client_over_stdio_receives_text_and_tool_definitions_within_budget(realistic_db: Settings) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "upbit_llm", "mcp", "--transport", "stdio"],
        env=server_env(realistic_db),
        cwd=str(ROOT),
    )

    async def main() -> dict[str, Any]:
        async with Client(params) as client:
            return await collect(client, CALLS)

    check_within_budget(anyio.run(main))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sdk_client_over_streamable_http_receives_text_and_tool_definitions_within_budget(
    realistic_db: Settings,
) -> None:
    port = _free_port()
    token = "budget-" + os.urandom(6).hex()
    env = {**server_env(realistic_db), "MCP_TOKEN": token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "upbit_llm", "mcp", "--transport", "http", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.2)

        async def main() -> dict[str, Any]:
            http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
            async with http, Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as c:
                return await collect(c, CALLS)

        check_within_budget(anyio.run(main))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_without_structured_content_the_client_gets_the_compact_text_alone(realistic_db: Settings) -> None:
    """MCP_STRUCTURED_CONTENT=false: what Claude Code / VS Code users set, since those clients give a model
    JSON(structuredContent) instead of the text whenever it is present."""
    settings = realistic_db.model_copy(update={"mcp_structured_content": False})
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "upbit_llm", "mcp", "--transport", "stdio"],
        env=server_env(settings),
        cwd=str(ROOT),
    )

    async def main() -> dict[str, Any]:
        async with Client(params) as client:
            listed = await client.list_tools()
            assert all(t.output_schema is None for t in listed.tools)
            return await collect(client, default_calls("KRW-BTC"))

    received = anyio.run(main)
    for r in received["results"]:
        assert r["structured"] is None and r["text"]
    assert report(received, Counter(None), structured=False).within_budget


def _tokens_json(settings: Settings, **env: str) -> dict[str, Any]:
    base = server_env(settings)
    base = {k: v for k, v in base.items() if not k.startswith("ANTHROPIC_")}
    out = subprocess.run(
        [sys.executable, "-m", "upbit_llm", "tokens", "--json"],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_tokens_json_reports_what_the_client_receives_labelled_as_an_estimate_without_a_key(
    realistic_db: Settings,
) -> None:
    rep = _tokens_json(realistic_db, ANTHROPIC_API_KEY="")
    client = rep["client"]
    assert client["counting"] == ESTIMATE and client["exact"] is False
    assert client["transport"].startswith("stdio")
    assert 0 < client["tool_definitions_tokens"] <= DEFINITIONS_BUDGET
    assert client["tools_list_tokens"] > client["tool_definitions_tokens"]
    assert {t["name"] for t in client["tools"]} == set(registry.REGISTRY)
    for t in client["tools"]:
        assert 0 < t["text_tokens"] <= t["budget"] and t["structured_bytes"] > 0 and t["saving_pct"] > 99
    assert client["within_budget"] is True
    # the existing fields keep working
    assert rep["markets"] == 160 and rep["raw_tokens"] > 40_000 and rep["contexts"] and rep["goal_met"]


def test_tokens_json_counts_exactly_through_the_count_tokens_endpoint_when_a_key_is_set(
    realistic_db: Settings,
) -> None:
    with FakeAnthropic() as fake:
        rep = _tokens_json(realistic_db, ANTHROPIC_API_KEY="sk-test-count", ANTHROPIC_BASE_URL=fake.url)
        counted = [r for r in fake.requests if r.path == "/v1/messages/count_tokens"]
    client = rep["client"]
    assert client["counting"] == EXACT and client["exact"] is True
    with_tools = [r.body for r in counted if r.body.get("tools")]
    assert with_tools and all(r.status == 200 for r in counted), [(r.status, r.headers) for r in counted][:2]
    # the tools' share of a request is what the endpoint says they add: exactly the stand-in's count of their JSON
    tools = with_tools[0]["tools"]
    assert client["tool_definitions_tokens"] == count_tokens(json.dumps(tools, ensure_ascii=False))
    assert {t["name"] for t in tools} == set(registry.REGISTRY)
    # each result is counted as a tool_result block in a conversation, minus the same conversation without it
    results = [r.body for r in counted if "tool_result" in json.dumps(r.body)]
    assert len(results) >= 2 * len(registry.REGISTRY)
    assert all(count_request_tokens(b) > 0 for b in results)
    assert all(t["text_tokens"] > 0 for t in client["tools"])
