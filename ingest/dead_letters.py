"""Dead-letter records: messages we could not use, kept with their raw payload and the reason."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg2.extensions
from psycopg2.extras import execute_values

log = logging.getLogger(__name__)

MAX_RAW_CHARS = 100_000  # a garbage frame can be huge; keep its head, and say it was cut


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


def write_dead_letters(conn: psycopg2.extensions.connection, letters: Sequence[DeadLetter]) -> int:
    """Insert dead letters in the caller's transaction; a repeated dedup_key is stored once. Returns rows added."""
    if not letters:
        return 0
    rows = [(d.stage, d.reason[:2000], raw_text(d.raw), d.source, d.dedup_key) for d in letters]
    with conn.cursor() as cur:
        execute_values(
            cur,
            "INSERT INTO dead_letters (stage, reason, raw, source, dedup_key) VALUES %s "
            "ON CONFLICT (dedup_key) DO NOTHING",
            rows,
            page_size=max(1, len(rows)),
        )
        return cur.rowcount
