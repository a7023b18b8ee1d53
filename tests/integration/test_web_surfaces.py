"""The HTTP surfaces as an attacker meets them, over real HTTP: the dashboard (uvicorn in a thread, scratch DB)
and the MCP server (`upbit-llm mcp --transport http` on 0.0.0.0, a real subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from dashboard.app import InsecureBind, build_app
from tests.integration.test_mcp_transports import server_env
from tests.support.browser import LiveServer, free_port
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
LIST = {  # the first request of any MCP session
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_dashboard_answers_loopback_names_and_refuses_other_hosts_and_origins(scratch_db: Settings) -> None:
    srv = LiveServer(build_app(scratch_db)).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert c.get("/api/health").status_code == 200  # Host: 127.0.0.1:<port>
            assert c.get("/api/health", headers={"Host": f"localhost:{srv.port}"}).status_code == 200
            rebound = c.get("/api/overview", headers={"Host": "evil.example"})
            assert rebound.status_code == 421 and "evil.example" in rebound.json()["detail"]
            cross = c.get("/api/health", headers={"Origin": "https://evil.example"})
            assert cross.status_code == 403
            assert c.get("/api/health", headers={"Origin": "null"}).status_code == 403
            assert c.get("/api/health", headers={"Origin": f"http://127.0.0.1:{srv.port}"}).status_code == 200
            assert c.get("/healthz", headers={"Host": "dashboard-container"}).status_code == 200  # health checks
    finally:
        srv.stop()
    allowed = build_app(scratch_db.model_copy(update={"web_allowed_hosts": "dash.example.com"}))
    srv = LiveServer(allowed).start()
    try:
        assert httpx.get(f"{srv.url}/api/health", headers={"Host": "dash.example.com"}, timeout=30).status_code == 200
    finally:
        srv.stop()


def test_dashboard_needs_a_token_to_serve_beyond_loopback(scratch_db: Settings) -> None:
    with pytest.raises(InsecureBind, match="WEB_TOKEN"):
        build_app(scratch_db.model_copy(update={"web_host": "0.0.0.0"}))
    build_app(scratch_db.model_copy(update={"web_host": "0.0.0.0", "web_token": SecretStr("t0ken-value")}))
    out = subprocess.run(
        [sys.executable, "-m", "upbit_llm", "web", "--host", "0.0.0.0", "--port", str(free_port())],
        env={**os.environ, "WEB_TOKEN": "", "ENVIRONMENT": "test"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "WEB_TOKEN" in out.stderr


def test_coin_questions_are_rate_limited_per_client(scratch_db: Settings) -> None:
    settings = scratch_db.model_copy(update={"web_ask_per_minute": 2.0, "web_ask_burst": 2})
    srv = LiveServer(build_app(settings)).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            codes = [c.post("/api/coins/KRW-BTC/ask", json={"question": "어때?"}).status_code for _ in range(4)]
            limited = c.post("/api/coins/KRW-BTC/ask", json={"question": "어때?"})
    finally:
        srv.stop()
    assert codes[:2] != [429, 429] and codes[2:] == [429, 429], codes  # the burst passes (whatever it answers)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


@pytest.fixture(scope="module")
def mcp_on_all_interfaces() -> Iterator[tuple[str, str, int]]:
    from tests.conftest import make_scratch_db

    db = make_scratch_db()
    settings = next(db)
    port = free_port()
    token = "tok-" + os.urandom(6).hex()
    proc = subprocess.Popen(
        [sys.executable, "-m", "upbit_llm", "mcp", "--transport", "http", "--host", "0.0.0.0", "--port", str(port)],
        env=server_env(settings, MCP_TOKEN=token, MCP_ALLOWED_HOSTS="mcp.internal"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
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
        yield f"http://127.0.0.1:{port}/mcp", token, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        next(db, None)


def test_mcp_accepts_any_case_of_the_bearer_scheme(mcp_on_all_interfaces: tuple[str, str, int]) -> None:
    url, token, _port = mcp_on_all_interfaces
    for scheme in ("Bearer", "bearer", "BEARER"):
        reply = httpx.post(url, json=LIST, headers={**MCP_HEADERS, "Authorization": f"{scheme} {token}"}, timeout=30)
        assert reply.status_code == 200, (scheme, reply.status_code, reply.text[:200])
        assert "serverInfo" in reply.text
    assert httpx.post(url, json=LIST, headers={**MCP_HEADERS, "Authorization": f"Basic {token}"}).status_code == 401


def test_mcp_on_all_interfaces_checks_host_and_origin_against_its_allow_list(
    mcp_on_all_interfaces: tuple[str, str, int],
) -> None:
    url, token, port = mcp_on_all_interfaces
    auth = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    assert httpx.post(url, json=LIST, headers={**auth, "Host": "evil.example"}, timeout=30).status_code == 421
    assert httpx.post(url, json=LIST, headers={**auth, "Origin": "http://evil.example"}, timeout=30).status_code == 403
    ok = httpx.post(url, json=LIST, headers={**auth, "Host": f"mcp.internal:{port}"}, timeout=30)
    assert ok.status_code == 200  # MCP_ALLOWED_HOSTS
    assert httpx.post(url, json=LIST, headers={**auth, "Host": f"localhost:{port}"}, timeout=30).status_code == 200
