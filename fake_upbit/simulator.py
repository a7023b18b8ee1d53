"""A deterministic Upbit KRW market simulator: catalog, per-fill DEFAULT ticker messages and labelled events.

Same seed, start and rate → the same catalog, messages and labels, so tests, the demo and the anomaly evaluation
can reproduce a run. Markets trade as Poisson order arrivals; a taker order fills one or several makers in the same
millisecond (same `trade_timestamp`, different prices/volumes). Injected events follow a schedule (see `EventPlan`):
pumps (many BID fills, value ×100+, price +10–40 % within about a minute — half of it in the first few seconds, as
real pumps jump — then a reversal), dumps, volume-only
spikes (value ×20+ with little price move), market-wide moves (most markets 2–5 % together within a minute) and slow
trends (+8 % over an hour — labelled `anomalous: false`, they must not alert).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fake_upbit.coins import EN_SYLLABLES, KNOWN_COINS, KO_SYLLABLES, SUFFIXES

EVENT_KINDS = ("pump", "dump", "volume_spike", "trend", "market_move")
# Default order of scheduled events after the first trend: the first pump comes early so a short demo shows it.
DEFAULT_SEQUENCE = ("pump", "volume_spike", "market_move", "dump", "pump", "volume_spike", "pump", "market_move")
CAUTION_FLAGS = (
    "PRICE_FLUCTUATIONS",
    "TRADING_VOLUME_SOARING",
    "DEPOSIT_AMOUNT_SOARING",
    "GLOBAL_PRICE_DIFFERENCES",
    "CONCENTRATION_OF_SMALL_ACCOUNTS",
)
# Markets that never get a single-coin event (a stablecoin pump is not realistic; BTC/ETH move the market).
NO_SINGLE_EVENTS = frozenset({"KRW-USDT", "KRW-BTC", "KRW-ETH"})
FILLS_PER_ORDER = 1.6  # average fills per taker order (most orders fill one maker; some sweep up to 13)


@dataclass(frozen=True)
class EventPlan:
    """When events happen: a slow trend at `trend_at_s`, then `sequence` kinds from `first_event_s` every
    `interval_s`. The defaults put a pump at 60 s, so a 6-minute demo contains one in its first 3 minutes."""

    first_event_s: float = 60.0
    interval_s: float = 150.0
    trend_at_s: float | None = 30.0
    sequence: tuple[str, ...] = DEFAULT_SEQUENCE


@dataclass
class SimEvent:
    event_id: str
    market: str  # KRW-XXX or MARKET
    kind: str
    onset_ms: int
    end_ms: int
    anomalous: bool
    params: dict[str, Any] = field(default_factory=dict)

    def label(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "market": self.market,
            "kind": self.kind,
            "onset_ms": self.onset_ms,
            "end_ms": self.end_ms,
            "anomalous": self.anomalous,
            "params": dict(self.params),
        }


@dataclass
class _Market:
    code: str
    korean_name: str
    english_name: str
    base_price: float
    daily_value: float
    warning: bool
    caution: dict[str, bool]
    intensity: float = 0.0  # taker orders per second in normal trading
    # Mutable trading state (reset at the start of every `messages` run).
    price: float = 0.0
    prev_close: float = 0.0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    acc_volume: float = 0.0
    acc_value: float = 0.0
    acc_volume_24h: float = 0.0
    acc_value_24h: float = 0.0
    acc_ask: float = 0.0
    acc_bid: float = 0.0
    high52: float = 0.0
    high52_date: str = ""
    low52: float = 0.0
    low52_date: str = ""
    day: str = ""  # current UTC trade date (yyyyMMdd)


def tick_size(price: float) -> float:
    """Upbit-like KRW tick size for a price."""
    for floor_price, tick in (
        (2_000_000, 1000.0),
        (1_000_000, 500.0),
        (500_000, 100.0),
        (100_000, 50.0),
        (10_000, 10.0),
        (1_000, 1.0),
        (100, 0.1),
        (10, 0.01),
        (1, 0.001),
        (0.1, 0.0001),
        (0.01, 0.00001),
        (0.001, 0.000001),
    ):
        if price >= floor_price:
            return tick
    return 0.0000001


def round_price(price: float) -> float:
    tick = tick_size(price)
    decimals = max(0, -math.floor(math.log10(tick)))
    return round(round(price / tick) * tick, decimals) or tick


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _utc_date(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


class MarketSimulator:
    """Deterministic simulator of `markets` KRW markets producing about `rate` ticker messages per second."""

    def __init__(
        self,
        markets: int = 160,
        seed: int = 1,
        start_ms: int | None = None,
        rate: float = 100.0,
        events: bool = True,
        *,
        plan: EventPlan | None = None,
    ) -> None:
        if markets < 1:
            raise ValueError("markets must be at least 1")
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.n_markets = markets
        self.seed = seed
        self.start_ms = int(start_ms if start_ms is not None else time.time() * 1000)
        self.rate = float(rate)
        self.events_enabled = events
        self.plan = plan or EventPlan()
        self._markets = self._build_markets()
        self._events: list[SimEvent] = []
        self._generated_s: float = 0.0

    # --- catalog ----------------------------------------------------------------------------------
    def _build_markets(self) -> list[_Market]:
        rng = random.Random(f"catalog-{self.seed}")
        out: list[_Market] = []
        used: set[str] = set()
        for symbol, ko, en, price, value in KNOWN_COINS[: self.n_markets]:
            used.add(symbol)
            out.append(_Market(f"KRW-{symbol}", ko, en, price, value, False, {f: False for f in CAUTION_FLAGS}))
        while len(out) < self.n_markets:
            parts = rng.randint(2, 3)
            idx = [rng.randrange(len(EN_SYLLABLES)) for _ in range(parts)]
            suffix_ko, suffix_en = rng.choice(SUFFIXES)
            en = "".join(EN_SYLLABLES[i] for i in idx)
            en = en[0].upper() + en[1:].lower()
            symbol = "".join(c for c in en.upper() if c.isalpha())[:5]
            if len(symbol) < 2 or symbol in used:
                continue
            used.add(symbol)
            ko = "".join(KO_SYLLABLES[i] for i in idx) + suffix_ko
            price = round_price(10 ** rng.uniform(0.3, 5.0))
            value = 10 ** rng.uniform(8.3, 9.6)
            out.append(_Market(f"KRW-{symbol}", ko, en + suffix_en, price, value, False, {}))
        for market in out:
            market.caution = {flag: rng.random() < 0.02 for flag in CAUTION_FLAGS}
            market.warning = market.code not in NO_SINGLE_EVENTS and rng.random() < 0.04
        weights = [m.daily_value**0.6 for m in out]
        total = sum(weights)
        for market, weight in zip(out, weights, strict=True):
            market.intensity = self.rate / FILLS_PER_ORDER * weight / total
        return out

    def catalog(self) -> list[dict[str, Any]]:
        """The REST `/v1/market/all?is_details=true` answer for the simulated markets."""
        return [
            {
                "market": m.code,
                "korean_name": m.korean_name,
                "english_name": m.english_name,
                "market_event": {"warning": m.warning, "caution": dict(m.caution)},
            }
            for m in self._markets
        ]

    @property
    def codes(self) -> list[str]:
        return [m.code for m in self._markets]

    # --- events -----------------------------------------------------------------------------------
    def plan_events(self, duration_s: float) -> list[SimEvent]:
        """The injected events whose onset falls within `duration_s` of the start (deterministic by seed)."""
        if not self.events_enabled:
            return []
        rng = random.Random(f"events-{self.seed}")
        candidates = [m.code for m in self._markets if m.code not in NO_SINGLE_EVENTS] or [self._markets[0].code]
        events: list[SimEvent] = []
        busy_until: dict[str, int] = {}

        def pick(onset: int) -> str:
            free = [c for c in candidates if busy_until.get(c, 0) < onset] or candidates
            return rng.choice(free)

        schedule: list[tuple[float, str]] = []
        if self.plan.trend_at_s is not None:
            schedule.append((self.plan.trend_at_s, "trend"))
        if self.plan.sequence:
            at, i = self.plan.first_event_s, 0
            while at < duration_s:
                schedule.append((at, self.plan.sequence[i % len(self.plan.sequence)]))
                at += self.plan.interval_s
                i += 1
        for n, (at_s, kind) in enumerate(sorted(schedule)):
            if at_s >= duration_s:
                continue
            onset = self.start_ms + int(at_s * 1000)
            params: dict[str, Any]
            if kind == "pump":
                params = {
                    "gain": round(rng.uniform(0.10, 0.40), 4),
                    "pump_s": rng.randint(40, 60),
                    "reverse_s": rng.randint(120, 240),
                    "retrace": round(rng.uniform(0.6, 0.9), 3),
                    "intensity_x": 25,
                    "size_x": 5,
                }
                length = params["pump_s"] + params["reverse_s"]
            elif kind == "dump":
                params = {
                    "drop": round(rng.uniform(0.12, 0.30), 4),
                    "dump_s": rng.randint(40, 60),
                    "recover_s": rng.randint(120, 240),
                    "retrace": round(rng.uniform(0.3, 0.6), 3),
                    "intensity_x": 15,
                    "size_x": 4,
                }
                length = params["dump_s"] + params["recover_s"]
            elif kind == "volume_spike":
                params = {"duration_s": rng.randint(60, 120), "intensity_x": 12, "size_x": 3}
                length = params["duration_s"]
            elif kind == "trend":
                params = {"gain": 0.08, "duration_s": 3600}
                length = 3600
            elif kind == "market_move":
                params = {
                    "direction": rng.choice((1, -1)),
                    "min_move": 0.02,
                    "max_move": 0.05,
                    "share": 0.85,
                    "duration_s": 60,
                    "intensity_x": 3,
                }
                length = 60
            else:
                raise ValueError(f"unknown event kind {kind!r}; expected one of {EVENT_KINDS}")
            market = "MARKET" if kind == "market_move" else pick(onset)
            end = onset + int(length * 1000)
            if market != "MARKET":
                busy_until[market] = end
            events.append(
                SimEvent(f"sim-{self.seed}-{n:03d}-{kind}", market, kind, onset, end, kind != "trend", params)
            )
        return events

    @property
    def events(self) -> list[SimEvent]:
        """Events planned by the current (or last) `messages` run."""
        return list(self._events)

    def labels(self) -> list[dict[str, Any]]:
        """Labels (contract format) of the events injected by the last `messages` run."""
        return [e.label() for e in self._events if e.onset_ms < self.start_ms + self._generated_s * 1000]

    # --- trading ----------------------------------------------------------------------------------
    def _reset(self) -> None:
        rng = random.Random(f"state-{self.seed}")
        start = _utc_date(self.start_ms)
        day_fraction = (start.hour * 3600 + start.minute * 60 + start.second) / 86400
        for m in self._markets:
            m.price = round_price(m.base_price * math.exp(rng.gauss(0, 0.02)))
            m.prev_close = round_price(m.price * math.exp(rng.gauss(0, 0.03)))
            m.open = m.prev_close
            m.high = round_price(max(m.open, m.price) * (1 + abs(rng.gauss(0, 0.01))))
            m.low = round_price(min(m.open, m.price) * (1 - abs(rng.gauss(0, 0.01))))
            daily_volume = m.daily_value / m.price
            m.acc_volume = round(daily_volume * max(day_fraction, 0.01), 8)
            m.acc_value = m.acc_volume * m.price
            m.acc_volume_24h = round(daily_volume, 8)
            m.acc_value_24h = m.daily_value
            share = rng.uniform(0.4, 0.6)
            m.acc_bid = round(m.acc_volume * share, 8)
            m.acc_ask = round(m.acc_volume - m.acc_bid, 8)
            m.high52 = round_price(max(m.high, m.price * rng.uniform(1.2, 3.5)))
            m.low52 = round_price(min(m.low, m.price * rng.uniform(0.25, 0.8)))
            m.high52_date = (start - dt.timedelta(days=rng.randint(5, 360))).strftime("%Y-%m-%d")
            m.low52_date = (start - dt.timedelta(days=rng.randint(5, 360))).strftime("%Y-%m-%d")
            m.day = start.strftime("%Y%m%d")

    def _effects(self, t_ms: int, active: list[SimEvent]) -> dict[str, tuple[float, float, float, float]]:
        """Per market: (log-price drift this second, intensity ×, fill size ×, probability a taker buys)."""
        out: dict[str, tuple[float, float, float, float]] = {}
        for ev in active:
            p = ev.params
            elapsed = (t_ms - ev.onset_ms) / 1000
            if ev.kind == "pump":
                up = math.log1p(p["gain"])
                # Real pumps jump first: on the 28 real tuning tapes (bench/data/PUMP_TAPES.md) the price was 5 %
                # above its pre-onset level a median 1.3 s (p90 9.8 s) after the first post-onset trade, and peaked
                # (+25 % median) a median 32 s in. So half of the gain comes in the first pump_s/12 seconds (3–5 s),
                # the rest over the remaining seconds. (Derived from the plan's own numbers: no new random draws,
                # so every other event of a seed stays as it was.)
                jump_s = max(2, p["pump_s"] // 12)
                if elapsed < jump_s:
                    out[ev.market] = (up * 0.5 / jump_s, p["intensity_x"], p["size_x"], 0.9)
                elif elapsed < p["pump_s"]:
                    out[ev.market] = (up * 0.5 / (p["pump_s"] - jump_s), p["intensity_x"], p["size_x"], 0.9)
                else:
                    back = up * p["retrace"] / p["reverse_s"]
                    out[ev.market] = (-back, p["intensity_x"] / 4, p["size_x"] / 2, 0.25)
            elif ev.kind == "dump":
                down = math.log1p(-p["drop"])
                if elapsed < p["dump_s"]:
                    out[ev.market] = (down / p["dump_s"], p["intensity_x"], p["size_x"], 0.1)
                else:
                    back = -down * p["retrace"] / p["recover_s"]
                    out[ev.market] = (back, p["intensity_x"] / 4, p["size_x"] / 2, 0.7)
            elif ev.kind == "volume_spike":
                out[ev.market] = (0.0, p["intensity_x"], p["size_x"], 0.5)
            elif ev.kind == "trend":
                out[ev.market] = (math.log1p(p["gain"]) / p["duration_s"], 1.0, 1.0, 0.55)
            elif ev.kind == "market_move":
                rng = random.Random(f"{ev.event_id}")
                for m in self._markets:
                    if rng.random() < p["share"]:
                        move = rng.uniform(p["min_move"], p["max_move"]) * p["direction"]
                        bid = 0.75 if move > 0 else 0.25
                        out.setdefault(m.code, (math.log1p(move) / p["duration_s"], p["intensity_x"], 1.5, bid))
        return out

    def messages(self, duration_s: float) -> Iterator[dict[str, Any]]:
        """DEFAULT-format ticker messages for `duration_s` seconds of event time, in event-time order."""
        self._reset()
        self._events = self.plan_events(duration_s)
        self._generated_s = duration_s
        rng = random.Random(f"trades-{self.seed}")
        seconds = math.ceil(duration_s)
        burst_until = -1
        for second in range(seconds):
            t_ms = self.start_ms + second * 1000
            active = [e for e in self._events if e.onset_ms <= t_ms < e.end_ms]
            effects = self._effects(t_ms, active) if active else {}
            if second > burst_until and rng.random() < 0.01:
                burst_until = second + rng.randint(3, 8)
            burst = 3.0 if second <= burst_until else 1.0
            batch: list[tuple[int, int, dict[str, Any]]] = []
            for index, m in enumerate(self._markets):
                drift, intensity_x, size_x, bid_p = effects.get(m.code, (0.0, 1.0, 1.0, 0.5))
                m.price = round_price(m.price * math.exp(drift + rng.gauss(0, 0.0006)))
                orders = _poisson(rng, m.intensity * intensity_x * burst)
                # Orders are generated in time order, so cumulative fields grow with event time.
                for ms in sorted(t_ms + rng.randrange(1000) for _ in range(orders)):
                    if ms >= self.start_ms + duration_s * 1000:
                        continue
                    fills = 1 if rng.random() < 0.72 else min(13, 2 + int(rng.expovariate(0.45)))
                    side = "BID" if rng.random() < bid_p else "ASK"
                    avg_value = m.daily_value / (m.intensity * 86400 * FILLS_PER_ORDER)
                    for k in range(fills):
                        msg = self._fill(m, ms, side, k, avg_value * size_x, rng)
                        batch.append((ms, index, msg))
            batch.sort(key=lambda item: (item[0], item[1]))
            for _, _, msg in batch:
                yield msg

    def _fill(self, m: _Market, ms: int, side: str, k: int, avg_value: float, rng: random.Random) -> dict[str, Any]:
        tick = tick_size(m.price)
        # A taker sweeps the book: each further fill of the same order is one tick worse for the taker.
        price = round_price(m.price + (k * tick if side == "BID" else -k * tick))
        value = avg_value * math.exp(rng.gauss(-0.72, 1.2))
        volume = round(max(value / price, 1e-8), 8)
        when = _utc_date(ms)
        trade_date = when.strftime("%Y%m%d")
        if trade_date != m.day:
            # New UTC day: yesterday's close becomes prev_closing_price and the day's accumulators restart.
            m.prev_close, m.open, m.high, m.low = m.price, price, price, price
            m.acc_volume = m.acc_value = m.acc_ask = m.acc_bid = 0.0
            m.day = trade_date
        m.high = max(m.high, price)
        m.low = min(m.low, price)
        m.acc_volume += volume
        m.acc_value += volume * price
        m.acc_volume_24h += volume
        m.acc_value_24h += volume * price
        if side == "BID":
            m.acc_bid += volume
        else:
            m.acc_ask += volume
        day = when.strftime("%Y-%m-%d")
        if price > m.high52:
            m.high52, m.high52_date = price, day
        if price < m.low52:
            m.low52, m.low52_date = price, day
        diff = price - m.prev_close
        decimals = max(0, -math.floor(math.log10(tick_size(price)))) + 1
        change_rate = round(abs(diff) / m.prev_close, 10)
        return {
            "type": "ticker",
            "code": m.code,
            "opening_price": m.open,
            "high_price": m.high,
            "low_price": m.low,
            "trade_price": price,
            "prev_closing_price": m.prev_close,
            "change": "RISE" if diff > 0 else ("FALL" if diff < 0 else "EVEN"),
            "change_price": round(abs(diff), decimals),
            "signed_change_price": round(diff, decimals),
            "change_rate": change_rate,
            "signed_change_rate": change_rate if diff >= 0 else -change_rate,
            "trade_volume": volume,
            "acc_trade_volume": round(m.acc_volume, 8),
            "acc_trade_volume_24h": round(m.acc_volume_24h, 8),
            "acc_trade_price": round(m.acc_value, 8),
            "acc_trade_price_24h": round(m.acc_value_24h, 8),
            "trade_date": trade_date,
            "trade_time": when.strftime("%H%M%S"),
            "trade_timestamp": ms,
            "ask_bid": side,
            "acc_ask_volume": round(m.acc_ask, 8),
            "acc_bid_volume": round(m.acc_bid, 8),
            "highest_52_week_price": m.high52,
            "highest_52_week_date": m.high52_date,
            "lowest_52_week_price": m.low52,
            "lowest_52_week_date": m.low52_date,
            "market_state": "ACTIVE",
            "is_trading_suspended": False,
            "delisting_date": None,
            "market_warning": "CAUTION" if m.warning else "NONE",
            "timestamp": ms + rng.randint(3, 60),
            "stream_type": "REALTIME",
        }
