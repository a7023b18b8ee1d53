"""Message sources for the replay server: the market simulator, or a recorded JSON Lines file (with --loop)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from fake_upbit.candles import Candle, CandleBook, HistorySpec, SyntheticHistory
from fake_upbit.coins import KNOWN_COINS
from fake_upbit.simulator import EventPlan, MarketSimulator, SimEvent, round_price
from ingest.ticker import CODE_RE, to_default

log = logging.getLogger(__name__)

_NAMES = {f"KRW-{symbol}": (ko, en) for symbol, ko, en, _price, _value in KNOWN_COINS}


class SimulatedSource:
    """The simulator as an endless (or `duration_s`-long) stream in event time, with `history_hours` of REST
    minute candles before its start (synthetic, deterministic by seed; 0 = none)."""

    def __init__(
        self,
        *,
        markets: int = 160,
        rate: float = 100.0,
        seed: int = 1,
        start_ms: int | None = None,
        events: bool = True,
        plan: EventPlan | None = None,
        duration_s: float = 7 * 86_400,
        history_hours: float = 26.0,
    ) -> None:
        self.simulator = MarketSimulator(
            markets=markets, seed=seed, start_ms=start_ms, rate=rate, events=events, plan=plan
        )
        self.duration_s = duration_s
        self._history: SyntheticHistory | None = None
        if history_hours > 0:
            sim = self.simulator
            sim._reset()  # the starting prices the feed will use (messages() resets again before it runs)
            specs = [HistorySpec(m.code, m.price, m.daily_value, m.intensity, round_price) for m in sim._markets]
            self._history = SyntheticHistory(specs, end_ms=sim.start_ms, hours=history_hours, seed=seed)

    def rest_history(self, code: str) -> dict[int, Candle]:
        """Minute candles of `code` before the feed starts (what Upbit REST would have for the past)."""
        return self._history.minutes(code) if self._history else {}

    def catalog(self) -> list[dict[str, Any]]:
        return self.simulator.catalog()

    def messages(self) -> Iterator[dict[str, Any]]:
        return self.simulator.messages(self.duration_s)

    def events(self) -> list[SimEvent]:
        return self.simulator.events


class FileSource:
    """Recorded DEFAULT (or SIMPLE) ticker messages, one JSON object per line; `loop` shifts each pass in time so
    a looped file keeps producing new, later messages instead of repeating identical ones."""

    def __init__(self, path: Path, *, loop: bool = False) -> None:
        self.path = path
        self.loop = loop
        if not path.exists():
            raise FileNotFoundError(f"replay file {path} does not exist")
        self._codes: list[str] = []
        first = last = None
        with path.open("rb") as fh:
            codes: set[str] = set()
            for line in fh:
                msg = _parse(line)
                if msg is None:
                    continue
                codes.add(str(msg.get("code")))
                ts = msg.get("trade_timestamp")
                if isinstance(ts, int):
                    first = ts if first is None else min(first, ts)
                    last = ts if last is None else max(last, ts)
        self._codes = sorted(c for c in codes if CODE_RE.match(c))
        self.span_ms = (last - first + 1000) if first is not None and last is not None else 1000
        self._book: CandleBook | None = None

    def rest_history(self, code: str) -> dict[int, Candle]:
        """The file's own minute candles (one pass, built on first use): REST answers about recorded minutes."""
        if self._book is None:
            book = CandleBook()
            with self.path.open("rb") as fh:
                for line in fh:
                    msg = _parse(line)
                    if msg is not None:
                        book.add(msg)
            self._book = book
        return self._book.minutes(code)

    def catalog(self) -> list[dict[str, Any]]:
        out = []
        for code in self._codes:
            ko, en = _NAMES.get(code, (code.split("-", 1)[1], code.split("-", 1)[1]))
            out.append(
                {
                    "market": code,
                    "korean_name": ko,
                    "english_name": en,
                    "market_event": {"warning": False, "caution": {}},
                }
            )
        return out

    def messages(self) -> Iterator[dict[str, Any]]:
        shift = 0
        while True:
            with self.path.open("rb") as fh:
                for line in fh:
                    msg = _parse(line)
                    if msg is None:
                        continue
                    yield _shifted(msg, shift) if shift else msg
            if not self.loop:
                return
            shift += self.span_ms

    def events(self) -> list[SimEvent]:
        return []


def _parse(line: bytes) -> dict[str, Any] | None:
    line = line.strip()
    if not line:
        return None
    try:
        msg = orjson.loads(line)
    except orjson.JSONDecodeError:
        log.warning("replay line skipped reason=not JSON head=%r", line[:80])
        return None
    return to_default(msg) if isinstance(msg, dict) else None


def _shifted(msg: dict[str, Any], shift_ms: int) -> dict[str, Any]:
    out = dict(msg)
    for key in ("trade_timestamp", "timestamp"):
        if isinstance(out.get(key), int):
            out[key] += shift_ms
    if isinstance(out.get("trade_timestamp"), int):
        when = dt.datetime.fromtimestamp(out["trade_timestamp"] / 1000, tz=dt.UTC)
        out["trade_date"], out["trade_time"] = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    return out
