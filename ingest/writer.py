"""The consumer's database writer: ticker messages → COPY rows → ticker_data (idempotent) and ticker_latest.

One batch is one transaction: rows, the ticker_latest upsert and the batch's dead letters commit together.
Rows go by COPY straight into ticker_data; when the identity index (code, time, msg_id) reports a row that is
already stored (a re-delivery after a crash), the batch is redone through a staging table with
`INSERT ... ON CONFLICT DO NOTHING`, so a message delivered twice is stored once while fills that share a
millisecond are all stored. `ticker_latest` is upserted guarded by event time, so an old message replayed late
never overwrites a newer price.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg2.errors
import psycopg2.extensions

from ingest.dead_letters import DeadLetter, raw_text, write_dead_letters
from ingest.ticker import COLUMNS, FIELDS, SIMPLE_KEYS, canonical_bytes, validate

log = logging.getLogger(__name__)

STAGING = "ticker_staging"
_COLUMN_LIST = ", ".join(f'"{c}"' for c in COLUMNS)
_FIELDS_AFTER_CODE = tuple(f for f in FIELDS if f != "code")
_UPDATE_SET = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in (*COLUMNS, "ingested_at") if c != "code")

_CREATE_STAGING = f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (LIKE ticker_data INCLUDING DEFAULTS)"
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
_get_fields = operator.itemgetter(*_FIELDS_AFTER_CODE)
_TABS = len(COLUMNS) - 1
_second_cache: dict[int, str] = {}
# COPY reads `None` as NULL: rows are built with one C-level `"\t".join(map(str, values))` (str(None) == "None",
# str(True) == "True" which PostgreSQL reads as a boolean). A text value that is literally "None" or needs escaping
# takes the slow path, which writes it as `\None` (COPY matches NULL before removing backslashes).
COPY_OPTIONS = "(NULL 'None')"


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


def _slow_text(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, str):
        escaped = value.translate(_ESCAPES)
        return "\\" + escaped if escaped == "None" else escaped
    return str(value)


def copy_line(message: Mapping[str, Any], canonical: bytes, received_at_ms: int | None) -> str:
    """One COPY text line (with newline, NULL 'None') for a validated DEFAULT message and its canonical bytes."""
    msg_id = hashlib.blake2b(canonical, digest_size=16).hexdigest()
    try:
        values = _get_fields(message)
    except KeyError:
        values = tuple(message.get(name) for name in _FIELDS_AFTER_CODE)
    trade_ts = message["trade_timestamp"]
    received = received_at_ms if received_at_ms is not None else message.get("timestamp") or trade_ts
    extra = None
    if len(message) != len(SIMPLE_KEYS) or "code" not in message:
        unknown = {k: v for k, v in message.items() if k not in SIMPLE_KEYS}
        extra = orjson.dumps(unknown).decode() if unknown else None
    head = (_timestamp_text(trade_ts), message["code"], msg_id)
    tail = (_timestamp_text(int(received)), extra)
    line = "\t".join(map(str, (*head, *values, *tail)))
    if (
        line.count("\t") != _TABS
        or "\\" in line
        or "\n" in line
        or "\r" in line
        or line.count("None") != values.count(None) + (extra is None)
    ):
        line = "\t".join(map(_slow_text, (*head, *values, *tail)))
    return line + "\n"


@dataclass
class PreparedRow:
    """A validated message ready for COPY, with what the writer needs to upsert latest or dead-letter it."""

    line: str
    code: str
    order: tuple[int, int]  # (trade_timestamp, timestamp): which message of a market is the latest
    source: str | None = None  # kafka topic/partition/offset
    raw: bytes | str | None = None


@dataclass
class WriteResult:
    """What one batch did: rows offered, rows newly stored (the rest were already there), dead letters added."""

    offered: int = 0
    inserted: int = 0
    latest_updated: int = 0
    dead_letters: int = 0
    path: str = "direct"  # direct COPY, or staging (ON CONFLICT) after a duplicate was found
    rejected: list[DeadLetter] = field(default_factory=list)


class _RowRejected(Exception):
    pass


_TRANSIENT = (psycopg2.OperationalError, psycopg2.InterfaceError)


def prepare(message: Any, received_at_ms: int | None = None) -> PreparedRow:
    """Validate a message (DEFAULT or SIMPLE) and return its row; raises InvalidMessage."""
    valid = validate(message)
    line = copy_line(valid, canonical_bytes(valid), received_at_ms)
    return PreparedRow(line, valid["code"], (valid["trade_timestamp"], valid.get("timestamp") or 0))


def latest_rows(rows: Iterable[PreparedRow]) -> list[PreparedRow]:
    """The newest row of each market in a batch (event time, then message time)."""
    newest: dict[str, PreparedRow] = {}
    for row in rows:
        current = newest.get(row.code)
        if current is None or row.order >= current.order:
            newest[row.code] = row
    return list(newest.values())


def _copy(cur: psycopg2.extensions.cursor, table: str, rows: Sequence[PreparedRow]) -> None:
    buffer = io.StringIO("".join(r.line for r in rows))
    cur.copy_expert(f"COPY {table} ({_COLUMN_LIST}) FROM STDIN WITH {COPY_OPTIONS}", buffer)


def _copy_isolating_bad_rows(
    cur: psycopg2.extensions.cursor, table: str, rows: Sequence[PreparedRow], rejected: list[DeadLetter]
) -> list[PreparedRow]:
    """COPY rows; when the server refuses some (a value PostgreSQL cannot store), find them by bisection inside
    savepoints and turn each into a dead letter with the server's reason. Returns the rows that were copied."""
    cur.execute("SAVEPOINT copy_rows")
    try:
        _copy(cur, table, rows)
        cur.execute("RELEASE SAVEPOINT copy_rows")
        return list(rows)
    except _TRANSIENT:
        raise
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT copy_rows")
        raise
    except psycopg2.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT copy_rows")
        if len(rows) == 1:
            row = rows[0]
            reason = f"database refused the row: {str(exc).strip().splitlines()[0]}"
            log.warning("row refused source=%s reason=%s", row.source, reason)
            rejected.append(DeadLetter("consumer", reason, raw_text(row.raw or row.line), row.source, row.source))
            return []
        half = len(rows) // 2
        return _copy_isolating_bad_rows(cur, table, rows[:half], rejected) + _copy_isolating_bad_rows(
            cur, table, rows[half:], rejected
        )


def write_batch(
    conn: psycopg2.extensions.connection,
    rows: Sequence[PreparedRow],
    dead: Sequence[DeadLetter] = (),
    *,
    direct: bool = True,
) -> WriteResult:
    """Store one batch in one transaction and commit it.

    Fast path: COPY straight into ticker_data. If a row is already stored (a re-delivery after a crash), the
    batch falls back to COPY into a staging table + INSERT ... ON CONFLICT DO NOTHING, so it is stored once.
    Connection errors propagate (the caller reconnects and retries the same batch); rows the server refuses
    become dead letters, so one bad row never blocks the stream.
    """
    result = WriteResult(offered=len(rows))
    rejected: list[DeadLetter] = []
    try:
        with conn.cursor() as cur:
            stored: list[PreparedRow] = []
            if rows and direct:
                try:
                    stored = _copy_isolating_bad_rows(cur, "ticker_data", rows, rejected)
                    result.inserted = len(stored)
                except psycopg2.errors.UniqueViolation:
                    direct = False
                    rejected.clear()
            if rows and not direct:
                result.path = "staging"
                cur.execute(_CREATE_STAGING)
                cur.execute(f"TRUNCATE {STAGING}")
                stored = _copy_isolating_bad_rows(cur, STAGING, rows, rejected)
                cur.execute(_MOVE)
                result.inserted = cur.rowcount
            newest = latest_rows(stored)
            if newest:
                cur.execute(_CREATE_STAGING)
                cur.execute(f"TRUNCATE {STAGING}")
                _copy(cur, STAGING, newest)
                cur.execute(_LATEST)
                result.latest_updated = cur.rowcount
            letters = [*dead, *rejected]
            result.dead_letters = write_dead_letters(conn, letters)
            result.rejected = rejected
        conn.commit()
    except BaseException:
        try:
            conn.rollback()
        except psycopg2.Error:
            pass  # the connection is gone; the caller reconnects
        raise
    return result


def write_messages(
    conn: psycopg2.extensions.connection, messages: Iterable[Mapping[str, Any]], *, batch_size: int = 20_000
) -> WriteResult:
    """Validate and store ticker dicts in batches (the fast path used by tests and backfills)."""
    total = WriteResult()
    rows: list[PreparedRow] = []

    def flush() -> None:
        part = write_batch(conn, rows)
        total.offered += part.offered
        total.inserted += part.inserted
        total.latest_updated += part.latest_updated
        rows.clear()

    for message in messages:
        rows.append(prepare(dict(message)))
        if len(rows) >= batch_size:
            flush()
    if rows:
        flush()
    return total
