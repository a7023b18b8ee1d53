"""The raw baseline for token savings: the latest ticker of every market as JSON, as a naive prompt would send."""

from __future__ import annotations

import json
from datetime import date, datetime

import psycopg2.extensions

from upbit_core.market_fields import FIELDS

# The Upbit ticker fields as Upbit sends them (DEFAULT format), as stored in ticker_latest: the foundation's list.
RAW_FIELDS = FIELDS


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
