"""Test data for the analytics and MCP tests: hand-made Upbit tickers, a simulated market, 100 hostile strings."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from upbit_core.settings import Settings


def tick(
    code: str,
    ms: int,
    price: float,
    *,
    prev_close: float,
    volume: float = 1.0,
    side: str = "BID",
    high: float | None = None,
    low: float | None = None,
    value_24h: float = 1e9,
    high_52w: float | None = None,
    low_52w: float | None = None,
    acc_bid: float = 10.0,
    acc_ask: float = 10.0,
    acc_volume: float = 100.0,
    market_warning: str = "NONE",
) -> dict[str, Any]:
    """One DEFAULT-format Upbit ticker whose signed_change_rate is the FRACTION Upbit sends."""
    when = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    diff = price - prev_close
    rate = abs(diff) / prev_close
    return {
        "type": "ticker",
        "code": code,
        "opening_price": prev_close,
        "high_price": high if high is not None else max(price, prev_close),
        "low_price": low if low is not None else min(price, prev_close),
        "trade_price": price,
        "prev_closing_price": prev_close,
        "change": "RISE" if diff > 0 else ("FALL" if diff < 0 else "EVEN"),
        "change_price": abs(diff),
        "signed_change_price": diff,
        "change_rate": rate,
        "signed_change_rate": rate if diff >= 0 else -rate,
        "trade_volume": volume,
        "acc_trade_volume": acc_volume,
        "acc_trade_volume_24h": acc_volume * 2,
        "acc_trade_price": value_24h / 2,
        "acc_trade_price_24h": value_24h,
        "trade_date": when.strftime("%Y%m%d"),
        "trade_time": when.strftime("%H%M%S"),
        "trade_timestamp": ms,
        "ask_bid": side,
        "acc_ask_volume": acc_ask,
        "acc_bid_volume": acc_bid,
        "highest_52_week_price": high_52w if high_52w is not None else price * 2,
        "highest_52_week_date": "2026-03-01",
        "lowest_52_week_price": low_52w if low_52w is not None else price / 2,
        "lowest_52_week_date": "2026-08-01",
        "market_state": "ACTIVE",
        "is_trading_suspended": False,
        "delisting_date": None,
        "market_warning": market_warning,
        "timestamp": ms + 5,
        "stream_type": "REALTIME",
    }


def catalog_entry(code: str, korean: str, english: str, *, warning: bool = False, **caution: bool) -> dict[str, Any]:
    return {
        "market": code,
        "korean_name": korean,
        "english_name": english,
        "market_event": {"warning": warning, "caution": caution},
    }


def fill_simulated(
    settings: Settings, *, markets: int = 160, minutes: int = 75, rate: float = 8.0, seed: int = 1
) -> dict[str, Any]:
    """A simulated market (the ingest team's simulator, their writer) ending now, aggregates refreshed."""
    from db.connection import connect
    from db.maintenance import refresh_aggregates
    from fake_upbit.simulator import MarketSimulator
    from tests.support.rows import load_catalog, load_messages

    start_ms = int(time.time() * 1000) - minutes * 60_000
    sim = MarketSimulator(markets=markets, seed=seed, start_ms=start_ms, rate=rate, events=True)
    load_catalog(settings, sim.catalog())
    rows = load_messages(settings, sim.messages(minutes * 60))
    conn = connect(settings)
    try:
        refresh_aggregates(conn)
    finally:
        conn.close()
    return {"rows": rows, "markets": markets, "codes": sim.codes}


# 100 hostile inputs: SQL injection, format strings, markup, control characters, odd Unicode, oversize values.
_SQL = [
    "'; DROP TABLE ticker_data; --",
    "KRW-BTC'; DELETE FROM markets; --",
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "1; SELECT pg_sleep(10)",
    "'; SELECT pg_sleep(10); --",
    "BTC' UNION SELECT usename, passwd FROM pg_shadow --",
    "'); INSERT INTO markets(code, quote, base) VALUES ('X-Y','X','Y'); --",
    "KRW-BTC' AND (SELECT 1 FROM pg_sleep(5)) IS NULL --",
    "$$; DROP SCHEMA public CASCADE; $$",
    "E'\\x00'",
    "'; COPY markets TO PROGRAM 'id'; --",
    "'; CREATE ROLE evil SUPERUSER; --",
    "'; ALTER ROLE upbit_reader SUPERUSER; --",
    "'; SET default_transaction_read_only = off; --",
    "KRW-BTC%' OR code LIKE '%",
    "%s%s%s%s",
    "%(market)s",
    "'||(SELECT version())||'",
    "admin'--",
    "1' ORDER BY 100--",
    "' AND extractvalue(1,concat(0x7e,version()))--",
    "'; TRUNCATE anomalies; --",
    "BTC; VACUUM FULL;",
    "\\'; DROP TABLE llm_results; --",
    "KRW-BTC'/**/OR/**/1=1",
    "'; LISTEN x; NOTIFY x; --",
    "'; SELECT * FROM pg_read_file('/etc/passwd'); --",
    "` rm -rf / `",
]
_FORMAT = [
    "{0}",
    "{__class__}",
    "{market.__init__.__globals__}",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "<%= 7*7 %>",
    "%n%n%n",
    "%x%x",
    "\\N",
    "NULL",
    "null",
    "None",
    "undefined",
    "NaN",
    "Infinity",
    "-1",
    "0",
    "1e309",
    "99999999999999999999999999",
    "true",
]
_MARKUP = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    '{"market": "KRW-BTC"}',
    "[1,2,3]",
    "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///'>]>",
]
_CONTROL = [
    "\x00",
    "KRW-BTC\x00",
    "\x00'; DROP TABLE x; --",
    "\r\nSet-Cookie: a=b",
    "\x1b[31mred\x1b[0m",
    "\t\t\t",
    "\n",
    "\x7f\x7f",
    "\ufeffKRW-BTC",
    "\u200b\u200b",
    "BTC\u202eCTB",
    "\ud7ff",
    "KRW-BTC\x08\x08",
]
_UNICODE = [
    "😀🚀🌕",
    "비트코인💎🙌",
    "ビットコイン",
    "比特币",
    "بيتكوين",
    "Биткоин",
    "ｂｉｔｃｏｉｎ",
    "BİTCOİN",
    "ß" * 5,
    "Ω≈ç√∫",
    "̸̡̛͎͍̙͚̖̬̞̯͖̘̪̹̼̊̈́͆̔̒͒͆̔̎̚͜͠͝Z̶a̶l̶g̶o̶",
    "🏳️‍🌈",
    "\U0001f4a9" * 30,
    "가" * 150,
    "ㅋㅋㅋㅋ",
    "ㅂㅣㅌㅡ",
    "　",
    "‮KRW-BTC",
]
_SIZE = [
    "",
    " ",
    "A" * 101,
    "KRW-" + "X" * 200,
    "x" * 10_000,
    "'" * 500,
    "-" * 99,
    "KRW-",
    "-BTC",
    "KRW--BTC",
    "krw_btc",
    "KRW BTC",
    "BTC-KRW",
    "USDT-",
    "KRW-BTC KRW-ETH KRW-XRP KRW-DOGE KRW-SOL",
]
GARBAGE_STRINGS: list[str] = (_SQL + _FORMAT + _MARKUP + _CONTROL + _UNICODE + _SIZE)[:100]
while len(GARBAGE_STRINGS) < 100:
    GARBAGE_STRINGS.append(f"'; SELECT {len(GARBAGE_STRINGS)} --")

# Text that only a database error or a crash would put in a response.
LEAK_MARKERS = (
    "psycopg2",
    "Traceback",
    "syntax error at or near",
    "ERROR:  ",
    "LINE 1:",
    "HINT:",
    "DETAIL:",
    "current transaction is aborted",
    "canceling statement",
    "permission denied",
    "UndefinedTable",
    "does not exist",
    'File "/',
)
