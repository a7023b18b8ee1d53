"""The dashboard's JSON API, live stream, roles, token and command against a database filled by the simulator."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg2
import pytest
from pydantic import SecretStr

from analytics.anomalies import recent_anomalies
from analytics.candles import candles
from analytics.coin import coin_brief
from analytics.overview import market_overview
from analytics.summaries import latest_summary
from dashboard.app import build_app
from db.connection import connect
from tests.conftest import make_scratch_db
from tests.support.browser import LiveServer, free_port
from tests.support.dashboard import Filled, fill_with_simulator, insert_anomaly
from upbit_core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
VOLATILE = {"lag_seconds", "age_seconds"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[Settings, Filled]]:
    gen = make_scratch_db(web_refresh_seconds=0.5)
    settings = next(gen)
    try:
        yield settings, fill_with_simulator(settings, markets=30, minutes=75)
    finally:
        gen.close()


@pytest.fixture(scope="module")
def server(filled: tuple[Settings, Filled]) -> Iterator[LiveServer]:
    settings, _ = filled
    srv = LiveServer(build_app(settings)).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_api_numbers_are_exactly_what_the_analytics_layer_computes(
    filled: tuple[Settings, Filled], client: httpx.Client
) -> None:
    settings, _ = filled
    conn = connect(settings)
    try:
        expected = {
            "/api/overview": market_overview(conn).model_dump(mode="json"),
            "/api/coins/KRW-BTC": coin_brief(conn, "KRW-BTC").model_dump(mode="json"),
            "/api/candles/KRW-BTC?interval=5m&limit=12": candles(conn, "KRW-BTC", "5m", 12).model_dump(mode="json"),
            "/api/anomalies": recent_anomalies(conn, limit=30).model_dump(mode="json"),
            "/api/summary": latest_summary(conn).model_dump(mode="json"),
        }
    finally:
        conn.close()
    for path, want in expected.items():
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert _stable(r.json()) == _stable(want), path


def test_market_table_lists_every_simulated_market_with_the_overview_numbers(
    filled: tuple[Settings, Filled], client: httpx.Client
) -> None:
    settings, fill = filled
    table = client.get("/api/markets").json()
    rows = {r["market"]: r for r in table["items"]}
    assert set(rows) == set(fill.codes)
    conn = connect(settings)
    try:
        full = market_overview(conn, top=1000)
    finally:
        conn.close()
    for line in full.value_leaders:
        row = rows[line.market]
        for key in ("price", "change_24h_pct", "change_5m_pct", "change_1h_pct", "value_24h_upbit_krw", "korean_name"):
            assert row[key] == getattr(line, key), (line.market, key)
    assert rows["KRW-BTC"]["english_name"] == "Bitcoin"
    assert all(r["change_1h_pct"] is not None for r in rows.values())  # 75 minutes of data: 1 h change exists


@pytest.mark.parametrize(("interval", "step"), [("1m", 60), ("5m", 300), ("1h", 3600)])
def test_candles_come_oldest_first_on_interval_boundaries(client: httpx.Client, interval: str, step: int) -> None:
    body = client.get(f"/api/candles/KRW-ETH?interval={interval}&limit=500").json()
    stamps = [datetime.fromisoformat(c["t"].replace("Z", "+00:00")).timestamp() for c in body["candles"]]
    assert len(stamps) >= 2 and stamps == sorted(stamps)
    assert all(ts % step == 0 for ts in stamps)
    for c in body["candles"]:
        assert c["low"] <= min(c["open"], c["close"]) <= max(c["open"], c["close"]) <= c["high"]


INJECTIONS = [
    "' OR 1=1 --",
    "KRW-BTC'; DROP TABLE anomalies; --",
    "%00%27",
    '비트코인" UNION SELECT password FROM pg_shadow --',
    "../../etc/passwd",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_bad_market_text_gets_a_clear_error_and_never_database_text(
    filled: tuple[Settings, Filled], client: httpx.Client, text: str
) -> None:
    _, fill = filled
    for path in (f"/api/coins/{quote(text, safe='')}", f"/api/candles/{quote(text, safe='')}?interval=1m"):
        r = client.get(path)
        # The text goes to the analytics resolver, never into SQL: it names a real market (the resolver is lenient,
        # "KRW-BTC'; DROP ..." still reads as KRW-BTC) or gets a clean 404/422.
        assert r.status_code in (200, 404, 422), (path, r.status_code, r.text)
        if r.status_code == 200:
            assert r.json().get("market", r.json().get("ref", {}).get("market")) in fill.codes
        body = r.text.lower()
        for leak in ("psycopg2", "syntax error", "traceback", "permission denied", "relation "):
            assert leak not in body, (path, body)
    r = client.get("/api/anomalies", params={"market": text[:40]})
    assert r.status_code == 200 and r.json()["items"] == []
    assert client.get("/api/anomalies").status_code == 200  # the table is still there


def test_invalid_parameters_are_refused_with_422(client: httpx.Client) -> None:
    assert client.get("/api/candles/KRW-BTC?interval=2m").status_code == 422
    assert client.get("/api/candles/KRW-BTC?limit=0").status_code == 422
    assert client.get("/api/candles/KRW-BTC?limit=100000").status_code == 422
    assert client.get("/api/coins/" + "X" * 200).status_code == 422
    assert client.post("/api/coins/KRW-BTC/ask", json={"question": ""}).status_code == 422
    assert client.post("/api/coins/KRW-BTC/ask", json={"question": "a" * 501}).status_code == 422
    assert client.post("/api/coins/KRW-BTC/ask", json={"question": "hi", "lang": "fr"}).status_code == 422


def test_openapi_documents_every_endpoint(client: httpx.Client) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {
        "/api/overview",
        "/api/markets",
        "/api/coins/{market}",
        "/api/candles/{market}",
        "/api/anomalies",
        "/api/summary",
        "/api/resolve",
        "/api/coins/{market}/ask",
        "/api/stream",
        "/api/health",
    } <= paths


def test_dashboard_reads_through_the_read_only_role_which_cannot_write(
    server: LiveServer, client: httpx.Client
) -> None:
    health = client.get("/api/health").json()
    assert health == {
        "status": "ok",
        "database": "ok",
        "db_role": "upbit_reader",
        "readonly_role": True,
        "live_subscribers": health["live_subscribers"],
    }
    pool = server.server.config.app.state.data.pool  # the very pool the app reads with
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == "upbit_reader"
        with pytest.raises(psycopg2.Error):
            cur.execute("DELETE FROM anomalies")


def test_dashboard_never_reads_as_the_writer_when_the_reader_role_is_missing_outside_development(
    filled: tuple[Settings, Filled],
) -> None:
    settings, _ = filled
    for environment, fallback in (("test", True), ("production", True), ("development", False)):
        app = build_app(
            settings.model_copy(
                update={
                    "readonly_user": "no_such_reader_role",
                    "environment": environment,
                    "readonly_fallback_to_writer": fallback,
                }
            )
        )
        srv = LiveServer(app).start()
        try:
            with httpx.Client(base_url=srv.url, timeout=30) as c:
                health = c.get("/api/health").json()
                assert health["database"] != "ok" and health.get("db_role") != "postgres", (environment, health)
                assert c.get("/api/overview").status_code >= 500
        finally:
            srv.stop()


def test_dashboard_falls_back_to_the_writer_role_read_only_only_when_development_asks_for_it(
    filled: tuple[Settings, Filled], caplog: pytest.LogCaptureFixture
) -> None:
    settings, _ = filled
    app = build_app(
        settings.model_copy(
            update={
                "readonly_user": "no_such_reader_role",
                "environment": "development",
                "readonly_fallback_to_writer": True,
            }
        )
    )
    with caplog.at_level(logging.WARNING, logger="dashboard.database"):
        srv = LiveServer(app).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            health = c.get("/api/health").json()
            assert (health["db_role"], health["readonly_role"]) == ("postgres", False)
            assert c.get("/api/overview").status_code == 200
        warnings = [r.getMessage() for r in caplog.records if "falling back to writer role" in r.getMessage()]
        assert warnings and "upbit-llm migrate" in warnings[0]
        with app.state.data.pool.connection() as conn, conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cur.execute("DELETE FROM anomalies")
    finally:
        srv.stop()


def test_q_and_a_goes_through_the_celery_ask_task_and_scopes_the_question_to_the_page_coin(
    filled: tuple[Settings, Filled], client: httpx.Client, redis_url: str, tmp_path: Path
) -> None:
    """The web process hands questions to a real Celery worker on the llm queue and shows its verification state."""
    from tests.support.celery_procs import process_env, worker

    settings, _ = filled
    assert settings.redis_url == redis_url
    with worker(process_env(settings, redis_url=redis_url), tmp_path / "worker.log", queues="llm", concurrency=1):
        r = client.post("/api/coins/KRW-BTC/ask", json={"question": "지금 어때?", "lang": "ko"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "answered" and body["markets"] == ["KRW-BTC"] and body["intent"] == "coin"
        assert body["offline"] is True and body["model"] and body["as_of"] and body["grounded"] is True
        assert "KRW-BTC" in body["text"] and "비트코인" in body["text"]
        en = client.post("/api/coins/KRW-ETH/ask", json={"question": "how is it now?", "lang": "en"}).json()
        assert en["status"] == "answered" and en["markets"] == ["KRW-ETH"] and "Ethereum" in en["text"]
        movers = client.post("/api/coins/KRW-ETH/ask", json={"question": "오늘 제일 많이 오른 코인 뭐야?"}).json()
        assert movers["intent"] == "movers" and movers["tool_calls"][0]["name"] == "top_movers"
        assert movers["grounded"] is True and "상승률 상위" in movers["text"]
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "celery_app.tasks.qa.ask" in worker_log and "succeeded" in worker_log
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM llm_results WHERE kind = 'coin_qa' AND 'KRW-BTC' = ANY(markets)")
            assert cur.fetchone()[0] >= 1
    finally:
        conn.close()


def _sse_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    event, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def test_live_stream_sends_a_snapshot_then_the_anomaly_that_was_just_stored(
    filled: tuple[Settings, Filled], server: LiveServer
) -> None:
    settings, _ = filled
    seen: dict[str, Any] = {}
    new_id = None
    deadline = time.monotonic() + 20
    with httpx.Client(base_url=server.url, timeout=20) as c, c.stream("GET", "/api/stream") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for event, data in _sse_events(r):
            seen[event] = data
            if new_id is None and {"overview", "markets", "anomalies", "summary"} <= set(seen):
                assert data is not None
                assert len(seen["markets"]["items"]) == 30
                new_id = insert_anomaly(settings, "KRW-SOL", kind="price_jump", severity="critical")
            elif new_id is not None and event == "anomalies" and any(a["id"] == new_id for a in data["items"]):
                break
            assert time.monotonic() < deadline, f"no anomalies event with #{new_id}; saw {list(seen)}"
    item = next(a for a in seen["anomalies"]["items"] if a["id"] == new_id)
    assert (item["market"], item["kind"], item["severity"]) == ("KRW-SOL", "price_jump", "critical")


def test_without_a_database_pages_say_so_the_api_answers_503_and_healthz_stays_up(
    filled: tuple[Settings, Filled],
) -> None:
    settings, _ = filled
    gone = settings.model_copy(update={"timescaledb_dbname": "no_such_dashboard_db"})
    srv = LiveServer(build_app(gone)).start()  # starts anyway: the database may come later
    try:
        with httpx.Client(base_url=srv.url, timeout=20) as c:
            assert c.get("/healthz").status_code == 200
            assert c.get("/api/health").json()["status"] == "degraded"
            api = c.get("/api/overview")
            assert api.status_code == 503 and "upbit-llm services up" in api.json()["detail"]
            page = c.get("/?lang=en")
            assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
            assert "database unavailable" in page.text and "no_such_dashboard_db" not in page.text
            assert c.get("/coin/KRW-BTC").status_code == 503
    finally:
        srv.stop()


def test_token_protects_api_stream_and_pages_but_not_healthz(filled: tuple[Settings, Filled]) -> None:
    settings, _ = filled
    token = "dash-test-token-123"
    srv = LiveServer(build_app(settings.model_copy(update={"web_token": SecretStr(token)}))).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=20, follow_redirects=False) as c:
            assert c.get("/healthz").status_code == 200
            for path in ("/api/overview", "/api/markets", "/api/stream", "/", "/coin/KRW-BTC", "/openapi.json"):
                assert c.get(path).status_code == 401, path
            auth = {"Authorization": f"Bearer {token}"}
            assert c.get("/api/overview", headers=auth).status_code == 200
            assert c.get("/api/overview", headers={"Authorization": "Bearer wrong"}).status_code == 401
            page = c.get(f"/?token={token}")
            assert page.status_code == 303 and page.headers["location"] == "/"
            assert c.get("/").status_code == 200  # the cookie from the redirect
            with c.stream("GET", "/api/stream") as r:
                assert r.status_code == 200
    finally:
        srv.stop()


def test_upbit_llm_web_serves_the_dashboard_and_stops_on_ctrl_c(
    filled: tuple[Settings, Filled], tmp_path: Path
) -> None:
    settings, _ = filled
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TIMESCALEDB_", "WEB_", "READONLY_"))},
        "PYTHONPATH": str(ROOT),
        "ENVIRONMENT": "test",
        "TIMESCALEDB_DBNAME": settings.timescaledb_dbname,
        "TIMESCALEDB_HOST": settings.timescaledb_host,
        "TIMESCALEDB_PORT": str(settings.timescaledb_port),
        "TIMESCALEDB_MODE": "off",
        "ANTHROPIC_API_KEY": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "upbit_llm", "web", "--port", str(port)],
        cwd=tmp_path,  # no .env from the developer's checkout
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "upbit-llm web did not start"
            time.sleep(0.2)
        page = httpx.get(f"http://127.0.0.1:{port}/coin/KRW-BTC?lang=en", timeout=10)
        assert page.status_code == 200 and "Bitcoin" in page.text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) in (0, 130)  # 130: the CLI reports the interrupt after a clean shutdown
        out = proc.stdout.read() if proc.stdout else ""
        assert f"http://127.0.0.1:{port}/" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.timescaledb
def test_dashboard_serves_the_same_analytics_in_timescaledb_mode(scratch_db_timescale: Settings) -> None:
    fill = fill_with_simulator(scratch_db_timescale, markets=10, minutes=20, rate=8.0)
    srv = LiveServer(build_app(scratch_db_timescale)).start()
    try:
        conn = connect(scratch_db_timescale)
        try:
            want_candles = candles(conn, "KRW-BTC", "5m", 10).model_dump(mode="json")
            want_brief = coin_brief(conn, "KRW-BTC").model_dump(mode="json")
        finally:
            conn.close()
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert {r["market"] for r in c.get("/api/markets").json()["items"]} == set(fill.codes)
            assert _stable(c.get("/api/candles/KRW-BTC?interval=5m&limit=10").json()) == _stable(want_candles)
            assert _stable(c.get("/api/coins/KRW-BTC").json()) == _stable(want_brief)
            assert c.get("/coin/KRW-BTC").status_code == 200
    finally:
        srv.stop()
