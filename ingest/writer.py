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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg2.errors
import psycopg2.extensions

from ingest.dead_letters import DeadLetter, raw_text, write_dead_letters
from ingest.ticker import (
    CODE_INDEX,
    COLUMNS,
    FIELDS,
    SIMPLE_KEYS,
    TIMESTAMP_INDEX,
    TRADE_TIMESTAMP_INDEX,
    canonical_bytes,
    fields_of,
    fields_ok,
    validate,
)

log = logging.getLogger(__name__)

STAGING = "ticker_staging"
_COLUMN_LIST = ", ".join(f'"{c}"' for c in COLUMNS)
_UPDATE_SET = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in (*COLUMNS, "ingested_at") if c != "code")

# One round trip: the per-connection staging table, emptied for this use.
_RESET_STAGING = f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (LIKE ticker_data INCLUDING DEFAULTS); TRUNCATE {STAGING}"
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

_second_cache: dict[int, str] = {}
# COPY rows are CSV with NULL 'null'. The fast path builds a row as one orjson array (C speed, ~2 µs against ~8 µs
# for `str()` of 33 values): the text between its brackets is already a CSV record when no value needed a JSON
# escape (no backslash anywhere) — strings are "quoted", None is an unquoted `null` (→ NULL; a quoted "null" stays
# text), true/false and numbers are what PostgreSQL reads. Rows with a backslash (a quote or a control character
# in some text) or unknown keys (→ `extra`) take the slow path, which quotes CSV-style.
COPY_OPTIONS = "(FORMAT csv, NULL 'null')"


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


def _csv_field(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    return '"' + text.replace('"', '""') + '"'


def _fast_line(values: tuple[Any, ...], canonical: bytes, received_at_ms: int | None) -> bytes | None:
    """The COPY CSV line of 33 validated values (FIELDS order) as one orjson array, or None when some value needed
    a JSON escape (then the text is not CSV; see COPY_OPTIONS)."""
    trade_ts = values[TRADE_TIMESTAMP_INDEX]
    received = received_at_ms if received_at_ms is not None else values[TIMESTAMP_INDEX] or trade_ts
    row = orjson.dumps(
        (
            _timestamp_text(trade_ts),
            hashlib.blake2b(canonical, digest_size=16).hexdigest(),
            *values,
            _timestamp_text(received),
            None,
        )
    )
    return None if b"\\" in row else row[1:-1] + b"\n"


def copy_line(message: Mapping[str, Any], canonical: bytes, received_at_ms: int | None) -> bytes:
    """One COPY CSV line (with newline; see COPY_OPTIONS) for a validated DEFAULT message and its canonical bytes."""
    values = fields_of(message) if isinstance(message, dict) else None
    if values is not None and (line := _fast_line(values, canonical, received_at_ms)) is not None:
        return line
    trade_ts = message["trade_timestamp"]
    received = received_at_ms if received_at_ms is not None else message.get("timestamp") or trade_ts
    head = (_timestamp_text(trade_ts), hashlib.blake2b(canonical, digest_size=16).hexdigest())
    unknown = {k: v for k, v in message.items() if k not in SIMPLE_KEYS}
    extra = orjson.dumps(unknown).decode() if unknown else None
    fields = (message.get(name) for name in FIELDS)
    return (",".join(map(_csv_field, (*head, *fields, _timestamp_text(int(received)), extra))) + "\n").encode()


@dataclass(slots=True)
class PreparedRow:
    """A validated message ready for COPY, with what the writer needs to upsert latest or dead-letter it."""

    line: bytes  # COPY CSV record with its newline
    code: str
    order: tuple[int, int]  # (trade_timestamp, timestamp): which message of a market is the latest
    source: str | None = None  # kafka topic/partition/offset
    raw: bytes | str | None = None


def canonical_row(line: bytes, received_at_ms: int | None, source: str | None = None) -> PreparedRow | None:
    """The consumer's hot path for one line our producer wrote (canonical DEFAULT JSON): parse, validate and build
    the COPY row in one pass over the 33 values — ~11 µs instead of ~16 through `validate` + `copy_line`.
    None when the line is anything but a complete, valid message; the caller then takes the general path, which
    converts, re-encodes and gives reasons."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(message) is not dict:
        return None
    values = fields_of(message)
    if values is None or not fields_ok(values):
        return None
    row = _fast_line(values, line, received_at_ms)
    if row is None:
        return None
    order = (values[TRADE_TIMESTAMP_INDEX], values[TIMESTAMP_INDEX] or 0)
    return PreparedRow(row, values[CODE_INDEX], order, source, line)


@dataclass
class WriteResult:
    """What one batch did: rows offered, rows newly stored (the rest were already there), dead letters added."""

    offered: int = 0
    inserted: int = 0
    latest_updated: int = 0
    dead_letters: int = 0
    path: str = "direct"  # direct COPY, or staging (ON CONFLICT) after a duplicate was found
    rejected: list[DeadLetter] = field(default_factory=list)


_TRANSIENT = (psycopg2.OperationalError, psycopg2.InterfaceError)


def prepare(
    message: Any, received_at_ms: int | None = None, source: str | None = None, raw: bytes | None = None
) -> PreparedRow:
    """Validate a message (DEFAULT or SIMPLE) and return its row; raises InvalidMessage. The id is hashed from the
    canonical form, so the same message always gets the same id whatever encoding it arrived in."""
    valid = validate(message)
    line = copy_line(valid, canonical_bytes(valid), received_at_ms)
    return PreparedRow(line, valid["code"], (valid["trade_timestamp"], valid.get("timestamp") or 0), source, raw)


def latest_rows(rows: Iterable[PreparedRow]) -> list[PreparedRow]:
    """The newest row of each market in a batch (event time, then message time)."""
    newest: dict[str, PreparedRow] = {}
    for row in rows:
        current = newest.get(row.code)
        if current is None or row.order >= current.order:
            newest[row.code] = row
    return list(newest.values())


def _copy(cur: psycopg2.extensions.cursor, table: str, rows: Sequence[PreparedRow]) -> None:
    buffer = io.BytesIO(b"".join(r.line for r in rows))
    cur.copy_expert(f"COPY {table} ({_COLUMN_LIST}) FROM STDIN WITH {COPY_OPTIONS}", buffer, size=1 << 20)


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

    Fast path: COPY straight into ticker_data as the transaction's first statement, with no savepoint (a failure
    there rolls back nothing else, so the batch is simply redone). If a row is already stored (a re-delivery after
    a crash) the batch is redone through a staging table + INSERT ... ON CONFLICT DO NOTHING, so it is stored once;
    if the server refuses a row (a value PostgreSQL cannot store) the batch is redone with bisection inside
    savepoints, and each refused row becomes a dead letter, so one bad row never blocks the stream. Connection
    errors propagate (the caller reconnects and retries the same batch). A clean batch costs six round trips:
    BEGIN, COPY, staging reset, COPY of the newest rows, the ticker_latest upsert, COMMIT.
    """
    result = WriteResult(offered=len(rows))
    rejected: list[DeadLetter] = []
    try:
        with conn.cursor() as cur:
            stored: list[PreparedRow] = []
            isolate = False
            if rows and direct:
                try:
                    _copy(cur, "ticker_data", rows)
                    stored = list(rows)
                except _TRANSIENT:
                    raise
                except psycopg2.errors.UniqueViolation:
                    conn.rollback()
                    direct = False
                except psycopg2.Error:
                    conn.rollback()
                    isolate = True
            if isolate:
                try:
                    stored = _copy_isolating_bad_rows(cur, "ticker_data", rows, rejected)
                except psycopg2.errors.UniqueViolation:
                    conn.rollback()
                    rejected.clear()
                    direct = False
            if rows and not direct:
                result.path = "staging"
                cur.execute(_RESET_STAGING)
                stored = _copy_isolating_bad_rows(cur, STAGING, rows, rejected)
                cur.execute(_MOVE)
                result.inserted = cur.rowcount
            else:
                result.inserted = len(stored)
            newest = latest_rows(stored)
            if newest:
                cur.execute(_RESET_STAGING)
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
