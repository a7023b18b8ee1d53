"""docker-compose.yml as shipped, brought up with local processes (no Docker engine here): a private
password-authenticated PostgreSQL stands in for the timescaledb service (initialised with the same initdb.d script),
and migrate, MCP and the dashboard run as `upbit-llm` processes with exactly the environments `docker-compose
config` resolves for them — only host names and published ports are mapped to this machine. MCP and the dashboard
must answer, and must be connected as the read-only role.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg2
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.support.browser import free_port
from tests.support.private_postgres import PrivatePostgres

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed"),
]
ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "TIMESCALEDB_PASSWORD": "writer-" + os.urandom(6).hex(),
    "READONLY_PASSWORD": "reader-" + os.urandom(6).hex(),
    "FLOWER_PASSWORD": "flower-" + os.urandom(6).hex(),
    "MCP_TOKEN": "mcp-" + os.urandom(6).hex(),
    "WEB_TOKEN": "web-" + os.urandom(6).hex(),
    "TIMESCALEDB_DBNAME": "coin_compose",
}


def compose_config() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS} | SECRETS
    out = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return yaml.safe_load(out.stdout)  # type: ignore[no-any-return]


def service_env(config: dict[str, Any], name: str, pg: PrivatePostgres) -> dict[str, str]:
    """The service's environment from the resolved config, with compose host names mapped to this machine."""
    env = {str(k): str(v) for k, v in (config["services"][name].get("environment") or {}).items()}
    assert env["TIMESCALEDB_HOST"] == "timescaledb"
    env["TIMESCALEDB_HOST"] = "127.0.0.1"
    env["TIMESCALEDB_PORT"] = str(pg.port)
    env["TIMESCALEDB_MODE"] = "off"  # no TimescaleDB here (CI has none); the roles and grants are the same
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH"}
    base = {k: v for k, v in os.environ.items() if k in keep}
    return base | env | {"PYTHONPATH": str(ROOT)}


def command(config: dict[str, Any], name: str, port: int) -> list[str]:
    """`upbit-llm <the service's command>` with its published port mapped to a free local one."""
    args = [str(a) for a in config["services"][name]["command"]]
    if "--port" in args:
        args[args.index("--port") + 1] = str(port)
    return [sys.executable, "-m", "upbit_llm", *args]


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def topology() -> Iterator[tuple[dict[str, Any], PrivatePostgres]]:
    config = compose_config()
    db_env = {str(k): str(v) for k, v in config["services"]["timescaledb"]["environment"].items()}
    try:
        pg = PrivatePostgres().init(password=db_env["POSTGRES_PASSWORD"])
    except RuntimeError as exc:
        pytest.skip(str(exc))
    try:
        # The timescaledb service's initdb.d script, with the service's own environment.
        mounts = [v for v in config["services"]["timescaledb"]["volumes"] if "docker-entrypoint-initdb.d" in str(v)]
        assert mounts, "the pg_hba script is not mounted into the database container"
        script = (ROOT / "db/docker/10-reader-hba.sh").read_text()
        pg.run_as_owner(["sh", "-c", script], {"PGDATA": str(pg.data), **db_env})
        pg.start()
        migrate = subprocess.run(
            [sys.executable, "-m", "upbit_llm", *map(str, config["services"]["migrate"]["command"])],
            env=service_env(config, "migrate", pg),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        yield config, pg
    finally:
        pg.destroy()


def _backend_roles(pg: PrivatePostgres, application: str) -> set[str]:
    conn = psycopg2.connect(
        host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres", password=SECRETS["TIMESCALEDB_PASSWORD"]
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT usename FROM pg_stat_activity WHERE application_name = %s", (application,))
            return {r[0] for r in cur.fetchall()}
    finally:
        conn.close()


def test_mcp_as_composed_answers_with_its_token_and_reads_as_the_read_only_role(
    topology: tuple[dict[str, Any], PrivatePostgres],
) -> None:
    config, pg = topology
    env = service_env(config, "mcp", pg)
    assert "TIMESCALEDB_PASSWORD" not in env and env["READONLY_PASSWORD"] == SECRETS["READONLY_PASSWORD"]
    port = free_port()
    proc = subprocess.Popen(command(config, "mcp", port), env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        wait_port(port, proc)

        async def main() -> tuple[list[str], str]:
            http = create_mcp_http_client(headers={"Authorization": f"Bearer {SECRETS['MCP_TOKEN']}"})
            async with http, Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as c:
                tools = [t.name for t in (await c.list_tools()).tools]
                result = await c.call_tool("market_overview", {})
                return tools, str(result.content[0].text)  # type: ignore[union-attr]

        tools, text = anyio.run(main)
        assert "market_overview" in tools and text
        assert _backend_roles(pg, "upbit-llm-mcp") == {"upbit_reader"}
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_dashboard_as_composed_needs_its_token_and_reads_as_the_read_only_role(
    topology: tuple[dict[str, Any], PrivatePostgres],
) -> None:
    config, pg = topology
    env = service_env(config, "web", pg)
    assert env["WEB_TOKEN"] == SECRETS["WEB_TOKEN"] and env["READONLY_PASSWORD"] == SECRETS["READONLY_PASSWORD"]
    port = free_port()
    proc = subprocess.Popen(command(config, "web", port), env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        wait_port(port, proc)
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200  # the compose healthcheck's URL
        assert httpx.get(f"{url}/api/health", timeout=30).status_code == 401
        health = httpx.get(
            f"{url}/api/health", headers={"Authorization": f"Bearer {SECRETS['WEB_TOKEN']}"}, timeout=30
        ).json()
        assert (health["database"], health["db_role"], health["readonly_role"]) == ("ok", "upbit_reader", True)
        assert _backend_roles(pg, "upbit-llm-web") == {"upbit_reader"}
    finally:
        proc.terminate()
        proc.wait(timeout=15)
