"""The shape of an Upbit ticker message: its 33 fields in Upbit's order (= the columns of ticker_data and
ticker_latest) and the SIMPLE↔DEFAULT key mapping.

It lives in the foundation because both sides of the database use it: ingest validates and writes these fields,
analytics reads them back (the raw-JSON baseline), and the simulator speaks the same format. Validation rules stay
in `ingest.ticker`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# DEFAULT name → SIMPLE key, in the order Upbit documents them (and the order of ticker_data's columns).
SIMPLE_KEYS: dict[str, str] = {
    "type": "ty",
    "code": "cd",
    "opening_price": "op",
    "high_price": "hp",
    "low_price": "lp",
    "trade_price": "tp",
    "prev_closing_price": "pcp",
    "change": "c",
    "change_price": "cp",
    "signed_change_price": "scp",
    "change_rate": "cr",
    "signed_change_rate": "scr",
    "trade_volume": "tv",
    "acc_trade_volume": "atv",
    "acc_trade_volume_24h": "atv24h",
    "acc_trade_price": "atp",
    "acc_trade_price_24h": "atp24h",
    "trade_date": "tdt",
    "trade_time": "ttm",
    "trade_timestamp": "ttms",
    "ask_bid": "ab",
    "acc_ask_volume": "aav",
    "acc_bid_volume": "abv",
    "highest_52_week_price": "h52wp",
    "highest_52_week_date": "h52wdt",
    "lowest_52_week_price": "l52wp",
    "lowest_52_week_date": "l52wdt",
    "market_state": "ms",
    "is_trading_suspended": "its",
    "delisting_date": "dd",
    "market_warning": "mw",
    "timestamp": "tms",
    "stream_type": "st",
}
FIELDS: tuple[str, ...] = tuple(SIMPLE_KEYS)
DEFAULT_KEYS: dict[str, str] = {simple: default for default, simple in SIMPLE_KEYS.items()}


def is_simple(message: Mapping[str, Any]) -> bool:
    """True for a SIMPLE-format message (short keys)."""
    return "cd" in message and "code" not in message


def to_default(message: Mapping[str, Any]) -> dict[str, Any]:
    """DEFAULT-format copy of a message (SIMPLE keys mapped; unknown keys kept as they are)."""
    if not is_simple(message):
        return dict(message)
    return {DEFAULT_KEYS.get(key, key): value for key, value in message.items()}


def to_simple(message: Mapping[str, Any]) -> dict[str, Any]:
    """SIMPLE-format copy of a DEFAULT message (what the server sends for format=SIMPLE)."""
    return {SIMPLE_KEYS.get(key, key): value for key, value in message.items()}
