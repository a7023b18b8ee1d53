"""Pure, event-time anomaly signals on fine buckets per market against a robust trailing baseline.

Nothing here reads a clock or a database: the same buckets in the same order give the same signals, so a replay
at any speed (or the same file replayed into a fresh database) yields identical results.

Model (why each choice, in docs/anomaly-alerts.md):
- Buckets of `bucket_seconds` (10 s) per market: traded value (KRW), BID value, fills, BID fills, close.
- Baseline: the trailing `baseline_minutes` (30) *completed* minutes before the current minute, so the bucket
  under test (and the minute it sits in) never dilutes its own baseline. Value and fills use the median per
  minute (robust: one earlier spike does not raise it), volatility is the MAD of one-minute log returns.
- Windows of 1, 3 and 6 buckets (10/30/60 s) ending at the current bucket are compared with the baseline, so a
  burst inside one bucket and a ramp over a minute are both seen.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from statistics import median

from upbit_core.severity import SEVERITIES as SEVERITIES
from upbit_core.severity import severity_rank as severity_rank

RUSH_WINDOWS = (1, 3)  # buckets (10 s and 30 s) in which the opt-in rush rule looks for a one-sided crowd


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds. Defaults come from how real Upbit pumps look, not from the simulator (see docs)."""

    bucket_seconds: int = 10
    # Early decisions inside a bucket: every `early_step_seconds` of event time the windows ending *there* (the
    # bucket's fills so far plus the buckets before) are judged, and only a Slack-worthy (medium+) open or
    # escalation is acted on; everything else waits for the bucket's end as before. Deterministic: the decision
    # points are fixed in event time, not set by when a scan runs. 0 = decide at bucket ends only.
    early_step_seconds: int = 2
    baseline_minutes: int = 30
    # A market needs this much of its own history inside the baseline window before it can alert.
    warmup_minutes: int = 5
    # Upbit REST minute candles (used for the baseline when no fills are stored) have no fill count. Each traded
    # minute counts as this many fills and orders: a market with a candle in every minute of the window is liquid
    # enough (min_baseline_fills), one with a few candles an hour is not. The order/fill floors of the signals
    # (min_spike_orders, buy_burst_min_fills) still apply, so a low estimate cannot make alerts cheaper than that.
    rest_minute_fills: int = 2
    windows: tuple[int, ...] = (1, 3, 6)  # buckets: 10 s, 30 s, 60 s
    # Liquidity: fills in the trailing window (a market that trades a few times an hour is dust) and the value
    # that must actually change hands in the window for an alert (KRW).
    min_baseline_fills: int = 30
    # A thin market (fewer fills than that, but some) is still judged in a bucket with a rush of this many taker
    # orders in 20 s: real pumps target coins that trade a few times an hour, and waiting for a full minute of
    # history costs the first minute of the pump.
    thin_min_fills: int = 5
    thin_rush_orders: int = 40
    min_alert_value_krw: float = 3_000_000.0
    min_spike_orders: int = 8
    value_spike_order_ratio: float = 4.0
    # A crowd: this many taker orders in the window and this many times the market's normal order rate. Medium+
    # needs a crowd — on real illiquid books one whale order or a handful of them spike value ×10–100 several times
    # a day; a pump is hundreds of people buying in the same seconds (real tapes: 30–1,900 orders in 10–30 s).
    crowd_min_orders: tuple[int, ...] = (20, 35, 60)  # per window (10/30/60 s): a rush, not a busy minute
    crowd_order_ratio: float = 8.0
    crowd_side_margin_pct: float = 10.0  # a pump's crowd buys: BID share of value >= 60 % (a dump's <= 40 %)
    # Medium+ needs the price itself to have moved this far in the triggering window: a crowd trading heavily while
    # the price moves 3–4 % is what real books do around news several times a week; value cannot stand in for the
    # move (tuned on the tuning tapes only, docs/anomaly-alerts.md).
    medium_min_move_pct: float = 5.0
    # A rush is Slack-worthy before the 5 % move: a price signal and, in one 10- or 30-s window, the crowd above
    # *and* its taker buys >= 80 % of the value (sells: <= 20 %) *and* the price >= 3 % the crowd's way in that
    # window (beyond the market). Then the trigger is at least `medium` (and escalates an open `low` episode).
    # Chosen on the tuning tapes and the simulator (RUSH_WINDOWS); OFF by default (`()`) because on the held-out
    # tapes it raised false medium+ alerts to 0.16–0.32 per market-day without catching the missed pump
    # (docs/anomaly-alerts.md, "rush"). ANOMALY_RUSH_RULE=true turns it on for the scan.
    rush_windows: tuple[int, ...] = ()
    rush_side_pct: float = 80.0
    rush_min_move_pct: float = 3.0
    # Floor of the per-bucket baseline value (≈ 430 M KRW a day), so a quiet market's median of ~0 cannot make any
    # trade a "spike". Kept low on purpose: pumps target small caps, which trade a few hundred million KRW a day.
    baseline_floor_krw: float = 50_000.0
    value_ratio_min: float = 8.0
    price_z_min: float = 6.0
    price_move_min_pct: float = 3.0
    # Volatility floor per minute (0.3 %): below that a tick-size move would look like many sigmas.
    sigma_floor_1m: float = 0.003
    buy_share_min_pct: float = 80.0
    buy_burst_min_fills: int = 30
    buy_burst_fill_ratio: float = 5.0
    buy_burst_value_ratio: float = 4.0
    # Market-wide move: this many markets (and this share of liquid ones) moving the same way in 60 s.
    market_move_min_markets: int = 8
    market_move_min_share: float = 0.3
    market_move_min_pct: float = 1.0
    market_move_z: float = 3.0
    # A market-wide move is Slack-worthy (medium) once the typical liquid market — the median — has moved this far
    # its way in 30 or 60 s: with >= 30 % of markets past 3 sigma that is the whole market moving, one event for
    # every holder (it was 2 %, which a 2–5 %-per-minute move reaches only 25–40 s in). 5 % high, 10 % critical.
    market_medium_min_pct: float = 1.0
    # Market-wide activity surge: this value ratio on the same share of markets (the first seconds of a move).
    market_surge_ratio: float = 2.5
    # Lifecycle.
    quiet_seconds: int = 180
    # A market-wide move is one event for everyone and rare: a new one may follow sooner than a coin alert.
    market_cooldown_seconds: int = 300
    reversal_retrace: float = 0.5
    # Stale data: this long without a single fill on any market (while the baseline says fills were expected).
    stale_silence_seconds: int = 30
    stale_min_expected_fills: float = 20.0
    stale_grace_seconds: int = 60

    @property
    def bucket_ms(self) -> int:
        return self.bucket_seconds * 1000

    @property
    def buckets_per_minute(self) -> int:
        return max(1, 60 // self.bucket_seconds)

    @property
    def early_step_ms(self) -> int:
        """The early-decision step in ms, or 0 when off (a step that does not divide the bucket is off too)."""
        step = self.early_step_seconds
        if step <= 0 or step >= self.bucket_seconds or self.bucket_seconds % step:
            return 0
        return step * 1000


@dataclass(frozen=True)
class BucketRow:
    """One market's fills inside one bucket (value in the quote currency, KRW for KRW markets)."""

    code: str
    start_ms: int
    open: float
    high: float
    low: float
    close: float
    value: float
    buy_value: float
    fills: int
    buy_fills: int
    orders: int = 0  # distinct trade timestamps: one taker order sweeping 13 makers is 13 fills but 1 order


def merge_rows(code: str, start_ms: int, parts: list[BucketRow]) -> BucketRow:
    """One row for `parts` (the same market's consecutive finer rows, in time order): what one aggregate over
    their span gives (first open, last close, extremes, sums; orders add up because the parts' trade timestamps
    are disjoint)."""
    if len(parts) == 1 and parts[0].start_ms == start_ms:
        return parts[0]
    return BucketRow(
        code,
        start_ms,
        parts[0].open,
        max(r.high for r in parts),
        min(r.low for r in parts),
        parts[-1].close,
        sum(r.value for r in parts),
        sum(r.buy_value for r in parts),
        sum(r.fills for r in parts),
        sum(r.buy_fills for r in parts),
        sum(r.orders for r in parts),
    )


@dataclass
class _Minute:
    start_ms: int
    value: float = 0.0
    fills: int = 0
    close: float | None = None
    orders: int = 0


@dataclass(frozen=True)
class Baseline:
    value_per_bucket: float  # KRW, floored
    raw_value_per_bucket: float  # KRW, unfloored median
    fills_per_bucket: float
    orders_per_bucket: float
    sigma_1m: float  # volatility of one-minute log returns, floored
    fills_in_window: int
    data_minutes: int  # minutes between the oldest traded minute in the window and now


class MarketTrack:
    """Dense per-market history: the last `baseline_minutes` completed minutes and the last 6 buckets."""

    def __init__(self, code: str, cfg: DetectorConfig) -> None:
        self.code = code
        self.cfg = cfg
        self.minutes: deque[_Minute] = deque(maxlen=cfg.baseline_minutes)
        self.current: _Minute | None = None
        self.recent: deque[BucketRow] = deque(maxlen=max(cfg.windows) + 1)
        self.last_close: float | None = None
        self.last_trade_ms: int | None = None
        self._baseline: Baseline | None = None
        self._peeked: tuple[int, Baseline] | None = None  # peek_baseline's last answer (bucket start, baseline)

    def advance(self, t_ms: int, row: BucketRow | None) -> None:
        """Account bucket `t_ms` (row None = no fills). Called for every bucket, in order."""
        minute_ms = t_ms - t_ms % 60_000
        if self.current is None or self.current.start_ms != minute_ms:
            if self.current is not None:
                self._close_minutes_until(minute_ms)
            self.current = _Minute(minute_ms)
            self._baseline = None
        self.last_close = self._last_close_at(t_ms)
        if row is not None and row.fills > 0:
            self.current.value += row.value
            self.current.fills += row.fills
            self.current.orders += row.orders
            self.current.close = row.close
            self.last_close = row.close
            self.last_trade_ms = t_ms
        self.recent.append(self._bucket_row(t_ms, row, self.last_close))

    def _last_close_at(self, t_ms: int) -> float | None:
        """The last close as bucket `t_ms` knows it: forgotten once older than the baseline window (a rebuilt
        engine, next scan, would not know it either)."""
        if self.last_trade_ms is not None and t_ms - self.last_trade_ms > self.cfg.baseline_minutes * 60_000:
            return None
        return self.last_close

    def _bucket_row(self, t_ms: int, row: BucketRow | None, last_close: float | None) -> BucketRow:
        """The row bucket `t_ms` leaves in `recent`: its own, or a flat one at the last close when it had no fills."""
        if row is not None and row.fills > 0:
            return row
        close = last_close if last_close is not None else 0.0
        return BucketRow(self.code, t_ms, close, close, close, close, 0.0, 0.0, 0, 0, 0)

    def to_state(self) -> list[object]:
        """Everything the track knows, as JSON-ready lists (floats round-trip exactly through JSON)."""

        def minute(m: _Minute | None) -> list[object] | None:
            return None if m is None else [m.start_ms, m.value, m.fills, m.close, m.orders]

        return [
            [minute(m) for m in self.minutes],
            minute(self.current),
            [
                [r.start_ms, r.open, r.high, r.low, r.close, r.value, r.buy_value, r.fills, r.buy_fills, r.orders]
                for r in self.recent
            ],
            self.last_close,
            self.last_trade_ms,
        ]

    @classmethod
    def from_state(cls, code: str, cfg: DetectorConfig, state: list[object]) -> MarketTrack:
        track = cls(code, cfg)
        minutes, current, recent, last_close, last_trade_ms = state

        def minute(m: object) -> _Minute | None:
            if not isinstance(m, list):
                return None
            return _Minute(int(m[0]), float(m[1]), int(m[2]), None if m[3] is None else float(m[3]), int(m[4]))

        for m in minutes:  # type: ignore[attr-defined]
            got = minute(m)
            if got is not None:
                track.minutes.append(got)
        track.current = minute(current)
        for r in recent:  # type: ignore[attr-defined]
            track.recent.append(
                BucketRow(
                    code,
                    int(r[0]),
                    float(r[1]),
                    float(r[2]),
                    float(r[3]),
                    float(r[4]),
                    float(r[5]),
                    float(r[6]),
                    int(r[7]),
                    int(r[8]),
                    int(r[9]),
                )
            )
        track.last_close = None if last_close is None else float(last_close)  # type: ignore[arg-type]
        track.last_trade_ms = None if last_trade_ms is None else int(last_trade_ms)  # type: ignore[call-overload]
        return track

    def _close_minutes_until(self, minute_ms: int) -> None:
        self.minutes.extend(self._closing(minute_ms))

    def _closing(self, minute_ms: int) -> list[_Minute]:
        """The minutes that closing the current one before `minute_ms` adds: it (its close, or the last one if it
        had no fill) and the empty minutes in between (zeros, part of the baseline), capped at the window length."""
        assert self.current is not None
        done = self.current
        if done.close is None:
            done = replace(done, close=self.last_close)
        start = max(done.start_ms + 60_000, minute_ms - self.cfg.baseline_minutes * 60_000)
        return [done, *(_Minute(m, 0.0, 0, self.last_close, 0) for m in range(start, minute_ms, 60_000))]

    def baseline(self, t_ms: int) -> Baseline:
        """Baseline from completed minutes only (cached per minute: the current minute never feeds it)."""
        if self._baseline is None:
            self._baseline = _baseline_of(list(self.minutes), t_ms, self.cfg)
        return self._baseline

    def peek_baseline(self, t_ms: int) -> Baseline:
        """The baseline `advance(t_ms, …)` followed by `baseline(t_ms)` would give, without changing the track."""
        minute_ms = t_ms - t_ms % 60_000
        if self.current is None or self.current.start_ms == minute_ms:
            return self.baseline(t_ms)
        if self._peeked is not None and self._peeked[0] == t_ms:
            return self._peeked[1]
        minutes = [*self.minutes, *self._closing(minute_ms)]
        base = _baseline_of(minutes[-self.cfg.baseline_minutes :], t_ms, self.cfg)
        self._peeked = (t_ms, base)  # the bucket's early points share it (the track cannot change in between)
        return base

    def peek_recent(self, t_ms: int, row: BucketRow | None) -> list[BucketRow]:
        """The last buckets as `advance(t_ms, row)` would leave them (the current one partial), without changing
        the track."""
        recent = [*self.recent, self._bucket_row(t_ms, row, self._last_close_at(t_ms))]
        return recent[-(self.recent.maxlen or len(recent)) :]


def _baseline_of(minutes: list[_Minute], t_ms: int, cfg: DetectorConfig) -> Baseline:
    """Baseline of bucket `t_ms` from the completed minutes before it (pure)."""
    per = cfg.buckets_per_minute
    values = [m.value for m in minutes]
    fills = [m.fills for m in minutes]
    raw_value = median(values) / per if values else 0.0
    fills_med = median(fills) / per if fills else 0.0
    orders = [m.orders for m in minutes]
    orders_med = median(orders) / per if orders else 0.0
    closes = [m.close for m in minutes]
    rets = [
        math.log(b / a)
        for a, b in zip(closes, closes[1:], strict=False)
        if a is not None and b is not None and a > 0 and b > 0
    ]
    sigma = cfg.sigma_floor_1m
    if len(rets) >= 5:
        mid = median(rets)
        mad = median(abs(r - mid) for r in rets) * 1.4826
        mean_sq = sum((r - mid) ** 2 for r in rets) / len(rets)
        # MAD is robust but collapses to 0 when most minutes are flat; half the RMS is a sane second opinion.
        sigma = max(mad, 0.5 * math.sqrt(mean_sq), cfg.sigma_floor_1m)
    traded = [m.start_ms for m in minutes if m.fills > 0]
    minute_ms = t_ms - t_ms % 60_000
    data_minutes = (minute_ms - traded[0]) // 60_000 if traded else 0
    return Baseline(
        value_per_bucket=max(raw_value, cfg.baseline_floor_krw),
        raw_value_per_bucket=raw_value,
        fills_per_bucket=fills_med,
        orders_per_bucket=orders_med,
        sigma_1m=sigma,
        fills_in_window=sum(fills),
        data_minutes=int(data_minutes),
    )


@dataclass(frozen=True)
class Features:
    """What the current bucket looks like against the market's own baseline (one market, one bucket)."""

    code: str
    t_ms: int
    close: float
    baseline: Baseline
    # per window (buckets): value, ratio, signed percent move, z-score, buy share percent, fills, buy fills
    value: dict[int, float]
    ratio: dict[int, float]
    pct: dict[int, float | None]
    z: dict[int, float | None]
    buy_share_pct: dict[int, float]
    fills: dict[int, int]
    orders: dict[int, int]
    # value against the unfloored baseline: how many times its own normal this market trades (market breadth)
    rel_ratio: dict[int, float]
    # An early decision's unfinished bucket: the ms of it seen so far (None: the bucket is complete). A window of
    # k buckets then spans (k - 1) buckets plus these ms, and the crowd's order *rate* is judged over that span.
    seen_ms: int | None = None

    def span_buckets(self, k: int, bucket_ms: int) -> float:
        """The length of window `k` in buckets, as seen (shorter than k inside an unfinished bucket)."""
        return float(k) if self.seen_ms is None else k - 1 + self.seen_ms / bucket_ms

    @property
    def eligible(self) -> bool:
        return True


def compute_features(track: MarketTrack, t_ms: int) -> Features | None:
    """Features of the bucket just advanced, or None when the market is too young or too illiquid to judge."""
    return _features(track.code, track.cfg, track.baseline(t_ms), list(track.recent), t_ms)


def peek_features(track: MarketTrack, t_ms: int, partial: BucketRow | None, point_ms: int) -> Features | None:
    """Features of bucket `t_ms` from its fills so far (`partial`, up to `point_ms`), the track unchanged: the
    windows end at the point, so a 10-s window holds only the seconds seen yet (value ratios and counts err low;
    the crowd test compares the orders with the normal rate over the seconds seen)."""
    recent = track.peek_recent(t_ms, partial)
    return _features(track.code, track.cfg, track.peek_baseline(t_ms), recent, t_ms, point_ms - t_ms)


def _features(
    code: str, cfg: DetectorConfig, base: Baseline, recent: list[BucketRow], t_ms: int, seen_ms: int | None = None
) -> Features | None:
    if base.data_minutes < cfg.warmup_minutes or base.fills_in_window < cfg.thin_min_fills:
        return None
    cur = recent[-1]
    if cur.start_ms != t_ms or cur.close <= 0:
        return None
    # The rush is counted over the last two buckets: one that straddles a bucket edge is still one rush.
    if base.fills_in_window < cfg.min_baseline_fills and sum(b.orders for b in recent[-2:]) < cfg.thin_rush_orders:
        return None
    value: dict[int, float] = {}
    ratio: dict[int, float] = {}
    pct: dict[int, float | None] = {}
    z: dict[int, float | None] = {}
    share: dict[int, float] = {}
    fills: dict[int, int] = {}
    orders: dict[int, int] = {}
    rel: dict[int, float] = {}
    per = cfg.buckets_per_minute
    for k in cfg.windows:
        window = recent[-k:]
        v = sum(b.value for b in window)
        bv = sum(b.buy_value for b in window)
        value[k] = v
        ratio[k] = v / (base.value_per_bucket * len(window))
        rel[k] = v / (max(base.raw_value_per_bucket, 1.0) * len(window))
        share[k] = 100.0 * bv / v if v > 0 else 0.0
        fills[k] = sum(b.fills for b in window)
        orders[k] = sum(b.orders for b in window)
        ref = recent[-k - 1].close if len(recent) > k else None
        if ref and ref > 0:
            pct[k] = (cur.close / ref - 1.0) * 100.0
            z[k] = math.log(cur.close / ref) / (base.sigma_1m * math.sqrt(k / per))
        else:
            pct[k] = None
            z[k] = None
    return Features(code, t_ms, cur.close, base, value, ratio, pct, z, share, fills, orders, rel, seen_ms)


@dataclass(frozen=True)
class MarketContext:
    """Market-wide view of one bucket: how many liquid markets move together, and the typical move."""

    liquid: int
    up: int
    down: int
    median_pct: dict[int, float]
    median_ratio: float
    direction: int  # +1 / -1 when a market-wide move is on, else 0
    surge: bool = False  # a large share of liquid markets trade several times their normal value at once

    @property
    def moving(self) -> int:
        return self.up if self.direction > 0 else self.down if self.direction < 0 else 0


def market_context(features: list[Features], cfg: DetectorConfig) -> MarketContext:
    """Counts liquid markets moving together over 30 s and 60 s; the larger same-direction crowd decides."""
    up = down = 0
    for k in cfg.windows[1:]:
        up_k = down_k = 0
        for f in features:
            p, zz = f.pct.get(k), f.z.get(k)
            if p is None or zz is None:
                continue
            if p >= cfg.market_move_min_pct and zz >= cfg.market_move_z:
                up_k += 1
            elif p <= -cfg.market_move_min_pct and zz <= -cfg.market_move_z:
                down_k += 1
        up, down = max(up, up_k), max(down, down_k)
    med_pct: dict[int, float] = {}
    # Too few liquid markets to define "the market" (a quote with three coins, a single-market replay): the median
    # would be the coin itself and cancel its own move, so nothing is subtracted.
    crowd = len(features) >= cfg.market_move_min_markets
    for w in cfg.windows:
        vals = [p for f in features if (p := f.pct.get(w)) is not None]
        med_pct[w] = median(vals) if vals and crowd else 0.0
    ratios = [max(f.rel_ratio[w] for w in cfg.windows[:2]) for f in features]
    need = max(cfg.market_move_min_markets, math.ceil(cfg.market_move_min_share * len(features)))
    direction = 0
    if features and up >= need and up > down:
        direction = 1
    elif features and down >= need and down > up:
        direction = -1
    surging = sum(1 for r in ratios if r >= cfg.market_surge_ratio)
    surge = bool(features) and surging >= need
    return MarketContext(
        len(features), up, down, med_pct, median(ratios) if ratios and crowd else 1.0, direction, surge
    )


@dataclass(frozen=True)
class Trigger:
    """A market crossed a threshold in this bucket: what kind, how bad, and the numbers behind it."""

    market: str
    kind: str  # pump / dump / price_jump / value_spike / buy_burst / market_move
    severity: str
    direction: int  # +1 up, -1 down, 0 none
    window_buckets: int
    price: float  # close at detection (0 for MARKET)
    metrics: dict[str, object] = field(default_factory=dict)


def _severity(
    move_pct: float, ratio: float, price_signal: bool, crowd: bool = True, medium_min_move_pct: float = 0.0
) -> str:
    """Severity from the size of the move and of the value surge (docs/anomaly-alerts.md has the table).

    A value-only bump under 12x its normal (no price signal) is `info`: recorded and listed, not alerted. Without a
    crowd of taker orders nothing is more than `low`: a whale's block trade is not what a trader wants in Slack."""
    move = abs(move_pct)
    if not crowd:
        return "low" if price_signal or ratio >= 20 else "info"
    if not price_signal:
        # Traded value alone, even from a crowd, is what real illiquid books do several times a day (news, a
        # listing elsewhere, an index rebalance): listed and sent to the webhook, not to Slack.
        return "low" if ratio >= 12 else "info"
    if move < medium_min_move_pct:
        return "low"
    if move >= 20 or (move >= 10 and ratio >= 30):
        return "critical"
    if move >= 10 or ratio >= 50 or (move >= 5 and ratio >= 20):
        return "high"
    if move >= 5 or ratio >= 20:
        return "medium"
    if not price_signal and ratio < 12:
        return "info"
    return "low"


def classify(f: Features, ctx: MarketContext, cfg: DetectorConfig) -> Trigger | None:
    """The strongest signal of one market in one bucket, or None.

    A coin is always judged against the market: its price move beyond the median move of liquid markets, and its
    value ratio divided by the median ratio (when the whole market trades more). So a market-wide move or a
    market-wide burst of activity is one MARKET event, not a hundred coin alerts."""
    market_wide = ctx.direction != 0 or ctx.surge
    norm = max(1.0, ctx.median_ratio)
    best_price: tuple[float, int, float] | None = None  # (|z|, window, residual pct)
    for k in cfg.windows:
        p, zz = f.pct[k], f.z[k]
        if p is None or zz is None or abs(p) < cfg.price_move_min_pct:
            continue
        resid = p - ctx.median_pct.get(k, 0.0)
        # The coin must itself move, and beyond the market in the same direction (lagging the market is not news).
        if p * resid <= 0 or abs(resid) < cfg.price_move_min_pct or resid <= -100:
            continue
        zz = math.log1p(resid / 100.0) / (f.baseline.sigma_1m * math.sqrt(k / cfg.buckets_per_minute))
        if abs(zz) >= cfg.price_z_min and f.value[k] >= cfg.min_alert_value_krw / 2:
            if best_price is None or abs(zz) > best_price[0]:
                best_price = (abs(zz), k, resid)
    best_value: tuple[float, int] | None = None
    # During a market-wide move a coin's value-only spike must stand out twice as far from the market.
    value_min = cfg.value_ratio_min * (2.0 if market_wide else 1.0)
    for k in cfg.windows:
        r = f.ratio[k] / norm
        # A crowd, not one block trade: count taker orders (distinct trade timestamps), since one order that
        # sweeps the book makes many fills in the same millisecond.
        need = max(cfg.min_spike_orders, cfg.value_spike_order_ratio * f.baseline.orders_per_bucket * k)
        if r >= value_min and f.value[k] >= cfg.min_alert_value_krw and f.orders[k] >= need:
            if best_value is None or r > best_value[0]:
                best_value = (r, k)
    buy: int | None = None
    # Buy pressure during a market-wide move is the market's, not the coin's.
    for k in cfg.windows[:2] if not market_wide else ():
        need_fills = max(cfg.buy_burst_min_fills, cfg.buy_burst_fill_ratio * f.baseline.fills_per_bucket * k)
        if (
            f.buy_share_pct[k] >= cfg.buy_share_min_pct
            and f.fills[k] >= need_fills
            and f.ratio[k] / norm >= cfg.buy_burst_value_ratio
            and f.value[k] >= cfg.min_alert_value_krw
        ):
            buy = k
            break
    top_ratio = max(f.ratio[k] for k in cfg.windows) / norm
    backed = best_value is not None or buy is not None or top_ratio >= cfg.value_ratio_min / 2
    if market_wide and not backed:
        # Moving with the market on ordinary (market-relative) volume is the market's move, not the coin's.
        best_price = None
    if best_price is None and best_value is None and buy is None:
        return None
    if best_price is not None:
        _, k, move = best_price
        direction = 1 if move > 0 else -1
        kind = ("pump" if direction > 0 else "dump") if backed else "price_jump"
    elif best_value is not None:
        k = best_value[1]
        move = f.pct[k] or 0.0
        direction = 0
        kind = "buy_burst" if buy is not None and best_value[0] < cfg.value_ratio_min * 2 else "value_spike"
    else:
        assert buy is not None
        k = buy
        move = f.pct[k] or 0.0
        direction = 0
        kind = "buy_burst"
    crowd_orders = max(
        f.orders[w] - cfg.crowd_order_ratio * f.baseline.orders_per_bucket * f.span_buckets(w, cfg.bucket_ms)
        for w in cfg.windows
    )
    # The crowd must push the way the price goes: a pump is a rush of market *buys* (a dump of market sells) in
    # the same window — a whale's sweep, a market maker refilling, or a crowd on both sides is not.
    pushing = 50.0 + cfg.crowd_side_margin_pct
    crowd = any(
        _has_crowd(f, cfg, w, n) and (best_price is None or _pushes(f.buy_share_pct[w], best_price[2], pushing))
        for w, n in zip(cfg.windows, cfg.crowd_min_orders, strict=False)
    )
    severity = _severity(
        move if best_price is not None else 0.0, top_ratio, best_price is not None, crowd, cfg.medium_min_move_pct
    )
    rush_window = _rush_window(f, ctx, cfg, direction) if best_price is not None else None
    if rush_window is not None and severity_rank(severity) < severity_rank("medium"):
        severity = "medium"
    bucket_s = cfg.bucket_seconds
    metrics: dict[str, object] = {
        "window_seconds": k * bucket_s,
        "value_krw": round(f.value[k], 2),
        "baseline_value_krw": round(f.baseline.value_per_bucket * k, 2),
        "value_ratio": round(f.ratio[k] / norm, 2),
        "price_change_pct": round(f.pct[k] or 0.0, 3),
        "price_zscore": round(f.z[k] or 0.0, 2),
        "buy_share_pct": round(f.buy_share_pct[k], 1),
        "fills": f.fills[k],
        "orders": f.orders[k],
        "baseline_orders": round(f.baseline.orders_per_bucket * k, 2),
        "baseline_fills": round(f.baseline.fills_per_bucket * k, 2),
        "volatility_1m_pct": round(f.baseline.sigma_1m * 100, 3),
        "crowd": crowd,
        "rush_window_seconds": None if rush_window is None else rush_window * bucket_s,
        "excess_orders": round(crowd_orders, 1),
        "price": f.close,
        "signals": [
            s
            for s, on in (
                ("price_jump", best_price is not None),
                ("value_spike", best_value is not None),
                ("buy_burst", buy is not None),
            )
            if on
        ],
    }
    if market_wide:
        metrics["market_median_change_pct"] = round(ctx.median_pct.get(k, 0.0), 3)
        metrics["market_value_ratio"] = round(ctx.median_ratio, 2)
    return Trigger(f.code, kind, severity, direction, k, f.close, metrics)


def _rush_window(f: Features, ctx: MarketContext, cfg: DetectorConfig, direction: int) -> int | None:
    """The first 10/30-s window in which a crowd of one-sided market orders pushes the price >= 3 % its way, or None.

    Stronger than the crowd gate where it matters on real books: the same order counts (≥ 20 / 35 taker orders and
    ≥ 8× the normal order rate) but the crowd is one-sided (≥ 80 % of the value bought for an up move, ≤ 20 % for a
    down move) and the move is in the *same* short window, beyond the market's median move."""
    for w in cfg.rush_windows:
        if w not in f.orders:
            continue
        p = f.pct.get(w)
        if p is None:
            continue
        resid = p - ctx.median_pct.get(w, 0.0)
        if p * direction <= 0 or resid * direction < cfg.rush_min_move_pct:
            continue
        n = cfg.crowd_min_orders[cfg.windows.index(w)] if w in cfg.windows else max(cfg.crowd_min_orders)
        if _has_crowd(f, cfg, w, n) and _pushes(f.buy_share_pct[w], direction, cfg.rush_side_pct):
            return w
    return None


def _has_crowd(f: Features, cfg: DetectorConfig, w: int, min_orders: int) -> bool:
    """Window `w` holds a crowd of taker orders: at least `min_orders`, and `crowd_order_ratio` × the market's
    normal order rate over the window's length as seen (an early point's window ends inside its bucket)."""
    span = f.span_buckets(w, cfg.bucket_ms)
    return f.orders[w] >= max(min_orders, cfg.crowd_order_ratio * f.baseline.orders_per_bucket * span)


def _pushes(buy_share_pct: float, direction: float, side_pct: float) -> bool:
    """The takers push the price's way: BID share of value >= side_pct going up, <= 100 - side_pct going down."""
    return buy_share_pct >= side_pct if direction > 0 else buy_share_pct <= 100.0 - side_pct


def market_trigger(ctx: MarketContext, cfg: DetectorConfig) -> Trigger | None:
    """One MARKET event for a market-wide move instead of an alert per coin."""
    if ctx.direction == 0:
        return None
    # The window (30 or 60 s) in which the typical liquid market moved furthest the market's way: a sharp drop
    # shows in 30 s before a 60-s window has caught up with it.
    k = max(cfg.windows[1:] or cfg.windows, key=lambda w: (ctx.median_pct.get(w, 0.0) * ctx.direction, w))
    share = ctx.moving / ctx.liquid if ctx.liquid else 0.0
    med = ctx.median_pct.get(k, 0.0)
    move = abs(med) if med * ctx.direction > 0 else 0.0
    severity = (
        "critical" if move >= 10 else "high" if move >= 5 else "medium" if move >= cfg.market_medium_min_pct else "low"
    )
    metrics: dict[str, object] = {
        "window_seconds": k * cfg.bucket_seconds,
        "markets_moving": ctx.moving,
        "markets_liquid": ctx.liquid,
        "share_pct": round(share * 100, 1),
        "median_change_pct": round(med, 3),
        "price_change_pct": round(med, 3),
        "value_ratio": round(ctx.median_ratio, 2),
        "direction": "up" if ctx.direction > 0 else "down",
    }
    return Trigger("MARKET", "market_move", severity, ctx.direction, k, 0.0, metrics)
