"""Shared reads: latest tickers joined to names, and reference closes N minutes before as-of from the combined
1-minute history (fills, else Upbit REST)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import psycopg2.extensions

from analytics.catalog import Catalog
from analytics.units import change_pct, fraction_to_pct

WINDOW_MINUTES = {"1m": 1, "5m": 5, "1h": 60, "24h": 1440, "rolling_24h": 1440}
# How far before the window start to look for the last trade of a quiet market (older → "n/a").
LOOKBACK = timedelta(hours=24)
# Most markets trade every few minutes: their reference is found in one range read over this many minutes.
NEAR = timedelta(minutes=10)


def rest_minutes_in(
    conn: psycopg2.extensions.connection,
    lo: datetime,
    hi: datetime | None,
    *,
    market: str | None = None,
    quote: str | None = None,
) -> bool:
    """Whether any Upbit REST minute lies in [lo, hi] (hi None: from lo on) for the market (or the quote; or anywhere).

    Where none does, the combined history is the fills' own: readers then use `ohlcv_1m` and `ohlcv_<level>_fills`
    instead of `ohlcv_1m_combined` and `ohlcv_<level>` — the same rows. Why: the REST half of those views is an
    anti-join against `ticker_data`, and in TimescaleDB mode PostgreSQL plans it over every tick chunk: 13–19 ms of
    planning per query measured on a 30-day history (1M ticks, 31 chunks), warm, against 0.5–4 ms for the fills-only
    views, for rows that are nearly always absent (REST minutes exist only for outages and backfills). The probe is
    one index read of a small table."""
    match = "code = %(code)s" if market is not None else "code LIKE %(code)s"
    code = market if market is not None else f"{quote}-%" if quote else "%"
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT EXISTS (SELECT 1 FROM rest_candles_1m WHERE {match} AND bucket >= %(lo)s"  # noqa: S608 - constant
            " AND (%(hi)s::timestamptz IS NULL OR bucket <= %(hi)s))",
            {"code": code, "lo": lo, "hi": hi},
        )
        row = cur.fetchone()
    return bool(row and row[0])


def minute_view(rest: bool) -> str:
    """The 1-minute history to read: combined with REST minutes where any lie in the range, else the fills' own."""
    return "ohlcv_1m_combined" if rest else "ohlcv_1m"


def level_view(level: Literal["5m", "1h", "1d"], rest: bool) -> str:
    """The rolled-up candles of a level: `ohlcv_<level>` (REST minutes included) or the fills-only `_fills` level."""
    return f"ohlcv_{level}" if rest else f"ohlcv_{level}_fills"


@dataclass
class Latest:
    code: str
    time: datetime
    price: float | None
    prev_close: float | None
    signed_change_rate: float | None  # Upbit's FRACTION, converted with fraction_to_pct before anyone sees it
    value_24h: float | None  # Upbit acc_trade_price_24h
    high: float | None
    low: float | None
    high_52w: float | None
    low_52w: float | None
    acc_bid_volume: float | None
    acc_ask_volume: float | None
    market_warning: str | None

    @property
    def change_24h_pct(self) -> float | None:
        return fraction_to_pct(self.signed_change_rate)


_LATEST_COLUMNS = (
    "code, time, trade_price, prev_closing_price, signed_change_rate, acc_trade_price_24h, high_price, low_price, "
    "highest_52_week_price, lowest_52_week_price, acc_bid_volume, acc_ask_volume, market_warning"
)


def latest_rows(
    conn: psycopg2.extensions.connection, *, quote: str | None = None, market: str | None = None
) -> list[Latest]:
    with conn.cursor() as cur:
        if market is not None:
            cur.execute(f"SELECT {_LATEST_COLUMNS} FROM ticker_latest WHERE code = %s", (market,))  # noqa: S608
        else:
            cur.execute(f"SELECT {_LATEST_COLUMNS} FROM ticker_latest WHERE code LIKE %s", ((quote or "") + "-%",))  # noqa: S608
        return [Latest(*row) for row in cur.fetchall()]


def listed_only(rows: list[Latest], catalog: Catalog) -> list[Latest]:
    """Drop markets the catalog marks delisted (markets without a catalog entry are kept)."""
    return [r for r in rows if (ref := catalog.get(r.code)) is None or ref.listed]


def reference_closes(
    conn: psycopg2.extensions.connection,
    as_of: datetime,
    window: str,
    *,
    quote: str | None = None,
    market: str | None = None,
) -> dict[str, float]:
    """Per market, the price `window` before as_of: close of the last complete minute ending by then.

    Two steps keep it cheap on long histories: the last NEAR minutes for every market in one range read, then a
    per-market backward probe (up to LOOKBACK) only for the quiet markets that did not trade in those minutes.
    """
    minutes = WINDOW_MINUTES[window]
    upper = as_of - timedelta(minutes=minutes + 1)
    out: dict[str, float] = {}
    view = minute_view(rest_minutes_in(conn, upper - LOOKBACK, upper, market=market, quote=quote))
    with conn.cursor() as cur:
        if market is not None:
            cur.execute(
                f"SELECT code, close FROM {view} WHERE code = %s AND bucket > %s AND bucket <= %s "  # noqa: S608
                "ORDER BY bucket DESC LIMIT 1",
                (market, upper - LOOKBACK, upper),
            )
            return {code: close for code, close in cur.fetchall() if close is not None}
        pattern = (quote or "") + "-%"
        cur.execute(
            f"SELECT DISTINCT ON (code) code, close FROM {view}"  # noqa: S608 - one of two constant views
            " WHERE code LIKE %s AND bucket > %s AND bucket <= %s ORDER BY code, bucket DESC",
            (pattern, upper - NEAR, upper),
        )
        out.update({code: close for code, close in cur.fetchall() if close is not None})
        cur.execute("SELECT code FROM ticker_latest WHERE code LIKE %s", (pattern,))
        quiet = [code for (code,) in cur.fetchall() if code not in out]
        if quiet:
            cur.execute(
                "SELECT t.code, r.close FROM unnest(%s::text[]) AS t(code) CROSS JOIN LATERAL ("  # noqa: S608
                f" SELECT close FROM {view} o WHERE o.code = t.code AND o.bucket > %s AND o.bucket <= %s"
                " ORDER BY o.bucket DESC LIMIT 1) r",
                (quiet, upper - LOOKBACK, upper - NEAR),
            )
            out.update({code: close for code, close in cur.fetchall() if close is not None})
    return out


def window_changes(latest: list[Latest], refs: dict[str, float]) -> dict[str, float | None]:
    """Signed percent change from the reference close to the latest price, per market."""
    return {r.code: change_pct(r.price, refs.get(r.code)) for r in latest}


# The levels a window sum reads, coarsest first: (view, bucket length). Each level's rows are the sums of the minutes
# below it (same fills, same REST minutes), so a window is the coarse buckets that fit inside it plus finer edges.
# No 5-minute level: measured on 10M plain-mode rows (160 markets), a row of the plain-mode ohlcv_5m view (its
# pending-minute and REST anti-joins) costs more than the five covering-index minute rows it replaces — a 1 h window
# took 8.7 ms through 5m+1m against 4.0 ms from minutes; a 24 h window 11.6 ms through 1h+1m, 21.7 ms through
# 1h+5m+1m, 79 ms from minutes.
_LEVELS: tuple[tuple[str, timedelta], ...] = (
    ("ohlcv_1h", timedelta(hours=1)),
    ("ohlcv_1m_combined", timedelta(minutes=1)),
)
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # the views' date_bin origin: buckets are UTC-aligned


def bin_start(ts: datetime, step: timedelta) -> datetime:
    """Start of the `step` bucket holding `ts`, aligned like the views' date_bin."""
    return ORIGIN + ((ts - ORIGIN) // step) * step


def _bin_ceil(ts: datetime, step: timedelta) -> datetime:
    return ORIGIN + -((ORIGIN - ts) // step) * step


def window_cover(first: datetime, stop: datetime) -> list[tuple[str, datetime, datetime]]:
    """The minute buckets in [first, stop) as (view, lo, hi) ranges of whole buckets (lo <= bucket < hi): the widest
    level's buckets that fit, then the next level on the two edges, down to minutes. A day reads ≤ 141 rows per market
    instead of 1,440."""
    out: list[tuple[str, datetime, datetime]] = []

    def cover(lo: datetime, hi: datetime, level: int) -> None:
        if lo >= hi:
            return
        view, step = _LEVELS[level]
        if level == len(_LEVELS) - 1:
            out.append((view, lo, hi))
            return
        a, b = _bin_ceil(lo, step), bin_start(hi, step)
        if a >= b:
            cover(lo, hi, level + 1)
            return
        out.append((view, a, b))
        cover(lo, a, level + 1)
        cover(b, hi, level + 1)

    cover(first, stop, 0)
    return out


def _window_sums(
    conn: psycopg2.extensions.connection, as_of: datetime, minutes: int, quote: str, column: Literal["fills", "value"]
) -> dict[str, float]:
    """Per market, Σ `column` over the minutes in (as_of - minutes, as_of], read from the coarsest levels that fit."""
    minute = timedelta(minutes=1)
    first = bin_start(as_of - timedelta(minutes=minutes), minute) + minute  # the first minute bucket after the start
    stop = bin_start(as_of, minute) + minute  # one past the minute holding as_of
    rest = rest_minutes_in(conn, first, stop, quote=quote)
    parts = [
        (minute_view(rest) if view == "ohlcv_1m_combined" else level_view("1h", rest), lo, hi)
        for view, lo, hi in window_cover(first, stop)
    ]
    sql = " UNION ALL ".join(
        f"SELECT code, {column} AS v FROM {view} WHERE code LIKE %(q)s AND bucket >= %(lo{n})s AND bucket < %(hi{n})s"  # noqa: S608 - constant views and columns
        for n, (view, _, _) in enumerate(parts)
    )
    params: dict[str, object] = {"q": quote + "-%"}
    for n, (_, lo, hi) in enumerate(parts):
        params[f"lo{n}"], params[f"hi{n}"] = lo, hi
    with conn.cursor() as cur:
        cur.execute(f"SELECT code, sum(v) FROM ({sql}) w GROUP BY code", params)  # noqa: S608 - constant views
        return {code: float(v) for code, v in cur.fetchall() if v is not None}


def fill_counts(conn: psycopg2.extensions.connection, as_of: datetime, minutes: int, *, quote: str) -> dict[str, int]:
    """Per market, the number of fills (trades) in the minutes in (as_of - minutes, as_of]."""
    return {code: int(v) for code, v in _window_sums(conn, as_of, minutes, quote, "fills").items()}


def fill_values(conn: psycopg2.extensions.connection, as_of: datetime, minutes: int, *, quote: str) -> dict[str, float]:
    """Per market, Σ fill value (price × volume) of the minutes in (as_of - minutes, as_of]."""
    return _window_sums(conn, as_of, minutes, quote, "value")
