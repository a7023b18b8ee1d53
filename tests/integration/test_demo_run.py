"""`upbit-llm demo` for real, as a subprocess: children start, rows flow into the database, a market summary and an
anomaly from the simulator's injected pump appear and are visible through the CLI, a killed child is reported and
restarted, and SIGINT (Ctrl-C) stops everything with no orphan process."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
import redis

from tests.conftest import ARTIFACTS, make_scratch_db
from upbit_core.settings import PROJECT_ROOT, Settings
from upbit_llm.services import free_port
from upbit_llm.supervisor import group_members

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEMO_REDIS = "redis://127.0.0.1:6379/12"  # its own Redis database: other suites' workers never see these tasks


@dataclass
class DemoRun:
    proc: subprocess.Popen[str]
    settings: Settings
    env: dict[str, str]
    log_dir: Path
    marker: str  # unique value in every child's environment, to find orphans
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "\n".join(self.lines)

    def state(self) -> dict[str, object]:
        path = self.log_dir / "demo-state.json"
        return json.loads(path.read_text()) if path.exists() else {"children": []}

    def children(self) -> dict[str, dict[str, object]]:
        return {c["name"]: c for c in self.state()["children"]}  # type: ignore[index, union-attr]

    def query(self, sql: str) -> object:
        conn = psycopg2.connect(self.settings.database_dsn(), connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                row = cur.fetchone()
                return row[0] if row else None
        finally:
            conn.close()


def _wait(predicate, timeout: float, every: float = 1.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except psycopg2.Error:
            pass
        time.sleep(every)
    return False


def processes_with_marker(marker: str) -> list[int]:
    """Every live process whose environment carries the run's marker (children, grandchildren, escapees)."""
    found: list[int] = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                stat = (entry / "stat").read_text()
                if stat[stat.rfind(")") + 2] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def start_demo(
    tmp_path: Path, settings: Settings, kafka_bootstrap: str, *extra: str, env_overrides: dict[str, str] | None = None
) -> DemoRun:
    redis.Redis.from_url(DEMO_REDIS).flushdb()
    marker = f"demo-test-{uuid.uuid4().hex[:10]}"
    log_dir = tmp_path / "logs"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWER_", "MCP_", "WEB_"))}
    env.update(
        {
            "ENVIRONMENT": "test",
            "UPBIT_LLM_TEST_MARKER": marker,
            "TIMESCALEDB_DBNAME": settings.timescaledb_dbname,
            "TIMESCALEDB_MODE": "off",
            "KAFKA_SERVERS": kafka_bootstrap,
            "KAFKA_TOPIC": f"demo_ticker_{marker}",
            "KAFKA_DEAD_LETTER_TOPIC": f"demo_dead_{marker}",
            "KAFKA_GROUP_ID": f"demo_writer_{marker}",
            "REDIS_URL": DEMO_REDIS,
            "RUN_DIR": str(tmp_path / "run"),
            "FLOWER_PORT": str(free_port()),
            "MCP_PORT": str(free_port()),
            "WEB_PORT": str(free_port()),
            "ANTHROPIC_API_KEY": "",
            "ANOMALY_SCAN_INTERVAL_SECONDS": "5",
            "AGGREGATE_REFRESH_INTERVAL_SECONDS": "10",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(env_overrides or {})
    cmd = [sys.executable, "-m", "upbit_llm", "demo", "--log-dir", str(log_dir), "--status-interval", "5", *extra]
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    run = DemoRun(proc, settings, env, log_dir, marker)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            run.lines.append(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return run


def stop_demo(run: DemoRun, sig: int = signal.SIGINT, timeout: float = 60) -> int:
    if run.proc.poll() is None:
        os.kill(run.proc.pid, sig)
    try:
        return run.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(run.proc.pid, signal.SIGKILL)
        for pid in processes_with_marker(run.marker):
            os.kill(pid, signal.SIGKILL)
        raise


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> Iterator[DemoRun]:
    gen = make_scratch_db()
    settings = next(gen)
    tmp = tmp_path_factory.mktemp("demo")
    run = start_demo(
        tmp, settings, kafka_bootstrap, "--duration", "600", "--summary-interval", "60", "--first-summary-after", "45"
    )
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            stop_demo(run)
        for pid in processes_with_marker(run.marker):  # never leave strays behind, even when a test failed
            os.kill(pid, signal.SIGKILL)
        (tmp / "demo-output.txt").write_text(run.output())
        # Keep the run's output and logs where a failing CI job can upload them (artifacts/ is not in git).
        keep = ARTIFACTS / "demo-test"
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(run.log_dir, keep / "logs", dirs_exist_ok=True)
        (keep / "demo-output.txt").write_text(run.output())
        try:
            next(gen)
        except StopIteration:
            pass


def test_demo_starts_every_child_and_prints_what_runs_where(demo: DemoRun) -> None:
    expected = {"fake-upbit", "consume", "ingest", "celery-worker", "celery-beat", "flower", "mcp", "web"}
    assert _wait(lambda: expected <= {n for n, c in demo.children().items() if c["running"]}, timeout=240), (
        f"children running: {demo.children()}\n{demo.output()}"
    )
    assert demo.children()["history"]["finished"], demo.output()  # the warm-up history ran once and completed
    assert "[supervisor] history: finished" in demo.output()
    out = demo.output()
    assert "Flower login:" in out and "claude mcp add --transport http" in out
    assert "not started" not in out, out


def test_rows_flow_from_the_simulator_into_the_database(demo: DemoRun) -> None:
    assert _wait(lambda: (demo.query("SELECT count(*) FROM ticker_data") or 0) > 1000, timeout=120), demo.output()
    # The history backfill arrives market by market, so the first batches cover only some markets.
    assert _wait(
        lambda: demo.query("SELECT count(DISTINCT code) FROM ticker_data") >= 100,  # type: ignore[operator]
        timeout=120,
    ), demo.output()
    assert _wait(lambda: "ingest" in demo.output() and " rows/s" in demo.output(), timeout=30)


def test_a_killed_child_is_reported_and_restarted(demo: DemoRun) -> None:
    before = demo.children()["consume"]
    pid = int(before["pid"])  # type: ignore[arg-type]
    os.kill(pid, signal.SIGKILL)
    assert _wait(
        lambda: demo.children()["consume"]["restarts"] == 1 and demo.children()["consume"]["running"], timeout=60
    ), demo.output()
    assert demo.children()["consume"]["pid"] != pid
    assert f"consume: pid={pid} killed by SIGKILL" in demo.output()
    # the restarted consumer carries on: rows keep arriving
    rows = demo.query("SELECT count(*) FROM ticker_data")
    assert _wait(lambda: demo.query("SELECT count(*) FROM ticker_data") > rows, timeout=90)  # type: ignore[operator]


def test_a_market_summary_and_an_injected_anomaly_appear_and_show_in_the_cli(demo: DemoRun) -> None:
    assert _wait(
        lambda: demo.query("SELECT count(*) FROM llm_results WHERE kind = 'market_summary'") > 0,  # type: ignore[operator]
        timeout=240,
        every=3,
    ), demo.output()
    labels = demo.log_dir.parent / "demo-labels.jsonl"
    assert _wait(lambda: labels.exists() and labels.read_text().strip() != "", timeout=120), demo.output()

    def injected_market_flagged() -> bool:
        injected = {label["market"] for label in map(json.loads, labels.read_text().splitlines()) if label["anomalous"]}
        conn = psycopg2.connect(demo.settings.database_dsn(), connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT DISTINCT market FROM anomalies")
                flagged = {r[0] for r in cur.fetchall()}
        finally:
            conn.close()
        return bool(injected & flagged) or ("MARKET" in injected and "MARKET" in flagged)

    assert _wait(injected_market_flagged, timeout=420, every=5), demo.output()
    cli = [sys.executable, "-m", "upbit_llm"]
    anomalies = subprocess.run(
        [*cli, "anomalies", "--json"], env=demo.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert anomalies.returncode == 0, anomalies.stderr
    assert json.loads(anomalies.stdout), anomalies.stdout


def test_the_summary_and_the_anomaly_are_visible_through_mcp_and_flower(demo: DemoRun) -> None:
    import anyio
    import httpx
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    out = demo.output()
    token = re.search(r"Authorization: Bearer ([^\"]+)\"", out).group(1)  # type: ignore[union-attr]
    mcp_url = re.search(r"MCP \(streamable HTTP\): (\S+)", out).group(1)  # type: ignore[union-attr]
    flower_url = re.search(r"Flower: +(\S+)", out).group(1)  # type: ignore[union-attr]
    user, password = re.search(r"Flower login: +(\S+) / (\S+)", out).groups()  # type: ignore[union-attr]

    async def call_tools() -> dict[str, object]:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with http, Client(streamable_http_client(mcp_url, http_client=http)) as client:
            summary = await client.call_tool("latest_summary", {"kind": "market_summary"})
            anomalies = await client.call_tool("anomalies", {"status": "all"})
            return {"summary": summary, "anomalies": anomalies}

    # A tool answering an error once (the server was busy: 2 cores, every child running) is retried; an error that
    # persists for 30 s fails the test with the MCP server's log.
    deadline = time.monotonic() + 30
    while True:
        results = anyio.run(call_tools)
        errors = {n: r.content for n, r in results.items() if r.is_error}  # type: ignore[attr-defined]
        if not errors or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert not errors, (errors, (demo.log_dir / "mcp.log").read_text()[-3000:])
    summary_text = str(results["summary"].structured_content)  # type: ignore[attr-defined]
    anomalies_text = str(results["anomalies"].structured_content)  # type: ignore[attr-defined]
    market = demo.query("SELECT market FROM anomalies ORDER BY id LIMIT 1")
    assert market and str(market) in anomalies_text, anomalies_text[:2000]
    assert "market_summary" in summary_text or "offline" in summary_text, summary_text[:2000]

    refused = httpx.get(f"{flower_url}/api/tasks", timeout=10)
    assert refused.status_code == 401
    tasks = httpx.get(f"{flower_url}/api/tasks", auth=(user, password), timeout=10).json()
    names = {t["name"] for t in tasks.values()}
    assert "celery_app.tasks.summary.market_summary" in names, names
    assert "celery_app.tasks.anomalies.scan_anomalies" in names, names


def test_sigint_stops_everything_with_no_orphans(demo: DemoRun) -> None:
    groups = [int(c["pid"]) for c in demo.children().values() if c["pid"]]  # type: ignore[arg-type]
    members = {pid for g in groups for pid in group_members(g)}
    assert members, "no child processes to stop"
    code = stop_demo(demo, signal.SIGINT, timeout=60)
    assert code == 0, demo.output()
    assert "stopped (SIGINT)" in demo.output() and "leftover processes: 0" in demo.output()
    assert _wait(lambda: processes_with_marker(demo.marker) == [], timeout=5, every=0.2), processes_with_marker(
        demo.marker
    )
    assert not any(group_members(g) for g in groups)
