"""Dead-letter records: messages we could not use, kept with their raw payload and the reason."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg2.extensions
from psycopg2.extras import execute_values

log = logging.getLogger(__name__)

MAX_RAW_CHARS = 100_000  # a garbage frame can be huge; keep its head, and say it was cut
# What a dead letter keeps of an oversize payload (in Kafka and in the table): its head, plus length and hash in
# the reason, so the record stays far below Kafka's request size and the original can still be identified.
RAW_HEAD_BYTES = 64 * 1024
# INSERT ... VALUES pages: a record of 300,000 bad lines must not become one 300,000-row statement.
INSERT_PAGE_ROWS = 1_000


@dataclass(frozen=True)
class DeadLetter:
    stage: str  # ws (producer side) / consumer
    reason: str
    raw: bytes | str  # stored through raw_text()
    source: str | None = None
    dedup_key: str | None = None


def raw_text(payload: bytes | str) -> str:
    """The payload as text for the `raw` column (invalid UTF-8 escaped, NULs escaped, very long ones cut)."""
    text = payload.decode("utf-8", errors="backslashreplace") if isinstance(payload, bytes) else payload
    text = text.replace("\x00", "\\x00")
    if len(text) > MAX_RAW_CHARS:
        text = text[:MAX_RAW_CHARS] + f"…[cut, {len(text)} chars]"
    return text


def raw_note(length: int, digest: str) -> str:
    """The reason suffix of a dead letter whose raw payload was cut to its head."""
    return f"raw cut to its first {RAW_HEAD_BYTES} of {length} bytes, sha256={digest}"


def truncate_raw(payload: bytes) -> tuple[bytes, str]:
    """(head, note) for a payload longer than RAW_HEAD_BYTES; (payload, "") when it fits."""
    if len(payload) <= RAW_HEAD_BYTES:
        return payload, ""
    return payload[:RAW_HEAD_BYTES], raw_note(len(payload), hashlib.sha256(payload).hexdigest())


def write_dead_letters(conn: psycopg2.extensions.connection, letters: Sequence[DeadLetter]) -> int:
    """Insert dead letters in the caller's transaction; a repeated dedup_key is stored once. Returns rows added."""
    if not letters:
        return 0
    rows = [(d.stage, d.reason[:2000], raw_text(d.raw), d.source, d.dedup_key) for d in letters]
    with conn.cursor() as cur:
        # One statement per page; RETURNING with fetch collects every page's rows (rowcount is the last page's).
        added = execute_values(
            cur,
            "INSERT INTO dead_letters (stage, reason, raw, source, dedup_key) VALUES %s "
            "ON CONFLICT (dedup_key) DO NOTHING RETURNING 1",
            rows,
            page_size=INSERT_PAGE_ROWS,
            fetch=True,
        )
        return len(added)
