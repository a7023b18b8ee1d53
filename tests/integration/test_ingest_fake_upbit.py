"""fake-upbit speaks Upbit's protocol over real sockets; ingest follows catalog changes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psycopg2
import pytest
import websocket

from fake_upbit.server import FakeUpbitServer
from fake_upbit.sources import SimulatedSource
from ingest.ticker import SIMPLE_KEYS
from ingest.ws_client import subscription_request
from tests.support.pipeline import Pipeline
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_767_243_600_000


@pytest.fixture
def server() -> Iterator[FakeUpbitServer]:
    source = SimulatedSource(markets=20, rate=200, seed=3, start_ms=START_MS, duration_s=600)
    srv = FakeUpbitServer(source, speed=20.0).start_in_thread()
    yield srv
    srv.stop()


def _connect(server: FakeUpbitServer) -> websocket.WebSocket:
    ws = websocket.create_connection(server.ws_url, timeout=5, suppress_origin=True)
    return ws


def _recv_json(ws: websocket.WebSocket) -> object:
    opcode, data = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_BINARY
    return orjson.loads(data)


def test_rest_catalog_lists_markets_with_details(server: FakeUpbitServer) -> None:
    response = httpx.get(f"{server.rest_url}/v1/market/all", params={"is_details": "true"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    markets = response.json()
    assert len(markets) == 20
    assert markets[0]["market"] == "KRW-BTC" and markets[0]["korean_name"] == "비트코인"
    assert "caution" in markets[0]["market_event"]
    assert httpx.get(f"{server.rest_url}/v1/nothing").status_code == 404


@pytest.mark.parametrize(
    ("request_text", "error"),
    [
        ("not json", "WRONG_FORMAT"),
        ('[{"type": "ticker", "codes": ["KRW-BTC"]}]', "NO_TICKET"),
        ('[{"ticket": "t"}]', "NO_TYPE"),
        ('[{"ticket": "t"}, {"type": "ticker"}]', "NO_CODES"),
        ('[{"ticket": "t"}, {"type": "ticker", "codes": ["krw-btc"]}]', "INVALID_PARAM"),
        ('[{"ticket": "t"}, {"type": "ticker", "codes": ["KRW-BTC"]}, {"format": "XML"}]', "INVALID_PARAM"),
    ],
)
def test_malformed_requests_get_upbit_error_frames(server: FakeUpbitServer, request_text: str, error: str) -> None:
    ws = _connect(server)
    try:
        ws.send(request_text)
        answer = _recv_json(ws)
        assert isinstance(answer, dict) and answer["error"]["name"] == error
    finally:
        ws.close()


def test_ping_is_answered_with_status_up(server: FakeUpbitServer) -> None:
    ws = _connect(server)
    try:
        ws.send("PING")
        assert _recv_json(ws) == {"status": "UP"}
    finally:
        ws.close()


def test_only_subscribed_codes_arrive_as_binary_frames_in_simple_format(server: FakeUpbitServer) -> None:
    ws = _connect(server)
    try:
        ws.send_binary(subscription_request(["KRW-BTC", "KRW-ETH"], fmt="SIMPLE", only_realtime=True))
        seen = [_recv_json(ws) for _ in range(30)]
    finally:
        ws.close()
    assert all(isinstance(m, dict) and m["cd"] in {"KRW-BTC", "KRW-ETH"} for m in seen)
    assert set(seen[0]) == set(SIMPLE_KEYS.values())  # type: ignore[arg-type]
    assert {m["st"] for m in seen} == {"REALTIME"}  # type: ignore[index]


def test_snapshot_only_request_gets_one_snapshot_per_code(server: FakeUpbitServer) -> None:
    warm = _connect(server)
    warm.send_binary(subscription_request(["KRW-BTC"], only_realtime=True))
    _recv_json(warm)
    time.sleep(0.5)
    ws = _connect(server)
    try:
        ws.send(orjson.dumps([{"ticket": "t"}, {"type": "ticker", "codes": ["KRW-BTC"], "is_only_snapshot": True}]))
        snap = _recv_json(ws)
        assert isinstance(snap, dict) and snap["code"] == "KRW-BTC" and snap["stream_type"] == "SNAPSHOT"
        ws.settimeout(1.0)
        with pytest.raises(websocket.WebSocketTimeoutException):
            ws.recv_data()
    finally:
        ws.close()
        warm.close()


def test_port_zero_prints_the_urls() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "upbit_llm", "fake-upbit", "--simulate", "--port", "0", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        urls = orjson.loads(proc.stdout.readline())
        assert urls["websocket"].startswith("ws://127.0.0.1:") and urls["websocket"].endswith("/websocket/v1")
        assert httpx.get(f"{urls['rest']}/v1/market/all").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_listing_changes_update_markets_and_the_subscription(scratch_db: Settings, kafka_bootstrap: str) -> None:
    source = SimulatedSource(markets=30, rate=100, seed=8, start_ms=START_MS, duration_s=3_600)
    with Pipeline(scratch_db, kafka_bootstrap, source, speed=1.0, consumer=False, catalog_refresh_s=1.0) as pipe:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and pipe.ingest.stats.messages == 0:
            time.sleep(0.1)
        catalog = [m for m in source.catalog() if m["market"] != "KRW-XRP"]
        catalog.append(
            {
                "market": "KRW-NEWC",
                "korean_name": "뉴코인",
                "english_name": "New Coin",
                "market_event": {"warning": True},
            }
        )
        pipe.server.set_catalog(catalog)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "KRW-NEWC" not in pipe.ingest.codes:
            time.sleep(0.2)
        time.sleep(1.0)
        requests = pipe.server.stats.requests
    assert "KRW-NEWC" in pipe.ingest.codes and "KRW-XRP" not in pipe.ingest.codes
    assert requests >= 2  # re-subscribed on the same connection
    conn = psycopg2.connect(scratch_db.database_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT code, listed, warning FROM markets WHERE code IN ('KRW-NEWC', 'KRW-XRP') ORDER BY code")
            assert cur.fetchall() == [("KRW-NEWC", True, True), ("KRW-XRP", False, False)]
    finally:
        conn.close()


def test_a_live_simulator_sends_each_fill_at_its_event_time_though_the_first_client_subscribed_late() -> None:
    # A live simulator's clock starts when it is built; the feed waits for the first subscriber (the demo's ingest
    # starts seconds later). The seconds it waited go out at once, then every fill at its event time — otherwise
    # every event time lags the wall clock and an alert-latency figure counts the wait.
    source = SimulatedSource(markets=20, rate=200, seed=5, duration_s=600, history_hours=0)
    srv = FakeUpbitServer(source, speed=1.0).start_in_thread()
    try:
        time.sleep(3.0)
        ws = _connect(srv)
        try:
            subscribed = time.time()
            ws.send_binary(subscription_request([m["market"] for m in source.catalog()], only_realtime=True))
            got: list[tuple[float, int]] = []
            while time.time() < subscribed + 3.0:
                msg = _recv_json(ws)
                if isinstance(msg, dict) and "trade_timestamp" in msg:
                    got.append((time.time(), int(msg["trade_timestamp"])))
        finally:
            ws.close()
    finally:
        srv.stop()
    assert got and got[0][1] / 1000 < subscribed - 2.0  # the feed began where the simulator's clock began
    live = [arrived - ts / 1000 for arrived, ts in got if ts / 1000 >= subscribed + 1.0]
    assert len(live) > 50, "fills stamped after the subscription must arrive within the 3 s (not 3 s late)"
    assert sorted(live)[len(live) // 2] < 0.5
