"""The market catalog as analytics sees it: markets table plus any market that has a ticker, cached by fingerprint."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psycopg2.extensions

from analytics.models import MarketRef

# Preferred quote when a symbol trades in several: Korean users mean the KRW market.
QUOTE_PREFERENCE = ("KRW", "BTC", "USDT")


@dataclass(frozen=True)
class Catalog:
    refs: dict[str, MarketRef]  # code → ref
    fingerprint: tuple[object, ...]

    def get(self, code: str) -> MarketRef | None:
        return self.refs.get(code)


_lock = threading.Lock()
_cache: dict[str, Catalog] = {}


def _fingerprint(conn: psycopg2.extensions.connection) -> tuple[object, ...]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM markets), (SELECT max(updated_at) FROM markets), "
            "(SELECT count(*) FROM ticker_latest)"
        )
        row = cur.fetchone()
    return tuple(row) if row else ()


def _caution_flags(value: object) -> list[str]:
    if isinstance(value, dict):
        return sorted(k for k, v in value.items() if v is True)
    return []


def load_catalog(conn: psycopg2.extensions.connection) -> Catalog:
    """Every known market (listed or not); re-read only when the markets table or the ticker set changed."""
    key = conn.dsn
    fp = _fingerprint(conn)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached.fingerprint == fp:
            return cached
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT code, quote, base, korean_name, english_name, listed, warning, caution FROM markets
            UNION ALL
            SELECT t.code, split_part(t.code, '-', 1), split_part(t.code, '-', 2), '', '', true, false, '{}'::jsonb
            FROM ticker_latest t WHERE NOT EXISTS (SELECT 1 FROM markets m WHERE m.code = t.code)
            """
        )
        rows = cur.fetchall()
    refs = {
        r[0]: MarketRef(
            market=r[0],
            quote=r[1],
            symbol=r[2],
            korean_name=r[3] or "",
            english_name=r[4] or "",
            listed=bool(r[5]),
            warning=bool(r[6]),
            caution=_caution_flags(r[7]),
        )
        for r in rows
    }
    catalog = Catalog(refs=refs, fingerprint=fp)
    with _lock:
        _cache[key] = catalog
    return catalog


def quote_rank(code: str) -> int:
    quote = code.split("-", 1)[0]
    return QUOTE_PREFERENCE.index(quote) if quote in QUOTE_PREFERENCE else len(QUOTE_PREFERENCE)
