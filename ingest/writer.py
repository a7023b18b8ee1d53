"""The consumer's database writer: ticker messages → COPY rows → ticker_data (idempotent) and ticker_latest.

One batch is one transaction. Rows are streamed with COPY into a temporary staging table, then moved with
`INSERT ... ON CONFLICT DO NOTHING` on the identity index (code, time, msg_id): a message delivered twice is
stored once, fills that share a millisecond are all stored. `ticker_latest` is upserted from the same staging
rows, guarded by event time so an old message replayed late never overwrites a newer price.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg2.extensions

from ingest.ticker import (
    BOOL_FIELDS,
    COLUMNS,
    FIELDS,
    SIMPLE_KEYS,
    canonical_bytes,
    message_id_from_canonical,
    validate,
)

log = logging.getLogger(__name__)

STAGING = "ticker_staging"
_COLUMN_LIST = ", ".join(f'"{c}"' for c in COLUMNS)
_FIELDS_AFTER_CODE = tuple(f for f in FIELDS if f != "code")
_UPDATE_SET = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in (*COLUMNS, "ingested_at") if c != "code")

_CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (LIKE ticker_data INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_MOVE = (
    f"INSERT INTO ticker_data ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {STAGING} "  # noqa: S608 (constants)
    "ON CONFLICT (code, time, msg_id) DO NOTHING"
)
# The newest staged message per market replaces ticker_latest's row only if it is not older (event time,
# then message time) — replays and re-deliveries of old data never move the latest price backwards.
_LATEST = (
    f"INSERT INTO ticker_latest ({_COLUMN_LIST}, ingested_at) "  # noqa: S608 (constants)
    f"SELECT DISTINCT ON (code) {_COLUMN_LIST}, now() FROM {STAGING} "
    'ORDER BY code, trade_timestamp DESC, "timestamp" DESC NULLS LAST, msg_id DESC '
    f"ON CONFLICT (code) DO UPDATE SET {_UPDATE_SET} "
    'WHERE (EXCLUDED.trade_timestamp, COALESCE(EXCLUDED."timestamp", 0)) '
    '>= (ticker_latest.trade_timestamp, COALESCE(ticker_latest."timestamp", 0))'
)

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_second_cache: dict[int, str] = {}


def _timestamp_text(ms: int) -> str:
    """`YYYY-MM-DD HH:MM:SS.mmm+00` for epoch milliseconds (the second part is cached: rows arrive in bursts)."""
    sec, milli = divmod(ms, 1000)
    prefix = _second_cache.get(sec)
    if prefix is None:
        if len(_second_cache) > 100_000:
            _second_cache.clear()
        prefix = dt.datetime.fromtimestamp(sec, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        _second_cache[sec] = prefix
    return f"{prefix}.{milli:03d}+00"


def _text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    return str(value)


def copy_line(message: Mapping[str, Any], canonical: bytes, received_at_ms: int | None) -> str:
    """One COPY text line (with newline) for a validated DEFAULT message and its canonical bytes."""
    msg_id = message_id_from_canonical(canonical)
    trade_ts = message["trade_timestamp"]
    received = received_at_ms if received_at_ms is not None else message.get("timestamp") or trade_ts
    parts = [_timestamp_text(trade_ts), _text(message["code"]), str(msg_id)]
    get = message.get
    for name in _FIELDS_AFTER_CODE:
        value = get(name)
        if name in BOOL_FIELDS:
            parts.append("\\N" if value is None else ("t" if value else "f"))
        else:
            parts.append(_text(value))
    parts.append(_timestamp_text(int(received)))
    if len(message) > len(SIMPLE_KEYS) or any(k not in SIMPLE_KEYS for k in message):
        extra = {k: v for k, v in message.items() if k not in SIMPLE_KEYS}
        parts.append(orjson.dumps(extra).decode().translate(_ESCAPES) if extra else "\\N")
    else:
        parts.append("\\N")
    return "\t".join(parts) + "\n"


@dataclass
class WriteResult:
    """What one batch did: rows offered, rows newly stored (the rest were already there)."""

    offered: int = 0
    inserted: int = 0
    latest_updated: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def ensure_staging(conn: psycopg2.extensions.connection) -> None:
    with conn.cursor() as cur:
        cur.execute(_CREATE_STAGING)
    conn.commit()


def write_lines(conn: psycopg2.extensions.connection, lines: Sequence[str]) -> WriteResult:
    """Store COPY lines in one transaction (commits). Raises psycopg2 errors; the caller retries the batch."""
    result = WriteResult(offered=len(lines))
    if not lines:
        return result
    buffer = io.StringIO("".join(lines))
    try:
        with conn.cursor() as cur:
            cur.execute(_CREATE_STAGING)
            cur.copy_expert(f"COPY {STAGING} ({_COLUMN_LIST}) FROM STDIN", buffer)
            cur.execute(_MOVE)
            result.inserted = cur.rowcount
            cur.execute(_LATEST)
            result.latest_updated = cur.rowcount
        conn.commit()
    except BaseException:
        try:
            conn.rollback()
        except psycopg2.Error:
            pass  # the connection is gone; the caller reconnects
        raise
    return result


def prepare(message: Any, received_at_ms: int | None = None) -> str:
    """Validate a message (DEFAULT or SIMPLE) and return its COPY line; raises InvalidMessage."""
    valid = validate(message)
    return copy_line(valid, canonical_bytes(valid), received_at_ms)


def write_messages(
    conn: psycopg2.extensions.connection, messages: Iterable[Mapping[str, Any]], *, batch_size: int = 20_000
) -> WriteResult:
    """Validate and store ticker dicts in batches (the fast path used by tests and backfills)."""
    total = WriteResult()
    lines: list[str] = []
    for message in messages:
        lines.append(prepare(dict(message)))
        if len(lines) >= batch_size:
            part = write_lines(conn, lines)
            total.offered += part.offered
            total.inserted += part.inserted
            lines = []
    if lines:
        part = write_lines(conn, lines)
        total.offered += part.offered
        total.inserted += part.inserted
    return total
