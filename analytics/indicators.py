"""Technical indicators (RSI, MACD, Bollinger, SMA/EMA, volume vs average) computed from stored candles.

Conventions (the ones traders' charting tools use — TA-Lib's defaults, TradingView's `ta.*`, Wilder's and
Bollinger's own definitions) and the guards every result follows:

- EMA(n): α = 2/(n+1), seeded with the SMA of the first n values (so the first EMA is at index n-1); not seeded
  with the first value (pandas `ewm(adjust=False)`), which gives different numbers for hundreds of candles.
- RSI(14): Wilder smoothing (α = 1/14); the first average gain/loss is the simple mean of the first 14 changes,
  so the first RSI is at index 14 (15 closes). Only losses → 0, only gains → 100, a flat window → 50 (TA-Lib
  says 0 there, which reads as "deeply oversold" for a coin that did not move; this is the one deliberate
  difference and its test says so).
- MACD(12, 26, 9): EMA12 − EMA26, each EMA seeded with its own SMA (first MACD at index 25); the signal line is
  the EMA9 of the MACD line seeded with the SMA of its first 9 values (first signal at index 33);
  histogram = MACD − signal.
- Bollinger(20, 2σ): middle = SMA20, bands = middle ± 2 × the population standard deviation (divide by n, as
  Bollinger and TA-Lib do; not the sample deviation); %B = (close − lower)/(upper − lower) (1 = on the upper
  band); bandwidth_pct = (upper − lower)/middle × 100.
- Volume vs average: the candle's volume / SMA20 of volume (the average includes the candle, like a chart's
  volume-MA overlay).

Guards:
- The open (unfinished) candle is never used unless `include_open=True`: a candle is closed once the ingest clock
  (the newest event of any market) has passed its end, so an illiquid coin's last candle still closes.
- Missing candles (a bin with no fills, or an ingest gap) are filled as flat candles at the previous close with zero
  volume — the convention for "no trades" — counted in `filled`, and ingest gaps in the window are named in
  `notes`. Candles before the market's first stored minute are not invented.
- An indicator with too few candles for its warm-up is None with the reason in `na` — never a number.
- Every result carries its interval, the number of candles used, the last candle's start and the as-of time.

Every surface (coin brief, MCP `indicators`, dashboard, Q&A) reads the same LOOKBACK candles, so the recursive
indicators (EMA, RSI, MACD) agree everywhere.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import datetime

import psycopg2.extensions

from analytics.candles import MAX_CANDLES, STEP
from analytics.candles import candles as load_candles
from analytics.catalog import load_catalog
from analytics.freshness import freshness, latest_event_time
from analytics.models import (
    INDICATOR_WARMUP,
    Candle,
    CandleSeries,
    IndicatorInterval,
    IndicatorPoint,
    IndicatorSeries,
    IndicatorSet,
)
from analytics.resolver import resolve_market
from analytics.series import bin_start

Series = list[float | None]

RSI_N = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BB_N, BB_K = 20, 2.0
MA_PERIODS = (20, 50, 200)
VOLUME_N = 20
# Closed candles every surface reads: EMA200 needs 200 for its seed, the rest lets the seed's weight decay.
LOOKBACK = MAX_CANDLES - 1
OVERBOUGHT, OVERSOLD = 70.0, 30.0

WARMUP = INDICATOR_WARMUP  # candles each indicator needs before its first value (models keeps the table)


# ---- pure series math (index i of the output belongs to index i of the input; None = still warming up) ----


def sma(values: Sequence[float], n: int) -> Series:
    out: Series = [None] * len(values)
    if n < 1 or len(values) < n:
        return out
    total = math.fsum(values[:n])
    out[n - 1] = total / n
    for i in range(n, len(values)):
        # Re-summing the window (fsum) keeps the value exact to the last bit instead of drifting with a running sum.
        out[i] = math.fsum(values[i - n + 1 : i + 1]) / n
    return out


def ema(values: Sequence[float | None], n: int) -> Series:
    """EMA seeded with the SMA of the first n non-None values (leading Nones are skipped, e.g. a MACD line)."""
    out: Series = [None] * len(values)
    start = next((i for i, v in enumerate(values) if v is not None), len(values))
    if n < 1 or len(values) - start < n:
        return out
    alpha = 2.0 / (n + 1)
    prev = math.fsum(float(v) for v in values[start : start + n] if v is not None) / n
    out[start + n - 1] = prev
    for i in range(start + n, len(values)):
        v = values[i]
        if v is None:
            return out
        prev = (v - prev) * alpha + prev
        out[i] = prev
    return out


def rsi(closes: Sequence[float], n: int = RSI_N) -> Series:
    out: Series = [None] * len(closes)
    if len(closes) <= n:
        return out
    gains = [max(closes[i] - closes[i - 1], 0.0) for i in range(1, len(closes))]
    losses = [max(closes[i - 1] - closes[i], 0.0) for i in range(1, len(closes))]
    avg_gain = math.fsum(gains[:n]) / n
    avg_loss = math.fsum(losses[:n]) / n
    out[n] = _rsi_value(avg_gain, avg_loss)
    for i in range(n, len(gains)):
        avg_gain = (avg_gain * (n - 1) + gains[i]) / n
        avg_loss = (avg_loss * (n - 1) + losses[i]) / n
        out[i + 1] = _rsi_value(avg_gain, avg_loss)
    return out


def _rsi_value(avg_gain: float, avg_loss: float) -> float:
    if avg_gain == 0.0 and avg_loss == 0.0:
        return 50.0
    # 100 × gain / (gain + loss) equals 100 − 100 / (1 + RS) without dividing by a zero loss.
    return 100.0 * avg_gain / (avg_gain + avg_loss)


def macd(closes: Sequence[float]) -> tuple[Series, Series, Series]:
    fast, slow = ema(closes, MACD_FAST), ema(closes, MACD_SLOW)
    line: Series = [f - s if f is not None and s is not None else None for f, s in zip(fast, slow, strict=True)]
    signal = ema(line, MACD_SIGNAL)
    hist: Series = [m - s if m is not None and s is not None else None for m, s in zip(line, signal, strict=True)]
    return line, signal, hist


def bollinger(closes: Sequence[float], n: int = BB_N, k: float = BB_K) -> tuple[Series, Series, Series]:
    """(middle, upper, lower) with the population standard deviation."""
    mid = sma(closes, n)
    upper: Series = [None] * len(closes)
    lower: Series = [None] * len(closes)
    for i, m in enumerate(mid):
        if m is None:
            continue
        window = closes[i - n + 1 : i + 1]
        sd = math.sqrt(math.fsum((c - m) ** 2 for c in window) / n)
        upper[i], lower[i] = m + k * sd, m - k * sd
    return mid, upper, lower


def percent_b(close: float, upper: float | None, lower: float | None) -> float | None:
    if upper is None or lower is None or upper <= lower:
        return None
    return (close - lower) / (upper - lower)


def bandwidth_pct(mid: float | None, upper: float | None, lower: float | None) -> float | None:
    if mid is None or upper is None or lower is None or mid <= 0:
        return None
    return (upper - lower) / mid * 100.0


# ---- candles → closed, gap-filled bars ----


def prepare(
    series: CandleSeries, *, clock: datetime | None, include_open: bool = False
) -> tuple[list[Candle], int, bool]:
    """(candles oldest first with missing bins filled flat, how many were filled, whether an open candle is in).

    `clock` is the ingest clock (newest event of any market); a candle whose end is after it is still open."""
    step = STEP[series.interval]
    rows = [c for c in series.candles if c.close is not None]
    if not rows:
        return [], 0, False
    clock = clock or series.freshness.as_of or rows[-1].t
    out: list[Candle] = []
    filled = 0
    for c in rows:
        while out and c.t - out[-1].t > step:
            out.append(_flat(out[-1], out[-1].t + step))
            filled += 1
        out.append(c)
    # Bins after the market's last trade that the ingest clock has already closed: no trades there either.
    while out[-1].t + step + step <= clock:
        out.append(_flat(out[-1], out[-1].t + step))
        filled += 1
    open_in = out[-1].t + step > clock
    if open_in and not include_open:
        out.pop()
        open_in = False
    return out, filled, open_in


def _flat(prev: Candle, t: datetime) -> Candle:
    return Candle(
        t=t,
        open=prev.close,
        high=prev.close,
        low=prev.close,
        close=prev.close,
        volume=0.0,
        value_fills_krw=0.0,
        fills=0,
    )


# ---- the result ----


def compute(
    market: str,
    interval: IndicatorInterval,
    bars: Sequence[Candle],
    *,
    filled: int = 0,
    open_included: bool = False,
    notes: Sequence[str] = (),
    as_of: datetime | None = None,
) -> IndicatorSet:
    """Every indicator at the last of `bars` (pure: no database). `bars` are closed candles unless open_included."""
    bars = list(bars)[-LOOKBACK:] if not open_included else list(bars)[-(LOOKBACK + 1) :]
    n = len(bars)
    closes = [float(b.close) for b in bars if b.close is not None]
    volumes = [float(b.volume or 0.0) for b in bars]
    na: dict[str, str] = {}

    def last(name: str, series: Series) -> float | None:
        value = series[-1] if series else None
        if value is None:
            na[name] = f"needs {WARMUP[name]} {interval} candles, have {n}"
        return value

    step = STEP[interval]
    last_t = bars[-1].t if bars else None
    end = last_t + step if last_t is not None else None
    mid, upper, lower = bollinger(closes)
    line, signal, hist = macd(closes)
    close = closes[-1] if closes else None
    result = IndicatorSet(
        market=market,
        interval=interval,
        candles=n,
        filled=filled,
        open_included=open_included,
        last_t=last_t,
        as_of=as_of if open_included and as_of else end,
        close=close,
        rsi14=last("rsi14", rsi(closes)),
        macd=last("macd", line),
        macd_signal=last("macd_signal", signal),
        macd_hist=hist[-1] if hist else None,
        bb_mid=last("bollinger", mid),
        bb_upper=upper[-1] if upper else None,
        bb_lower=lower[-1] if lower else None,
        sma20=last("sma20", sma(closes, 20)),
        sma50=last("sma50", sma(closes, 50)),
        sma200=last("sma200", sma(closes, 200)),
        ema20=last("ema20", ema(closes, 20)),
        ema50=last("ema50", ema(closes, 50)),
        ema200=last("ema200", ema(closes, 200)),
        volume=volumes[-1] if volumes else None,
        volume_avg20=last("volume_ratio", sma(volumes, VOLUME_N)),
        na=na,
        notes=list(notes),
    )
    if close is not None:
        result.bb_percent_b = percent_b(close, result.bb_upper, result.bb_lower)
    result.bb_bandwidth_pct = bandwidth_pct(result.bb_mid, result.bb_upper, result.bb_lower)
    if result.volume is not None and result.volume_avg20:
        result.volume_ratio = result.volume / result.volume_avg20
    return result


def overlay(bars: Sequence[Candle], keep: int) -> list[IndicatorPoint]:
    """Per-candle SMA/EMA/Bollinger/RSI values for a chart: the last `keep` of `bars` (warm-up values are None)."""
    closes = [float(b.close or 0.0) for b in bars]
    mid, upper, lower = bollinger(closes)
    cols = {
        "sma20": sma(closes, 20),
        "sma50": sma(closes, 50),
        "sma200": sma(closes, 200),
        "ema20": ema(closes, 20),
        "ema50": ema(closes, 50),
        "ema200": ema(closes, 200),
        "bb_mid": mid,
        "bb_upper": upper,
        "bb_lower": lower,
        "rsi14": rsi(closes),
    }
    start = max(0, len(bars) - keep)
    return [
        IndicatorPoint(t=bars[i].t, **{name: col[i] for name, col in cols.items()}) for i in range(start, len(bars))
    ]


# ---- reading stored candles ----


def _load(
    conn: psycopg2.extensions.connection, market: str, interval: IndicatorInterval, include_open: bool
) -> tuple[CandleSeries, list[Candle], int, bool, list[str]]:
    series = load_candles(conn, market, interval, MAX_CANDLES)
    clock, _ = latest_event_time(conn)
    bars, filled, open_in = prepare(series, clock=clock, include_open=include_open)
    notes: list[str] = []
    if bars:
        first = bars[0].t
        hit = [g for g in series.freshness.gaps if g.end is None or g.end >= first]
        if hit:
            notes.append(f"{len(hit)} ingest gap(s) in window, filled flat")
    return series, bars, filled, open_in, notes


# Closed-candle results per (database, market, interval, the ingest clock's current bin): they change only when a
# candle closes, and a brief reads 499 hourly candles (30K minutes) — reading them again on every brief, MCP call and
# dashboard poll would cost more than the whole brief. The TTL bounds what a late fill into a closed bin can hide.
CACHE_SECONDS = 300.0
_CACHE_MAX = 4096
_cache: dict[tuple[str, str, str, datetime], tuple[float, IndicatorSet]] = {}


def clear_cache() -> None:
    _cache.clear()


def indicators(
    conn: psycopg2.extensions.connection,
    market: str,
    interval: IndicatorInterval = "1h",
    *,
    include_open: bool = False,
    use_cache: bool = True,
) -> IndicatorSet:
    """Indicators of `market` (code or resolvable text) at its last closed `interval` candle (or the open one)."""
    if interval not in STEP:
        raise ValueError(f"interval must be one of {sorted(STEP)}")
    key = None
    if use_cache and not include_open:
        code = (load_catalog(conn).get(market) or resolve_market(conn, market)).market
        clock, _ = latest_event_time(conn)
        if clock is not None:
            key = (conn.dsn, code, interval, bin_start(clock, STEP[interval]))
            hit = _cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
                result = hit[1].model_copy(deep=True)
                result.freshness = freshness(conn, market=code)
                return result
            market = code
    series, bars, filled, open_in, notes = _load(conn, market, interval, include_open)
    result = compute(
        series.market,
        interval,
        bars,
        filled=filled,
        open_included=open_in,
        notes=notes,
        as_of=series.freshness.as_of,
    )
    result.freshness = series.freshness
    if key is not None:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = (time.monotonic(), result.model_copy(deep=True))
    return result


def indicator_series(
    conn: psycopg2.extensions.connection,
    market: str,
    interval: IndicatorInterval = "1m",
    *,
    keep: int = 300,
    include_open: bool = True,
) -> IndicatorSeries:
    """Chart overlays: per-candle values over the same LOOKBACK as `indicators`, the last `keep` points.

    The open candle is included by default here (a chart shows it moving) and the result says so."""
    series, bars, filled, open_in, _ = _load(conn, market, interval, include_open)
    keep = max(1, min(keep, LOOKBACK))
    return IndicatorSeries(
        market=series.market,
        interval=interval,
        open_included=open_in,
        filled=filled,
        points=overlay(bars, keep),
        freshness=series.freshness,
    )
