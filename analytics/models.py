"""The analytics result models: explicit units (signed percent in *_pct, KRW in *_krw) and token-budgeted text.

Unit rules every model follows:
- `*_pct` is a signed percent (4.04 means +4.04 %), never Upbit's fraction; converted only in analytics.units.
- `*_krw` is KRW; the name also says where a traded value comes from: `*_fills_krw` is summed from fills
  (ohlcv value = Σ price × volume), `*_upbit_krw` is Upbit's own `acc_trade_price_24h`.
  Values of non-KRW markets are not KRW, so their `*_krw` fields are None.
- Every result carries `freshness`: the event time its data is as of, the lag behind the wall clock, known gaps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from analytics import context as ctx
from analytics.units import fmt_krw, fmt_num, fmt_pct, fmt_price, fmt_ratio, fmt_share

# 24h = since Upbit's previous close (its signed_change_rate); rolling_24h = vs the price 24 hours before as-of.
Window = Literal["1m", "5m", "1h", "24h", "rolling_24h"]
# gainers / losers / both rank by signed % change (both by |change|); value by traded value; active by fills.
Direction = Literal["gainers", "losers", "both", "value", "active"]
Interval = Literal["1m", "5m", "1h", "1d"]
IndicatorInterval = Interval


class Gap(BaseModel):
    code: str | None = Field(description="market code, or None for every market")
    start: datetime
    end: datetime | None = Field(description="None while the gap is still open")
    reason: str
    heal: str | None = Field(
        default=None,
        description="healed (its minutes were fetched from Upbit REST), not_healable (older than Upbit keeps), "
        "failed (retried), or None (not tried yet)",
    )

    def heal_note(self) -> str:
        return {"healed": " healed from REST", "not_healable": " not healable", "failed": " heal failed"}.get(
            self.heal or "", ""
        )


class Freshness(BaseModel):
    as_of: datetime | None = Field(description="event time (trade_timestamp) of the newest data used")
    lag_seconds: float | None = Field(description="wall clock now minus as_of")
    stale: bool = Field(description="true when lag exceeds the staleness threshold or a gap is open")
    markets_reporting: int = 0
    gaps: list[Gap] = Field(default_factory=list, description="known gaps overlapping the last 24 h (newest first)")
    open_gaps: int = 0
    rest_minutes: int = Field(
        default=0,
        description="1-minute candles of the last 24 h that came from Upbit REST (no fills stored for them): for "
        "one market the minutes served, for a quote the span of minutes with REST candles",
    )
    rest_from: datetime | None = Field(default=None, description="oldest REST minute in the last 24 h")
    rest_to: datetime | None = Field(default=None, description="newest REST minute in the last 24 h")

    def line(self) -> str:
        gaps = "none" if not self.gaps else f"{len(self.gaps)} (open {self.open_gaps})"
        if self.gaps:
            g = self.gaps[0]
            gaps += f" last {ctx.fmt_hm(g.start)}-{ctx.fmt_hm(g.end) if g.end else 'open'}{g.heal_note()}"
        stale = " STALE" if self.stale else ""
        rest = ""
        if self.rest_minutes:
            rest = f"; REST minutes {self.rest_minutes} ({ctx.fmt_hm(self.rest_from)}-{ctx.fmt_hm(self.rest_to)})"
        return f"as of {ctx.fmt_time(self.as_of)} (lag {ctx.fmt_lag(self.lag_seconds)}{stale}; gaps {gaps}{rest})"


class MarketRef(BaseModel):
    market: str = Field(description="Upbit market code, e.g. KRW-BTC")
    symbol: str
    quote: str
    korean_name: str = ""
    english_name: str = ""
    listed: bool = True
    warning: bool = Field(default=False, description="Upbit market_event.warning (투자유의)")
    caution: list[str] = Field(default_factory=list, description="Upbit market_event.caution flags that are set")

    def label(self) -> str:
        names = "/".join(n for n in (self.korean_name, self.english_name) if n)
        return f"{self.market} {names}".strip()


class Resolution(BaseModel):
    query: str
    status: Literal["found", "ambiguous", "not_found"]
    market: MarketRef | None = None
    matched_by: str | None = Field(default=None, description="code / symbol / korean / english / alias / fuzzy ...")
    candidates: list[MarketRef] = Field(default_factory=list, description="when ambiguous: the possible markets")
    suggestions: list[MarketRef] = Field(default_factory=list, description="when not found: the closest names")
    message: str = ""

    def to_context(self, budget: int = ctx.RESOLUTION_BUDGET) -> str:
        def render(level: int) -> str:
            if self.status == "found" and self.market:
                return f"resolved: {self.market.label()} (by {self.matched_by})"
            refs = self.candidates if self.status == "ambiguous" else self.suggestions
            refs = refs[: max(1, 5 - 2 * level)]
            return f"{self.status}: {self.message} " + "; ".join(r.label() for r in refs)

        return ctx.fit_to_budget(render, 3, budget)


class CoinLine(BaseModel):
    """One market in a list: price, signed change since Upbit's previous close, Upbit's 24 h traded value.

    `change_24h_pct` keeps its (public) name but is Upbit's change since the previous close (00:00 UTC = 09:00 KST),
    not a rolling 24 h change; contexts label it "vs prev close". The rolling change is `change_rolling_24h_pct`.
    """

    market: str
    symbol: str
    korean_name: str = ""
    price: float | None
    change_24h_pct: float | None = Field(
        description="signed percent since Upbit's previous close (00:00 UTC = 09:00 KST), not a rolling 24 h change"
    )
    change_5m_pct: float | None = None
    change_1h_pct: float | None = None
    change_rolling_24h_pct: float | None = Field(
        default=None, description="signed percent vs the stored price 24 h before as_of; None without 24 h of data"
    )
    value_24h_upbit_krw: float | None = Field(default=None, description="Upbit acc_trade_price_24h (KRW)")

    def text(self, quote: str = "KRW", names: bool = True, extra: bool = False) -> str:
        # A bare % after the price is the change since the previous close (the overview's legend says so).
        name = f" {self.korean_name}" if names and self.korean_name else ""
        out = f"{ctx.short_code(self.market, quote)}{name} {fmt_price(self.price)} {fmt_pct(self.change_24h_pct)}"
        if extra:
            out += f" 5m {fmt_pct(self.change_5m_pct)} 1h {fmt_pct(self.change_1h_pct)}"
            if self.change_rolling_24h_pct is not None:  # rolling 24 h only where 24 h of data is stored
                out += f" 24h {fmt_pct(self.change_rolling_24h_pct)}"
            out += f" val24h {fmt_krw(self.value_24h_upbit_krw)}"
        return out


class Breadth(BaseModel):
    window: Literal["prev_close", "5m", "1h"]
    up: int
    down: int
    flat: int
    total: int = Field(description="markets with data for this window")

    def text(self) -> str:
        return f"up {self.up}/down {self.down}/flat {self.flat} of {self.total}"


class AnomalyItem(BaseModel):
    id: int
    market: str
    kind: str
    severity: str
    status: str
    started_at: datetime
    detected_at: datetime
    resolved_at: datetime | None = None
    resolution: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    interpretation: str | None = Field(default=None, description="short interpretation text, when one exists")

    def text(self, quote: str = "KRW") -> str:
        out = f"#{self.id} {ctx.short_code(self.market, quote)} {self.kind} {self.severity} {self.status}"
        return out + f" since {ctx.fmt_hm(self.started_at)}"


class MarketOverview(BaseModel):
    quote: str
    freshness: Freshness
    markets: int = Field(description="listed markets of this quote with a latest ticker")
    breadth_prev_close: Breadth
    breadth_5m: Breadth
    breadth_1h: Breadth
    value_24h_upbit_krw: float | None = Field(description="Σ Upbit acc_trade_price_24h over the markets")
    value_1h_fills_krw: float | None = Field(description="Σ traded value of fills in the last hour (ohlcv)")
    value_1h_coverage_seconds: float | None = Field(
        default=None, description="seconds of stored data behind value_1h_fills_krw (3600 = the full hour)"
    )
    btc: CoinLine | None = None
    eth: CoinLine | None = None
    gainers: list[CoinLine] = Field(default_factory=list, description="top signed 24 h change")
    losers: list[CoinLine] = Field(default_factory=list)
    value_leaders: list[CoinLine] = Field(default_factory=list, description="by Upbit acc_trade_price_24h")
    movers_5m: list[CoinLine] = Field(default_factory=list, description="largest |5 m change|")
    open_anomalies: list[AnomalyItem] = Field(default_factory=list)
    open_anomalies_count: int = 0

    def to_context(self, budget: int = ctx.OVERVIEW_BUDGET) -> str:
        q = self.quote

        def render(level: int) -> str:
            n = (5, 4, 3, 2)[level]
            names = level < 2
            lines = [
                f"Upbit {q} market, {self.markets} markets, {self.freshness.line()}",
                f"breadth vs prev close {self.breadth_prev_close.text()}; 5m {self.breadth_5m.text()}; "
                f"1h {self.breadth_1h.text()}",
                f"value traded ({q}): 24h {fmt_krw(self.value_24h_upbit_krw)} (Upbit acc_trade_price_24h), "
                f"1h{ctx.coverage(self.value_1h_coverage_seconds, 3600)} {fmt_krw(self.value_1h_fills_krw)} (fills)",
            ]
            for line in (self.btc, self.eth):
                if line:
                    lines.append(line.text(q, names=False, extra=True))
            lists = (
                ("gainers vs prev close", self.gainers),
                ("losers vs prev close", self.losers),
                ("value leaders 24h", self.value_leaders),
            )
            for title, items in lists:
                if items:
                    lines.append(f"{title}: " + ", ".join(i.text(q, names=names) for i in items[:n]))
            if self.movers_5m:
                movers = ", ".join(
                    f"{ctx.short_code(i.market, q)} {fmt_pct(i.change_5m_pct)}" for i in self.movers_5m[:n]
                )
                lines.append(f"movers 5m: {movers}")
            anomalies = "; ".join(a.text(q) for a in self.open_anomalies[:n])
            lines.append(f"open anomalies {self.open_anomalies_count}" + (f": {anomalies}" if anomalies else ""))
            lines.append(f"units: % signed; bare % = since prev close (09:00 KST), not 24h; prices, values in {q}")
            return "\n".join(lines)

        return ctx.fit_to_budget(render, 4, budget)


def rsi_state(value: float | None) -> str:
    """Wilder's reading of RSI: ≥ 70 overbought, ≤ 30 oversold."""
    if value is None:
        return ""
    return "overbought" if value >= 70 else "oversold" if value <= 30 else "neutral"


def band_state(percent_b: float | None) -> str:
    """Where the close sits against the Bollinger bands (%B 1 = upper band, 0 = lower band)."""
    if percent_b is None:
        return ""
    if percent_b > 1:
        return "above upper band"
    if percent_b >= 0.8:
        return "near upper band"
    if percent_b < 0:
        return "below lower band"
    if percent_b <= 0.2:
        return "near lower band"
    return "inside bands"


def fmt_pct_plain(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}%"


def ind_warmup(name: str) -> int:
    """Candles an indicator needs before its first value (analytics.indicators.WARMUP, kept here for the text)."""
    return INDICATOR_WARMUP.get(name, 0)


# Candles each indicator needs before its first value (its warm-up), for the "n/a" reasons.
INDICATOR_WARMUP: dict[str, int] = {
    "rsi14": 15,
    "macd": 26,
    "macd_signal": 34,
    "bollinger": 20,
    "sma20": 20,
    "sma50": 50,
    "sma200": 200,
    "ema20": 20,
    "ema50": 50,
    "ema200": 200,
    "volume_ratio": 20,
}


class IndicatorSet(BaseModel):
    """Technical indicators at one candle (analytics.indicators documents the conventions and guards)."""

    market: str
    interval: Interval
    candles: int = Field(description="candles used, oldest to newest (filled ones included)")
    filled: int = Field(default=0, description="missing candles filled flat at the previous close, zero volume")
    open_included: bool = Field(default=False, description="true only when the unfinished candle was asked for")
    last_t: datetime | None = Field(description="start (UTC) of the last candle used")
    as_of: datetime | None = Field(description="the data is as of: the last candle's close, or its latest event")
    close: float | None
    rsi14: float | None = Field(default=None, description="RSI(14), Wilder smoothing, 0..100")
    macd: float | None = Field(default=None, description="EMA12 - EMA26 (quote currency)")
    macd_signal: float | None = Field(default=None, description="EMA9 of the MACD line")
    macd_hist: float | None = Field(default=None, description="MACD - signal")
    bb_mid: float | None = Field(default=None, description="Bollinger middle = SMA20")
    bb_upper: float | None = Field(default=None, description="SMA20 + 2 population sd")
    bb_lower: float | None = None
    bb_percent_b: float | None = Field(default=None, description="(close - lower)/(upper - lower); 1 = upper band")
    bb_bandwidth_pct: float | None = Field(default=None, description="(upper - lower)/middle in percent")
    sma20: float | None = None
    sma50: float | None = None
    sma200: float | None = None
    ema20: float | None = None
    ema50: float | None = None
    ema200: float | None = None
    volume: float | None = Field(default=None, description="the candle's volume (coin units)")
    volume_avg20: float | None = Field(default=None, description="SMA20 of volume, the candle included")
    volume_ratio: float | None = Field(default=None, description="volume / volume_avg20 (1.0 = average)")
    na: dict[str, str] = Field(default_factory=dict, description="indicator → why it is n/a (too few candles)")
    notes: list[str] = Field(default_factory=list, description="gaps and other caveats")
    freshness: Freshness | None = None

    def head(self) -> str:
        kind = "incl. OPEN candle" if self.open_included else "closed"
        filled = f", {self.filled} filled flat (no trades)" if self.filled else ""
        last = ctx.fmt_time(self.last_t)[:-4] + "Z" if self.last_t else "n/a"
        return f"{self.candles} {kind} {self.interval} candles{filled}, last {last}, as of {ctx.fmt_time(self.as_of)}"

    def rsi_text(self) -> str:
        state = rsi_state(self.rsi14)
        return f"RSI14({self.interval}) {fmt_num(self.rsi14)}" + (f" {state}" if state else "")

    def trend_text(self) -> str:
        """Close above (+) or below (-) EMA20/50/200: "+/+/-"; "." where an average is n/a."""
        marks = []
        for avg in (self.ema20, self.ema50, self.ema200):
            marks.append("." if avg is None or self.close is None else "+" if self.close >= avg else "-")
        return "/".join(marks)

    def line(self, short: bool = False, bare: bool = False) -> str:
        """The coin brief's indicator line (about 70 tokens; short: about 30; bare: RSI only, 10)."""
        iv = self.interval
        parts = [self.rsi_text(), f"BB %B({iv}) {fmt_num(self.bb_percent_b, 2)}"]
        if not (short or bare):
            parts.insert(1, f"MACD hist({iv}) {fmt_price(self.macd_hist)}")
            parts.append(f"close vs EMA20/EMA50/EMA200 {self.trend_text()}")
            parts.append(f"vol {fmt_ratio(self.volume_ratio)} avg20")
        if bare:  # the brief's tightest level: the reading questions ask about most, label only
            return f"RSI14({iv}) {fmt_num(self.rsi14)}"
        if short:
            return f"ind {iv} closed {ctx.fmt_hm(self.last_t)}: " + "; ".join(parts)
        filled = f", {self.filled} filled" if self.filled else ""
        return f"indicators {iv} (closed {ctx.fmt_hm(self.last_t)}{filled}): " + "; ".join(parts)

    def na_text(self) -> str:
        """Why indicators are n/a, compactly: "n/a (18 1h candles; warm-up needs MACD 26, SMA200 200, ...)"."""
        needs = ", ".join(f"{name} {ind_warmup(name)}" for name in self.na)
        return f"n/a ({self.candles} {self.interval} candles; warm-up needs {needs})"

    def to_context(self, budget: int = ctx.INDICATORS_BUDGET) -> str:
        iv = self.interval

        def render(level: int) -> str:
            lines = [f"{self.market} indicators {iv}: {self.head()}"]
            if self.freshness is not None and level == 0:
                lines.append(f"market data {self.freshness.line()}")
            lines += [
                f"close({iv}) {fmt_price(self.close)}",
                self.rsi_text() + " (overbought >= 70, oversold <= 30)",
                f"MACD({iv}) {fmt_price(self.macd)} signal {fmt_price(self.macd_signal)} "
                f"hist {fmt_price(self.macd_hist)}",
                f"BB20/2sd({iv}) upper {fmt_price(self.bb_upper)} mid {fmt_price(self.bb_mid)} "
                f"lower {fmt_price(self.bb_lower)}; %B {fmt_num(self.bb_percent_b, 2)} "
                f"{band_state(self.bb_percent_b)}; bandwidth {fmt_pct_plain(self.bb_bandwidth_pct)}",
                f"SMA20({iv}) {fmt_price(self.sma20)}; SMA50({iv}) {fmt_price(self.sma50)}; "
                f"SMA200({iv}) {fmt_price(self.sma200)}",
                f"EMA20({iv}) {fmt_price(self.ema20)}; EMA50({iv}) {fmt_price(self.ema50)}; "
                f"EMA200({iv}) {fmt_price(self.ema200)}",
                f"volume({iv}) {fmt_num(self.volume, 4)} = {fmt_ratio(self.volume_ratio)} of avg20 "
                f"{fmt_num(self.volume_avg20, 4)}",
            ]
            if self.na:
                lines.append(self.na_text())
            if self.notes:
                lines.append("notes: " + "; ".join(self.notes))
            return "\n".join(lines)

        return ctx.fit_to_budget(render, 3, budget)


class IndicatorPoint(BaseModel):
    t: datetime
    sma20: float | None = None
    sma50: float | None = None
    sma200: float | None = None
    ema20: float | None = None
    ema50: float | None = None
    ema200: float | None = None
    bb_mid: float | None = None
    bb_upper: float | None = None
    bb_lower: float | None = None
    rsi14: float | None = None


class IndicatorSeries(BaseModel):
    """Per-candle indicator values for chart overlays (None while an indicator warms up)."""

    market: str
    interval: Interval
    open_included: bool
    filled: int
    points: list[IndicatorPoint] = Field(description="oldest first, aligned with the candles' t")
    freshness: Freshness


class CoinBrief(BaseModel):
    ref: MarketRef
    freshness: Freshness
    price: float | None
    prev_close: float | None
    change_1m_pct: float | None
    change_5m_pct: float | None
    change_1h_pct: float | None
    change_24h_pct: float | None = Field(
        description="signed percent since Upbit's previous close (00:00 UTC = 09:00 KST), not a rolling 24 h change"
    )
    change_rolling_24h_pct: float | None = Field(
        default=None, description="signed percent vs the stored price 24 h before as_of; None without 24 h of data"
    )
    value_1h_fills_krw: float | None = Field(description="traded value of fills in the last hour")
    value_1h_coverage_seconds: float | None = Field(
        default=None, description="seconds of stored data behind value_1h_fills_krw (3600 = the full hour)"
    )
    value_baseline_1h_fills_krw: float | None = Field(description="mean hourly fill value over the prior 24 h")
    value_vs_baseline: float | None = Field(description="value_1h / baseline (1.0 = normal)")
    value_24h_upbit_krw: float | None = Field(description="Upbit acc_trade_price_24h")
    day_low: float | None
    day_high: float | None
    day_position_pct: float | None = Field(description="0 = at the day's low, 100 = at its high")
    low_52w: float | None
    high_52w: float | None
    position_52w_pct: float | None
    buy_share_1h_pct: float | None = Field(description="buyer-initiated share of last-hour fill value (50 = balanced)")
    bid_ask_volume_ratio_day: float | None = Field(description="Upbit acc_bid_volume / acc_ask_volume today")
    market_warning: str | None = Field(default=None, description="ticker market_warning (deprecated field)")
    anomalies: list[AnomalyItem] = Field(default_factory=list)
    indicators: IndicatorSet | None = Field(default=None, description="technical indicators at the last closed candle")

    def to_context(self, budget: int = ctx.COIN_BRIEF_BUDGET) -> str:
        r = self.ref
        q = r.quote

        def render(level: int) -> str:
            names = "/".join(n for n in (r.korean_name, r.english_name if level == 0 else "") if n)
            # The tightest level leaves out a rolling 24h change it cannot state ("24h n/a").
            rolling_24h = (
                ""
                if level == 2 and self.change_rolling_24h_pct is None
                else f"24h {fmt_pct(self.change_rolling_24h_pct)}; "
            )
            lines = [
                f"{r.market} {names} {self.freshness.line()}",
                f"price {fmt_price(self.price)} {q}; change 1m {fmt_pct(self.change_1m_pct)} "
                f"5m {fmt_pct(self.change_5m_pct)} 1h {fmt_pct(self.change_1h_pct)} "
                f"{rolling_24h}vs prev close {fmt_pct(self.change_24h_pct)} "
                f"(prev close {fmt_price(self.prev_close)} at 09:00 KST)",
                f"value 1h{ctx.coverage(self.value_1h_coverage_seconds, 3600)} {fmt_krw(self.value_1h_fills_krw)} "
                f"(fills) = {fmt_ratio(self.value_vs_baseline)} "
                f"of 24h hourly avg {fmt_krw(self.value_baseline_1h_fills_krw)}; "
                f"24h {fmt_krw(self.value_24h_upbit_krw)} (Upbit)",
                f"day range {fmt_price(self.day_low)}-{fmt_price(self.day_high)} "
                f"at {fmt_share(self.day_position_pct)}; "
                f"52w {fmt_price(self.low_52w)}-{fmt_price(self.high_52w)} at {fmt_share(self.position_52w_pct)}",
                f"buy share 1h {fmt_share(self.buy_share_1h_pct)}{' of fill value' if level < 2 else ''}; "
                f"day bid/ask volume {fmt_ratio(self.bid_ask_volume_ratio_day)}",
            ]
            flags = (["warning"] if r.warning else []) + r.caution
            if self.market_warning and self.market_warning not in ("NONE", ""):
                flags.append(f"market_warning={self.market_warning}")
            lines.append("flags: " + (", ".join(flags) if flags else "none"))
            n = (3, 2, 1)[level]
            if self.anomalies:  # before the indicators: if a budget cut drops a line, it is not the anomalies
                lines.append("anomalies: " + "; ".join(a.text(q) for a in self.anomalies[:n]))
            if self.indicators is not None:
                lines.append(self.indicators.line(short=level == 1, bare=level == 2))
            return "\n".join(lines)

        return ctx.fit_to_budget(render, 3, budget)


class Mover(BaseModel):
    market: str
    symbol: str
    korean_name: str = ""
    english_name: str = ""
    price: float | None
    change_pct: float | None = Field(description="signed percent over the window")
    value_fills_krw: float | None = Field(default=None, description="fill value in the window (1m/5m/1h)")
    value_24h_upbit_krw: float | None = Field(default=None, description="Upbit acc_trade_price_24h")
    fills: int | None = Field(default=None, description="number of fills in the window (direction=active)")


class MoversResult(BaseModel):
    quote: str
    window: Window
    direction: Direction
    items: list[Mover]
    truncated: bool = False
    freshness: Freshness

    def to_context(self, budget: int = ctx.MOVERS_BUDGET) -> str:
        def render(level: int) -> str:
            items = self.items[: max(3, len(self.items) - 3 * level)]
            # Upbit's "24h" change is since the previous close (09:00 KST): the context says so, never "24h".
            window = "vs prev close" if self.window == "24h" else self.window
            head = f"top {self.direction} {window} ({self.quote}) {self.freshness.line()}"
            rows = [
                f"{ctx.short_code(m.market, self.quote)}{' ' + m.korean_name if level == 0 and m.korean_name else ''}"
                f" {fmt_price(m.price)} {fmt_pct(m.change_pct)} val "
                f"{fmt_krw(m.value_fills_krw if m.value_fills_krw is not None else m.value_24h_upbit_krw)}"
                + (f"; {m.fills:,} fills" if m.fills is not None else "")
                for m in items
            ]
            return head + "\n" + "\n".join(rows)

        return ctx.fit_to_budget(render, 5, budget)


class Candle(BaseModel):
    t: datetime = Field(description="bucket start (UTC)")
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None
    value_fills_krw: float | None = Field(description="Σ price × volume of fills (quote currency)")
    fills: int
    rest_minutes: int = Field(default=0, description="minutes of this candle that came from Upbit REST candles")


class CandleSeries(BaseModel):
    market: str
    interval: Interval
    candles: list[Candle] = Field(description="oldest first")
    truncated: bool = False
    freshness: Freshness

    def to_context(self, budget: int = ctx.CANDLES_BUDGET) -> str:
        def render(level: int) -> str:
            keep = max(5, len(self.candles) // (2**level))
            rows = self.candles[-keep:]
            head = f"{self.market} {self.interval} candles (t,o,h,l,c,value) {self.freshness.line()}"
            body = [
                f"{c.t.strftime('%m-%d %H:%M')},{fmt_price(c.open)},{fmt_price(c.high)},{fmt_price(c.low)},"
                f"{fmt_price(c.close)},{fmt_krw(c.value_fills_krw)}"
                for c in rows
            ]
            return head + "\n" + "\n".join(body)

        return ctx.fit_to_budget(render, 6, budget)


class AnomalyList(BaseModel):
    items: list[AnomalyItem]
    total: int = Field(description="matching anomalies before the row cap")
    truncated: bool = False
    freshness: Freshness

    def to_context(self, budget: int = ctx.ANOMALIES_BUDGET) -> str:
        def render(level: int) -> str:
            items = self.items[: max(3, len(self.items) - 5 * level)]
            head = f"anomalies {self.total} {self.freshness.line()}"
            return head + "\n" + "\n".join(a.text() for a in items)

        return ctx.fit_to_budget(render, 5, budget)


class Summary(BaseModel):
    id: int
    kind: str
    text: str
    as_of: datetime
    created_at: datetime
    model: str
    offline: bool
    language: str
    markets: list[str] = Field(default_factory=list)
    grounded: bool
    # What the result cost (shown next to it on the dashboard): tokens in/out and estimated USD.
    input_tokens: int = 0
    output_tokens: int = 0
    context_tokens: int | None = None
    cost_usd: float = 0.0


class SummaryResult(BaseModel):
    found: bool
    summary: Summary | None = None
    age_seconds: float | None = Field(default=None, description="wall clock now minus the summary's as_of")
    freshness: Freshness

    def to_context(self, budget: int = ctx.SUMMARY_BUDGET) -> str:
        if not self.found or self.summary is None:
            return f"no stored summary; data {self.freshness.line()}"
        s = self.summary

        mark = "" if s.grounded else "⚠️ 수치 미검증 · numbers not verified\n"  # shown wherever the text goes

        def render(level: int) -> str:
            text = s.text if level == 0 else s.text[: max(200, len(s.text) // (2**level))]
            head = f"{s.kind} as of {ctx.fmt_time(s.as_of)} by {s.model} (age {ctx.fmt_lag(self.age_seconds)}):"
            return f"{head}\n{mark}{text}"

        return ctx.fit_to_budget(render, 6, budget)
