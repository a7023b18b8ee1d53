"""The Upbit market catalog: fetch `/v1/market/all?is_details=true`, store it in `markets`, pick codes to follow."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import psycopg2.extensions

from ingest.ticker import CODE_RE

log = logging.getLogger(__name__)


class CatalogError(RuntimeError):
    """The catalog could not be fetched or parsed; the message says what to check."""


@dataclass
class CatalogChange:
    """What a refresh changed: markets newly listed, delisted (left the catalog) and the total listed."""

    listed: list[str] = field(default_factory=list)
    delisted: list[str] = field(default_factory=list)
    total: int = 0


def fetch_catalog(rest_url: str, *, timeout: float = 10.0, attempts: int = 3) -> list[dict[str, Any]]:
    """GET the catalog with details; retries 429/418/5xx and network errors with backoff (REST limit 10/s)."""
    url = rest_url.rstrip("/") + "/v1/market/all"
    delay = 0.5
    last: str = ""
    for attempt in range(1, attempts + 1):
        try:
            response = httpx.get(url, params={"is_details": "true"}, timeout=timeout)
            if response.status_code == 200:
                data = orjson.loads(response.content)
                if not isinstance(data, list):
                    raise CatalogError(f"catalog at {url} is not a JSON list")
                return [item for item in data if isinstance(item, dict) and isinstance(item.get("market"), str)]
            last = f"HTTP {response.status_code}"
            if response.status_code not in (418, 429) and response.status_code < 500:
                break
        except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        log.warning("catalog fetch failed url=%s attempt=%d error=%s", url, attempt, last)
        if attempt < attempts:
            time.sleep(delay)
            delay *= 2
    raise CatalogError(f"cannot fetch the market catalog from {url} ({last}) — check UPBIT_REST_URL and the network")


def select_codes(catalog: Sequence[Mapping[str, Any]], quotes: Sequence[str] | None) -> list[str]:
    """Market codes whose quote currency is in `quotes` (None = every market), upper case, sorted."""
    out: set[str] = set()
    for item in catalog:
        code = str(item.get("market", "")).upper()
        if not CODE_RE.match(code):
            continue
        if quotes is None or code.split("-", 1)[0] in quotes:
            out.add(code)
    return sorted(out)


def store_catalog(conn: psycopg2.extensions.connection, catalog: Sequence[Mapping[str, Any]]) -> CatalogChange:
    """Upsert the catalog into `markets` and mark markets missing from it as delisted. Commits."""
    change = CatalogChange()
    rows = []
    for item in catalog:
        code = str(item.get("market", "")).upper()
        if not CODE_RE.match(code):
            log.warning("catalog entry skipped market=%r reason=not a market code", item.get("market"))
            continue
        quote, base = code.split("-", 1)
        event = item.get("market_event") or {}
        caution = event.get("caution") if isinstance(event, dict) else None
        warning = bool(event.get("warning")) if isinstance(event, dict) else False
        if item.get("market_warning") == "CAUTION":  # the pre-2024-11 field, still accepted
            warning = True
        rows.append(
            (
                code,
                quote,
                base,
                str(item.get("korean_name") or ""),
                str(item.get("english_name") or ""),
                warning,
                orjson.dumps(caution if isinstance(caution, dict) else {}).decode(),
            )
        )
    codes = [r[0] for r in rows]
    with conn.cursor() as cur:
        cur.execute("SELECT code FROM markets WHERE listed")
        before = {r[0] for r in cur.fetchall()}
        for row in rows:
            cur.execute(
                "INSERT INTO markets (code, quote, base, korean_name, english_name, warning, caution) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb) "
                "ON CONFLICT (code) DO UPDATE SET korean_name = EXCLUDED.korean_name, "
                "english_name = EXCLUDED.english_name, warning = EXCLUDED.warning, caution = EXCLUDED.caution, "
                "listed = true, delisted_at = NULL, updated_at = now()",
                row,
            )
        if codes:
            cur.execute(
                "UPDATE markets SET listed = false, delisted_at = now(), updated_at = now() "
                "WHERE listed AND NOT (code = ANY(%s)) RETURNING code",
                (codes,),
            )
            change.delisted = sorted(r[0] for r in cur.fetchall())
    conn.commit()
    change.listed = sorted(set(codes) - before) if before else []
    change.total = len(codes)
    if change.listed or change.delisted:
        log.info("catalog changed listed=%s delisted=%s total=%d", change.listed, change.delisted, change.total)
    return change
