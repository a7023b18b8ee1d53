"""Flower and the HTTP MCP server refuse requests without (or with wrong) credentials, and accept the right ones.

Both run as real processes exactly as the demo starts them.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import FaultReport
from tests.faults.helpers import cli_env, start_cli, stop_process
from upbit_core.settings import PROJECT_ROOT, Settings
from upbit_llm.demo.children import celery_available, command_available, flower_env
from upbit_llm.services import free_port, wait_for_port

MCP_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "faults", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_flower_refuses_requests_without_credentials(
    scratch_db: Settings, redis_url: str, tmp_path: Path, fault_report: FaultReport
) -> None:
    if not celery_available():
        pytest.skip("celery_app is not in this build")
    scenario = "Flower without credentials"
    port = free_port()
    env = flower_env(cli_env(scratch_db, REDIS_URL=redis_url), "admin", "s3cret-faults", "127.0.0.1", port)
    log = tmp_path / "flower.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_app", "flower"], cwd=PROJECT_ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        assert wait_for_port("127.0.0.1", port, 60), log.read_text()[-3000:]
        base = f"http://127.0.0.1:{port}"
        statuses = {
            "none": httpx.get(f"{base}/api/workers", timeout=10).status_code,
            "wrong": httpx.get(f"{base}/api/workers", headers=_basic("admin", "nope"), timeout=10).status_code,
            "page": httpx.get(f"{base}/", timeout=10).status_code,
        }
        good = httpx.get(f"{base}/api/workers", headers=_basic("admin", "s3cret-faults"), timeout=10).status_code
    finally:
        stop_process(proc)  # type: ignore[arg-type]
    refused = sum(1 for s in statuses.values() if s == 401)
    fault_report.record(scenario, "requests refused (no/wrong auth)", f"{refused}/{len(statuses)}", "all", refused == 3)
    fault_report.record(scenario, "request with credentials", good, "200", good == 200)
    assert statuses == {"none": 401, "wrong": 401, "page": 401}
    assert good == 200


def test_http_mcp_refuses_requests_without_the_bearer_token(
    scratch_db: Settings, tmp_path: Path, fault_report: FaultReport
) -> None:
    if not command_available("mcp_server"):
        pytest.skip("upbit-llm mcp is not in this build")
    scenario = "HTTP MCP without credentials"
    port = free_port()
    token = "faults-token-0123456789"
    env = cli_env(scratch_db, MCP_TOKEN=token, MCP_PORT=str(port))
    log = tmp_path / "mcp.log"
    proc = start_cli(["mcp", "--transport", "http", "--port", str(port)], env, log)
    try:
        assert wait_for_port("127.0.0.1", port, 60), log.read_text()[-3000:]
        url = f"http://127.0.0.1:{port}/mcp"
        statuses = {
            "none": httpx.post(url, json=MCP_INIT, headers=MCP_HEADERS, timeout=10).status_code,
            "wrong": httpx.post(
                url, json=MCP_INIT, headers={**MCP_HEADERS, "Authorization": "Bearer wrong"}, timeout=10
            ).status_code,
            "basic": httpx.post(
                url, json=MCP_INIT, headers={**MCP_HEADERS, **_basic("a", token)}, timeout=10
            ).status_code,
        }
        good = httpx.post(
            url, json=MCP_INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}, timeout=10
        ).status_code
    finally:
        stop_process(proc)
    refused = sum(1 for s in statuses.values() if s in (401, 403))
    summary = f"{refused}/{len(statuses)}"
    fault_report.record(scenario, "requests refused (no/wrong token)", summary, "all", refused == 3)
    fault_report.record(scenario, "request with token", good, "200", good == 200)
    assert refused == 3, statuses
    assert good == 200
