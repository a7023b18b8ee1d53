"""The raw baseline for token savings: the latest ticker of every market as JSON, as a naive prompt would send."""

from __future__ import annotations

import json
from datetime import date, datetime

import psycopg2.extensions

# The Upbit ticker fields as Upbit sends them (DEFAULT format), in ticker_latest.
RAW_FIELDS = (
    "type",
    "code",
    "opening_price",
    "high_price",
    "low_price",
    "trade_price",
    "prev_closing_price",
    "change",
    "change_price",
    "signed_change_price",
    "change_rate",
    "signed_change_rate",
    "trade_volume",
    "acc_trade_volume",
    "acc_trade_volume_24h",
    "acc_trade_price",
    "acc_trade_price_24h",
    "trade_date",
    "trade_time",
    "trade_timestamp",
    "ask_bid",
    "acc_ask_volume",
    "acc_bid_volume",
    "highest_52_week_price",
    "highest_52_week_date",
    "lowest_52_week_price",
    "lowest_52_week_date",
    "market_state",
    "is_trading_suspended",
    "delisting_date",
    "market_warning",
    "timestamp",
    "stream_type",
)


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def raw_latest_json(conn: psycopg2.extensions.connection, quote: str | None = None) -> tuple[str, int]:
    """(JSON array of every market's latest ticker, number of markets)."""
    columns = ", ".join(f'"{f}"' for f in RAW_FIELDS)
    with conn.cursor() as cur:
        if quote:
            cur.execute(f"SELECT {columns} FROM ticker_latest WHERE code LIKE %s ORDER BY code", (quote + "-%",))  # noqa: S608
        else:
            cur.execute(f"SELECT {columns} FROM ticker_latest ORDER BY code")  # noqa: S608
        rows = cur.fetchall()
    data = [{k: _jsonable(v) for k, v in zip(RAW_FIELDS, row, strict=True)} for row in rows]
    return json.dumps(data, ensure_ascii=False), len(rows)
