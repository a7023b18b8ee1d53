"""The dashboard in a real browser (Debian's headless Chromium) against a database filled by the simulator.

Shown here: the chart renders candles and anomaly markers, the page's numbers equal the API's, the Q&A box answers
(offline analyst), the anomaly feed updates when an anomaly is stored, the token is enforced, both languages work.
Screenshots go to artifacts/ (fixture artifacts_dir).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from dashboard.app import build_app
from tests.conftest import make_scratch_db
from tests.support.browser import LiveServer, browser_errors, chromium, chromium_missing, wait_for
from tests.support.celery_procs import process_env, worker
from tests.support.dashboard import Filled, fill_with_simulator, insert_anomaly
from upbit_core.settings import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]

KST = timedelta(hours=9)


@pytest.fixture(scope="module")
def filled() -> Iterator[tuple[Settings, Filled, list[int]]]:
    gen = make_scratch_db(web_refresh_seconds=0.5)
    settings = next(gen)
    try:
        fill = fill_with_simulator(settings, markets=30, minutes=75, seed=11)
        # Two anomalies inside the chart's range, so the coin page has markers to draw.
        end = fill.end
        marks = [
            insert_anomaly(
                settings, "KRW-BTC", kind="price_jump", severity="high", started_at=end - timedelta(minutes=12)
            ),
            insert_anomaly(
                settings,
                "KRW-BTC",
                kind="value_spike",
                severity="medium",
                started_at=end - timedelta(minutes=41),
                interpretation="거래대금이 평소의 6배로 늘었습니다.",
            ),
        ]
        from llm.summary import produce_summary

        produce_summary(settings)  # the offline analyst writes the summary the overview shows
        yield settings, fill, marks
    finally:
        gen.close()


@pytest.fixture(scope="module")
def server(filled: tuple[Settings, Filled, list[int]]) -> Iterator[LiveServer]:
    srv = LiveServer(build_app(filled[0])).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def _shot(driver: Any, artifacts_dir: Path, name: str) -> Path:
    path = artifacts_dir / f"dashboard-{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000, f"screenshot {path} looks empty"
    return path


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.+-]", "", text))


def _price_matches(text: str, value: float) -> bool:
    tol = 0.5 if abs(value) >= 1000 else 0.05 if abs(value) >= 100 else abs(value) * 5e-4 + 1e-12
    return abs(_number(text) - value) <= tol + 1e-9


def _pct_matches(text: str, value: float | None) -> bool:
    if value is None:
        return text == "–"
    r = round(value, 2)
    sign = "+" if r > 0 else "-" if r < 0 else ""
    return text.startswith(sign) and text.endswith("%") and abs(_number(text) - value) <= 0.005 + 1e-9


def _krw_matches_ko(text: str, value: float) -> bool:
    for unit, scale, digits in (("조", 1e12, 2), ("억", 1e8, 0), ("만", 1e4, 0), ("원", 1, 0)):
        if text.endswith(unit):
            return abs(_number(text) * scale - value) <= 0.5 * 10 ** (-digits) * scale + 1e-6
    return False


def _kst(iso: str) -> str:
    return (datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC) + KST).strftime("%H:%M:%S KST")


TABLE_JS = """
return [...document.querySelectorAll('#market-table tbody tr')].map(tr => {
  const cells = {};
  for (const td of tr.querySelectorAll('td[data-key]')) {
    cells[td.dataset.key] = {raw: td.dataset.raw, text: td.textContent.trim(), cls: td.className};
  }
  return {market: tr.dataset.market, cells};
});
"""


def test_overview_numbers_equal_the_api_and_the_summary_card_shows_as_of_model_tokens_cost(
    browser: Any, server: LiveServer, api: httpx.Client, artifacts_dir: Path
) -> None:
    markets = api.get("/api/markets").json()["items"]
    overview = api.get("/api/overview").json()
    summary = api.get("/api/summary").json()
    browser.get(f"{server.url}/?lang=ko")
    rows = wait_for(
        lambda: (r := browser.execute_script(TABLE_JS)) and len(r) == len(markets) and r,
        what="market table rows",
    )
    by_market = {m["market"]: m for m in markets}
    assert {r["market"] for r in rows} == set(by_market)
    for row in rows:
        want = by_market[row["market"]]
        cells = row["cells"]
        assert float(cells["price"]["raw"]) == want["price"]
        assert _price_matches(cells["price"]["text"], want["price"]), (row["market"], cells["price"], want["price"])
        for key in ("change_24h_pct", "change_5m_pct", "change_1h_pct"):
            assert float(cells[key]["raw"]) == want[key], (row["market"], key)
            assert _pct_matches(cells[key]["text"], want[key]), (row["market"], key, cells[key], want[key])
            r = round(want[key], 2)
            assert ("up" if r > 0 else "down" if r < 0 else "flat") in cells[key]["cls"].split()  # red up, blue down
        assert float(cells["value_24h_upbit_krw"]["raw"]) == want["value_24h_upbit_krw"]
        assert _krw_matches_ko(cells["value_24h_upbit_krw"]["text"], want["value_24h_upbit_krw"])

    for window in ("prev_close", "5m", "1h"):
        b = overview[f"breadth_{window if window != 'prev_close' else 'prev_close'}"]
        card = browser.find_element("id", f"breadth-{window}")
        for part in ("up", "flat", "down"):
            assert int(card.find_element("css selector", f".n-{part}").get_attribute("data-raw")) == b[part]
    assert float(browser.find_element("id", "value-24h").get_attribute("data-raw")) == overview["value_24h_upbit_krw"]
    assert float(browser.find_element("id", "value-1h").get_attribute("data-raw")) == overview["value_1h_fills_krw"]
    assert browser.find_element("id", "as-of").text == _kst(overview["freshness"]["as_of"])

    s = summary["summary"]
    assert browser.find_element("id", "summary-text").text.strip() == s["text"].strip()
    meta = browser.find_element("id", "summary-meta").text
    assert s["model"] in meta and "기준 시각" in meta and "토큰" in meta and "$" in meta
    assert _kst(s["as_of"]).split()[0] in meta
    _shot(browser, artifacts_dir, "overview-ko")
    assert browser_errors(browser) == []


def test_market_table_sorts_by_the_clicked_column(browser: Any, server: LiveServer, artifacts_dir: Path) -> None:
    browser.get(f"{server.url}/?lang=en")
    wait_for(lambda: browser.execute_script(TABLE_JS), what="table")
    header = browser.find_element("css selector", "#market-table th[data-key='change_24h_pct']")

    def column() -> list[float]:
        return [float(r["cells"]["change_24h_pct"]["raw"]) for r in browser.execute_script(TABLE_JS)]

    header.click()
    desc = column()
    assert desc == sorted(desc, reverse=True)
    header.click()
    asc = column()
    assert asc == sorted(asc)
    _shot(browser, artifacts_dir, "overview-en-sorted")


def test_coin_page_draws_candles_in_korean_colours_with_anomaly_markers(
    browser: Any,
    server: LiveServer,
    api: httpx.Client,
    filled: tuple[Settings, Filled, list[int]],
    artifacts_dir: Path,
) -> None:
    browser.get(f"{server.url}/coin/KRW-BTC?lang=ko")
    chart = browser.find_element("id", "chart")
    for interval in ("1m", "5m", "1h"):
        if interval != "1m":
            browser.find_element("css selector", f".intervals button[data-interval='{interval}']").click()
        series = api.get(f"/api/candles/KRW-BTC?interval={interval}&limit=300").json()
        wait_for(
            lambda iv=interval, n=len(series["candles"]): (
                chart.get_attribute("data-interval") == iv and chart.get_attribute("data-candles") == str(n)
            ),
            what=f"{interval} candles",
        )
        assert float(chart.get_attribute("data-last-close")) == series["candles"][-1]["close"]
        first = datetime.fromisoformat(series["candles"][0]["t"].replace("Z", "+00:00"))
        expected_markers = sum(
            1
            for a in api.get("/api/coins/KRW-BTC").json()["anomalies"]
            if datetime.fromisoformat(a["started_at"].replace("Z", "+00:00")) >= first
        )
        assert chart.get_attribute("data-markers") == str(expected_markers), interval
        if interval == "1m":
            assert expected_markers == 2  # both stored anomalies fall inside the 1m range
            _shot(browser, artifacts_dir, "coin-1m")
            # The canvas really has candles drawn: count pixels of the up (red) and down (blue) candle colours.
            counts = browser.execute_script(
                """
                let up = 0, down = 0, canvases = 0;
                for (const c of document.querySelectorAll('#chart canvas')) {
                  if (!c.width || !c.height) continue;
                  canvases++;
                  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  for (let i = 0; i < d.length; i += 4) {
                    if (d[i] === 240 && d[i+1] === 68 && d[i+2] === 82) up++;
                    if (d[i] === 59 && d[i+1] === 130 && d[i+2] === 246) down++;
                  }
                }
                return {up, down, canvases};
                """
            )
            assert counts["canvases"] >= 1 and counts["up"] > 50 and counts["down"] > 50, counts
    brief = api.get("/api/coins/KRW-BTC").json()
    assert float(browser.find_element("id", "coin-price").get_attribute("data-raw")) == brief["price"]
    for key, el in (("change_24h_pct", "coin-change-24h"), ("change_5m_pct", "coin-change-5m")):
        node = browser.find_element("id", el)
        assert float(node.get_attribute("data-raw")) == brief[key]
        assert _pct_matches(node.text, brief[key])
    feed = browser.execute_script("return [...document.querySelectorAll('#anomaly-feed li')].map(li => +li.dataset.id)")
    assert set(feed) == set(filled[2])
    _shot(browser, artifacts_dir, "coin-1h")
    assert browser_errors(browser) == []


def test_coin_page_overlays_moving_averages_and_bollinger_bands_and_draws_an_rsi_pane(
    browser: Any, server: LiveServer, api: httpx.Client, artifacts_dir: Path
) -> None:
    browser.get(f"{server.url}/coin/KRW-BTC?lang=ko&interval=1m")
    chart = browser.find_element("id", "chart")
    ind = api.get("/api/indicators/KRW-BTC?interval=1m&limit=300").json()
    candles = api.get("/api/candles/KRW-BTC?interval=1m&limit=300").json()["candles"]
    assert [p["t"] for p in ind["points"]][-len(candles) :] == [c["t"] for c in candles][-len(ind["points"]) :]
    # 75 minutes of 1m candles: Bollinger (3 lines), SMA50, EMA20, EMA50 are warmed up; SMA200/EMA200 are not.
    drawable = sum(
        1
        for key in ("bb_upper", "bb_mid", "bb_lower", "sma50", "sma200", "ema20", "ema50", "ema200")
        if any(p[key] is not None for p in ind["points"])
    )
    assert drawable == 6
    rsi = [p["rsi14"] for p in ind["points"] if p["rsi14"] is not None]
    wait_for(lambda: chart.get_attribute("data-overlays") == "6", what="6 overlay lines")
    wait_for(lambda: chart.get_attribute("data-rsi-points") == str(len(rsi)), what="the RSI pane")
    assert abs(float(chart.get_attribute("data-last-rsi")) - rsi[-1]) < 1e-9
    _shot(browser, artifacts_dir, "coin-indicators")
    # Pixels of the SMA20/Bollinger-middle colour (#facc15) in the price pane and of the RSI line (#e879f9) below.
    counts = browser.execute_script(
        """
        let mid = 0, rsi = 0, band = 0;
        for (const c of document.querySelectorAll('#chart canvas')) {
          if (!c.width || !c.height) continue;
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          for (let i = 0; i < d.length; i += 4) {
            if (Math.abs(d[i] - 250) < 8 && Math.abs(d[i+1] - 204) < 8 && Math.abs(d[i+2] - 21) < 8) mid++;
            if (Math.abs(d[i] - 232) < 8 && Math.abs(d[i+1] - 121) < 8 && Math.abs(d[i+2] - 249) < 8) rsi++;
            if (Math.abs(d[i] - 148) < 10 && Math.abs(d[i+1] - 163) < 10 && Math.abs(d[i+2] - 184) < 10) band++;
          }
        }
        return {mid, rsi, band};
        """
    )
    assert counts["mid"] > 20 and counts["rsi"] > 40 and counts["band"] > 20, counts
    legend = browser.find_element("id", "chart-legend").text
    assert "SMA20" in legend and "BB upper" in legend and "RSI14" in legend
    assert browser_errors(browser) == []


def test_q_and_a_box_answers_with_the_offline_analyst(
    browser: Any,
    server: LiveServer,
    filled: tuple[Settings, Filled, list[int]],
    redis_url: str,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    """The box asks through a real Celery worker on the llm queue (the web process never answers itself)."""
    settings = filled[0]
    assert settings.redis_url == redis_url
    with worker(process_env(settings, redis_url=redis_url), tmp_path / "worker.log", queues="llm", concurrency=1):
        browser.get(f"{server.url}/coin/KRW-ETH?lang=ko")
        box = browser.find_element("id", "qa-question")
        box.send_keys("지금 어때?")
        browser.find_element("id", "qa-submit").click()
        answer = browser.find_element("id", "qa-answer")
        wait_for(lambda: answer.get_attribute("data-status") == "answered", timeout=60, what="Q&A answer")
        text = answer.text
    assert "이더리움" in text and "KRW-ETH" in text and "오프라인" in text
    meta = browser.find_element("id", "qa-meta").text
    assert "offline-analyst" in meta and "기준 시각" in meta
    _shot(browser, artifacts_dir, "coin-qa")


def test_anomaly_feed_shows_a_newly_stored_anomaly_without_a_reload(
    browser: Any, server: LiveServer, filled: tuple[Settings, Filled, list[int]], artifacts_dir: Path
) -> None:
    settings = filled[0]
    browser.get(f"{server.url}/?lang=ko")
    wait_for(lambda: browser.find_elements("css selector", "#anomaly-feed li"), what="initial feed")
    before = browser.execute_script("return performance.getEntriesByType('navigation').length")
    new_id = insert_anomaly(
        settings, "KRW-XRP", kind="buy_burst", severity="critical",
        metrics={"price_change_pct": 5.31, "value_ratio": 8.2, "buy_share_pct": 91.0},
    )  # fmt: skip
    # The feed re-renders on every update, so read the item in one script call (no stale element handles).
    item = wait_for(
        lambda: browser.execute_script(
            "const li = document.getElementById(arguments[0]);return li && {text: li.textContent, cls: li.className};",
            f"anomaly-{new_id}",
        ),
        timeout=15,
        what=f"anomaly #{new_id} in the feed",
    )
    assert "KRW-XRP" in item["text"] and "매수 급증" in item["text"] and "+5.31%" in item["text"]
    assert "new" in item["cls"].split()  # highlighted as new
    assert browser.execute_script("return performance.getEntriesByType('navigation').length") == before
    _shot(browser, artifacts_dir, "overview-new-anomaly")


def test_language_toggle_switches_korean_and_english_and_is_remembered(browser: Any, server: LiveServer) -> None:
    browser.get(f"{server.url}/?lang=en")
    assert browser.find_element("css selector", ".table-panel h2").text == "Market overview"
    browser.find_element("id", "lang-toggle").click()
    wait_for(lambda: browser.find_element("css selector", ".table-panel h2").text == "시장 개요", what="Korean")
    browser.get(f"{server.url}/")
    assert browser.find_element("css selector", ".table-panel h2").text == "시장 개요"
    browser.get(f"{server.url}/coin/KRW-BTC?lang=en")
    assert browser.find_element("id", "coin-name").text == "Bitcoin"


def test_with_a_token_the_browser_gets_a_token_form_and_the_dashboard_after_entering_it(
    filled: tuple[Settings, Filled, list[int]], artifacts_dir: Path
) -> None:
    token = "browser-test-token-9f2"
    srv = LiveServer(build_app(filled[0].model_copy(update={"web_token": SecretStr(token)}))).start()
    try:
        with chromium() as driver:  # a fresh profile: no cookie yet
            driver.get(f"{srv.url}/coin/KRW-BTC")
            field = driver.find_element("name", "token")
            assert driver.find_elements("id", "chart") == []
            _shot(driver, artifacts_dir, "token-form")
            field.send_keys("wrong-token")
            field.submit()
            wait_for(lambda: "wrong" in driver.page_source, what="refusal of a wrong token")
            driver.find_element("name", "token").send_keys(token)
            driver.find_element("name", "token").submit()
            chart = wait_for(lambda: driver.find_elements("id", "chart"), what="coin page after the token")[0]
            assert "token=" not in driver.current_url
            wait_for(lambda: int(chart.get_attribute("data-candles") or 0) > 0, what="candles through the cookie")
            driver.get(f"{srv.url}/")
            wait_for(lambda: driver.execute_script(TABLE_JS), what="table via API calls with the cookie")
    finally:
        srv.stop()
