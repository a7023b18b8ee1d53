"""Top movers over 1m/5m/1h (from 1-minute candles) or 24h (vs Upbit's previous close)."""

from __future__ import annotations

from typing import Any, Literal

import psycopg2.extensions

from analytics.catalog import load_catalog
from analytics.freshness import freshness
from analytics.models import Direction, Mover, MoversResult, Window
from analytics.series import (
    WINDOW_MINUTES,
    fill_counts,
    fill_values,
    latest_rows,
    listed_only,
    reference_closes,
    window_changes,
)

MAX_LIMIT = 50
__all__ = ["Direction", "top_movers"]


def top_movers(
    conn: psycopg2.extensions.connection,
    *,
    window: Window = "24h",
    direction: Direction = "both",
    limit: int = 10,
    quote: Literal["KRW", "BTC", "USDT"] = "KRW",
) -> MoversResult:
    """Markets with the largest signed change over `window` (`both` ranks by absolute change), or the most traded
    value (`value`) or the most fills (`active`) in it. Window 24h is since Upbit's previous close (value = Upbit's
    24 h traded value); rolling_24h is measured from the price 24 hours before as-of."""
    truncated = limit > MAX_LIMIT
    limit = max(1, min(limit, MAX_LIMIT))
    catalog = load_catalog(conn)
    rows = listed_only(latest_rows(conn, quote=quote), catalog)
    as_of = max((r.time for r in rows), default=None)
    fresh = freshness(conn, quote=quote, as_of=as_of, reporting=len(rows)) if as_of else freshness(conn, quote=quote)
    if as_of is None:
        return MoversResult(quote=quote, window=window, direction=direction, items=[], freshness=fresh)
    values: dict[str, float] = {}
    counts: dict[str, int] | None = None
    minutes = WINDOW_MINUTES.get(window, 1440)
    if window == "24h":
        changes = {r.code: r.change_24h_pct for r in rows}
    else:
        changes = window_changes(rows, reference_closes(conn, as_of, window, quote=quote))
        values = fill_values(conn, as_of, minutes, quote=quote)
    if direction == "active":
        counts = fill_counts(conn, as_of, minutes, quote=quote)
    known = [r for r in rows if changes.get(r.code) is not None]
    if direction == "value":

        def value_of(r: Any) -> float:
            return (r.value_24h if window == "24h" else values.get(r.code)) or 0.0

        ranked = sorted((r for r in rows if value_of(r) > 0), key=lambda r: -value_of(r))
    elif direction == "active":
        ranked = sorted((r for r in rows if (counts or {}).get(r.code)), key=lambda r: -(counts or {})[r.code])
    elif direction == "gainers":
        ranked = sorted((r for r in known if (changes[r.code] or 0) > 0), key=lambda r: -(changes[r.code] or 0))
    elif direction == "losers":
        ranked = sorted((r for r in known if (changes[r.code] or 0) < 0), key=lambda r: changes[r.code] or 0)
    else:
        ranked = sorted(known, key=lambda r: -abs(changes[r.code] or 0))
    truncated = truncated or len(ranked) > limit
    is_krw = quote == "KRW"
    items = []
    for r in ranked[:limit]:
        ref = catalog.get(r.code)
        items.append(
            Mover(
                market=r.code,
                symbol=r.code.split("-", 1)[-1],
                korean_name=ref.korean_name if ref else "",
                english_name=ref.english_name if ref else "",
                price=r.price,
                change_pct=changes.get(r.code),
                value_fills_krw=(values.get(r.code, 0.0) if window != "24h" else None) if is_krw else None,
                value_24h_upbit_krw=r.value_24h if is_krw else None,
                fills=counts.get(r.code, 0) if counts is not None else None,
            )
        )
    return MoversResult(
        quote=quote, window=window, direction=direction, items=items, truncated=truncated, freshness=fresh
    )
