"""The REST minute-candle side of the local Upbit server: candle book, synthetic history, pagination, rate limits.

Upbit's `GET /v1/candles/minutes/{unit}` as documented: `market`, `to` (exclusive end, ISO 8601, UTC unless an
offset is given), `count` ≤ 200; newest first; a minute without fills has no candle; every answer carries
`Remaining-Req: group=candles; min=…; sec=N`; over the per-second limit → 429, and a client that keeps sending
through 429s gets 418 with a block time that grows with repeats. Candles come from two places: the minutes the
feed has sent (aggregated from the very messages the WebSocket carries, so a healed gap can be compared exactly) and
a source's history before the feed (the simulator's deterministic synthetic past, or a replay file's own minutes).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

MINUTE_MS = 60_000
UNITS = frozenset({1, 3, 5, 10, 15, 30, 60, 240})
MAX_COUNT = 200
KST = dt.timezone(dt.timedelta(hours=9))

# One minute of one market: [open, high, low, close, volume, value, last trade timestamp ms].
Candle = list[float]


class CandleBook:
    """Minute candles built from DEFAULT ticker messages in event-time order (thread-safe: the feed writes from the
    server loop while REST requests read)."""

    def __init__(self) -> None:
        self._book: dict[str, dict[int, Candle]] = {}
        self._lock = threading.Lock()

    def add(self, message: Mapping[str, Any]) -> None:
        code, ts = message.get("code"), message.get("trade_timestamp")
        price, volume = message.get("trade_price"), message.get("trade_volume")
        if not isinstance(code, str) or not isinstance(ts, int):
            return
        if not isinstance(price, int | float) or not isinstance(volume, int | float) or price <= 0:
            return
        minute = ts - ts % MINUTE_MS
        with self._lock:
            minutes = self._book.setdefault(code, {})
            c = minutes.get(minute)
            if c is None:
                minutes[minute] = [price, price, price, price, volume, price * volume, ts]
                return
            c[1] = max(c[1], price)
            c[2] = min(c[2], price)
            if ts >= c[6]:
                c[3] = price
                c[6] = ts
            c[4] += volume
            c[5] += price * volume

    def minutes(self, code: str) -> dict[int, Candle]:
        with self._lock:
            return {m: list(c) for m, c in self._book.get(code, {}).items()}

    def codes(self) -> list[str]:
        with self._lock:
            return sorted(self._book)


@dataclass(frozen=True)
class HistorySpec:
    """What the synthetic past of one simulated market starts from (captured before the feed runs)."""

    code: str
    price: float  # the simulator's first price: the history walks backwards from it
    daily_value: float
    orders_per_second: float
    round_price: Callable[[float], float]


class SyntheticHistory:
    """Deterministic minute candles for `hours` before `end_ms` (minute-aligned), walking backwards from each
    market's starting price so the past joins the live feed without a jump. One market's path (1,440 minutes a day)
    is generated on first use and cached; the same seed always gives the same candles."""

    SIGMA_1M = 0.0006 * math.sqrt(60)  # the simulator's per-second noise over a minute

    def __init__(self, specs: list[HistorySpec], *, end_ms: int, hours: float, seed: int) -> None:
        self.specs = {s.code: s for s in specs}
        self.end_ms = end_ms - end_ms % MINUTE_MS
        self.start_ms = self.end_ms - int(hours * 3600) // 60 * MINUTE_MS
        self.seed = seed
        self._cache: dict[str, dict[int, Candle]] = {}
        self._lock = threading.Lock()

    def minutes(self, code: str) -> dict[int, Candle]:
        with self._lock:
            got = self._cache.get(code)
            if got is None:
                got = self._cache[code] = self._generate(code)
            return got

    def _generate(self, code: str) -> dict[int, Candle]:
        spec = self.specs.get(code)
        if spec is None:
            return {}
        rng = random.Random(f"history-{self.seed}-{code}")
        lam = spec.orders_per_second * 60
        per_order = spec.daily_value / max(spec.orders_per_second * 86_400, 1e-9)
        out: dict[int, Candle] = {}
        close = spec.price
        minute = self.end_ms - MINUTE_MS
        while minute >= self.start_ms:
            open_ = spec.round_price(close * math.exp(-rng.gauss(0, self.SIGMA_1M)))
            orders = _poisson(rng, lam)
            if orders > 0:
                high = spec.round_price(max(open_, close) * (1 + abs(rng.gauss(0, self.SIGMA_1M / 3))))
                low = spec.round_price(min(open_, close) * (1 - abs(rng.gauss(0, self.SIGMA_1M / 3))))
                value = orders * per_order * math.exp(rng.gauss(-0.045, 0.3))
                volume = round(value / ((open_ + close) / 2), 8)
                last = minute + rng.randrange(MINUTE_MS)
                out[minute] = [open_, max(high, open_, close), min(low, open_, close), close, volume, value, last]
            close = open_
            minute -= MINUTE_MS
        return out


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@dataclass
class RestLimits:
    """Upbit's quotation REST limits (candles group) and a 429-storm switch for tests."""

    per_second: int = 10  # Upbit: 10 requests/s per IP for the candles group
    storm_requests: int = 0  # answer this many candle requests with 429 regardless of rate (then behave)
    ban_after_429s: int = 30  # 429s in a row before the server answers 418 (a client ignoring 429s)
    ban_seconds: float = 2.0  # first 418 block; doubles with each further ban
    # Upbit's `min` field is deprecated and fixed; echoed for clients that still parse it.
    min_field: int = 1800


@dataclass
class RestStats:
    requests: int = 0
    ok: int = 0
    too_many: int = 0  # 429
    banned: int = 0  # 418
    bad: int = 0  # 400/404
    origin_headers: int = 0
    per_second_max: int = 0


@dataclass
class _Window:
    second: int = -1
    used: int = 0
    rejections_in_a_row: int = 0
    banned_until: float = 0.0
    bans: int = 0


class RestCandleError(ValueError):
    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.name = name


def parse_to(value: str | None, now_ms: int) -> int:
    """Upbit's `to`: ISO 8601 (`2024-01-01T00:00:00`, `...Z`, `...+09:00`, space separator), UTC when no offset."""
    if not value:
        return now_ms
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise RestCandleError(400, "invalid_parameter", f"to {value!r} is not ISO 8601") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def candle_json(code: str, minute_ms: int, c: Candle, unit: int) -> dict[str, Any]:
    start = dt.datetime.fromtimestamp(minute_ms / 1000, tz=dt.UTC)
    return {
        "market": code,
        "candle_date_time_utc": start.strftime("%Y-%m-%dT%H:%M:%S"),
        "candle_date_time_kst": start.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S"),
        "opening_price": c[0],
        "high_price": c[1],
        "low_price": c[2],
        "trade_price": c[3],
        "timestamp": int(c[6]),
        "candle_acc_trade_price": c[5],
        "candle_acc_trade_volume": c[4],
        "unit": unit,
    }


def _merge(minutes: dict[int, Candle], unit: int) -> dict[int, Candle]:
    """1-minute candles → `unit`-minute candles (UTC-aligned), the way Upbit buckets them."""
    if unit == 1:
        return minutes
    step = unit * MINUTE_MS
    out: dict[int, Candle] = {}
    for m in sorted(minutes):
        c = minutes[m]
        b = m - m % step
        got = out.get(b)
        if got is None:
            out[b] = list(c)
        else:
            got[1], got[2], got[3] = max(got[1], c[1]), min(got[2], c[2]), c[3]
            got[4] += c[4]
            got[5] += c[5]
            got[6] = max(got[6], c[6])
    return out


@dataclass
class CandleService:
    """Answers `/v1/candles/minutes/{unit}` from the feed's book and the source's history, with Upbit's limits."""

    book: CandleBook
    history: Callable[[str], dict[int, Candle]] | None = None
    known: Callable[[], set[str]] = field(default=lambda: set())
    limits: RestLimits = field(default_factory=RestLimits)
    stats: RestStats = field(default_factory=RestStats)
    clock: Callable[[], float] = time.monotonic
    _window: _Window = field(default_factory=_Window)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remaining_header(self, sec: int) -> str:
        return f"group=candles; min={self.limits.min_field}; sec={max(0, sec)}"

    def admit(self) -> tuple[int, str, dict[str, str]]:
        """Rate-limit bookkeeping for one request → (status, error name, extra headers); status 200 = go ahead."""
        with self._lock:
            now = self.clock()
            w = self._window
            self.stats.requests += 1
            if now < w.banned_until:
                self.stats.banned += 1
                return 418, "too_many_requests_blocked", {"Retry-After": f"{math.ceil(w.banned_until - now)}"}
            second = int(now)
            if second != w.second:
                w.second, w.used = second, 0
            w.used += 1
            self.stats.per_second_max = max(self.stats.per_second_max, w.used)
            remaining = self.limits.per_second - w.used
            storm = self.limits.storm_requests > 0
            if storm or remaining < 0:
                if storm:
                    self.limits.storm_requests -= 1
                w.rejections_in_a_row += 1
                if w.rejections_in_a_row > self.limits.ban_after_429s:
                    block = self.limits.ban_seconds * (2**w.bans)
                    w.bans += 1
                    w.banned_until = now + block
                    w.rejections_in_a_row = 0
                    self.stats.banned += 1
                    return 418, "too_many_requests_blocked", {"Retry-After": f"{math.ceil(block)}"}
                self.stats.too_many += 1
                return 429, "too_many_requests", {"Remaining-Req": self.remaining_header(0)}
            w.rejections_in_a_row = 0
            return 200, "", {"Remaining-Req": self.remaining_header(remaining)}

    def candles(self, unit: int, query: str, now_ms: int | None = None) -> list[dict[str, Any]]:
        """The candle list for one request, or RestCandleError (400 for bad parameters)."""
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if unit not in UNITS:
            raise RestCandleError(400, "invalid_parameter", f"unit must be one of {sorted(UNITS)}")
        code = params.get("market", "")
        if not code:
            raise RestCandleError(400, "invalid_parameter", "market is required")
        known = self.known()
        if known and code not in known:
            raise RestCandleError(404, "not_found_market", f"Code not found: {code}")
        try:
            count = int(params.get("count", "1"))
        except ValueError as exc:
            raise RestCandleError(400, "invalid_parameter", "count must be an integer") from exc
        if not 1 <= count <= MAX_COUNT:
            raise RestCandleError(400, "invalid_parameter", f"count must be between 1 and {MAX_COUNT}")
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        to_ms = parse_to(params.get("to"), now)
        minutes = dict(self.history(code)) if self.history else {}
        minutes.update(self.book.minutes(code))
        merged = _merge(minutes, unit)
        picked = sorted((m for m in merged if m < to_ms), reverse=True)[:count]
        return [candle_json(code, m, merged[m], unit) for m in picked]

    def handle(self, path: str, query: str, has_origin: bool) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request on /v1/candles/minutes/{unit} → (status, headers, body)."""
        if has_origin:
            self.stats.origin_headers += 1
        status, name, headers = self.admit()
        if status != 200:
            message = "Too many API requests." if status == 429 else "Blocked: too many requests after 429s."
            return status, headers, orjson.dumps({"error": {"name": name, "message": message}})
        try:
            unit = int(path.rsplit("/", 1)[-1])
            body = orjson.dumps(self.candles(unit, query))
        except ValueError as exc:
            status = exc.status if isinstance(exc, RestCandleError) else 400
            ename = exc.name if isinstance(exc, RestCandleError) else "invalid_parameter"
            self.stats.bad += 1
            return status, headers, orjson.dumps({"error": {"name": ename, "message": str(exc)}})
        self.stats.ok += 1
        return 200, headers, body
