"""Real labelled pump tapes (Binance SYM/BTC trades around Telegram-announced pumps) as Upbit ticker messages.

The committed derivative `bench/data/pump_tapes.xz` (scripts/convert_pump_tapes.py, attribution and licence in
bench/data/PUMP_TAPES.md) holds 20 h of trades before each labelled onset and 5 min after. `load_tapes()` decodes
it; `tape_messages()` turns one tape into Upbit ticker dicts as a KRW market (BTC prices × a fixed KRW/BTC rate), a
BTC market (prices as traded) or a USDT market (× a fixed USDT/BTC rate), optionally shifted in event time — the
benchmark and the tests generate their input from it instead of committing large files.
"""

from __future__ import annotations

import json
import lzma
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "pump_tapes.xz"
# Fixed conversion rates (about the 2021 levels): the detector's money thresholds are in KRW.
KRW_PER_BTC = 60_000_000.0
USDT_PER_BTC = 45_000.0
PUMP_LABEL_MS = 5 * 60 * 1000  # a labelled pump lasts (for scoring) 5 minutes from the announced minute


@dataclass(frozen=True)
class Tape:
    """One market's trades around one labelled pump: parallel lists, times in ms, prices in satoshi."""

    symbol: str
    onset_ms: int
    start_ms: int
    split: str  # tuning / heldout
    source_file: str
    times: tuple[int, ...]
    buys: tuple[bool, ...]
    prices_sat: tuple[int, ...]
    values_sat: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"{self.symbol}@{datetime.fromtimestamp(self.onset_ms / 1000, tz=UTC):%Y-%m-%dT%H:%M}"

    @property
    def end_ms(self) -> int:
        return self.times[-1] + 1 if self.times else self.start_ms

    def code(self, quote: str) -> str:
        return f"{quote}-{self.symbol}"


def _varints(buf: bytes) -> Iterator[int]:
    x = shift = 0
    for b in buf:
        x |= (b & 0x7F) << shift
        if b & 0x80:
            shift += 7
        else:
            yield x
            x = shift = 0


@cache
def load_tapes(path: Path = DATA) -> tuple[Tape, ...]:
    """Every tape in the derivative file, in file order (sorted by source file name)."""
    raw = lzma.decompress(path.read_bytes())
    (hlen,) = struct.unpack(">I", raw[:4])
    header = json.loads(raw[4 : 4 + hlen])
    pos = 4 + hlen
    cols: list[bytes] = []
    for _ in range(4):
        (n,) = struct.unpack(">I", raw[pos : pos + 4])
        cols.append(raw[pos + 4 : pos + 4 + n])
        pos += 4 + n
    dts, prices, codes = _varints(cols[0]), _varints(cols[2]), _varints(cols[3])
    scale = float(header["value_log_scale"])
    sides = cols[1]
    out: list[Tape] = []
    i = 0
    for meta in header["tapes"]:
        n = int(meta["n"])
        t, p = int(meta["start_ms"]), 0
        times: list[int] = []
        px: list[int] = []
        vals: list[float] = []
        for _ in range(n):
            t += next(dts)
            z = next(prices)
            p += (z >> 1) ^ -(z & 1)
            times.append(t)
            px.append(p)
            vals.append(math.exp(next(codes) / scale))
        out.append(
            Tape(
                str(meta["symbol"]),
                int(meta["onset_ms"]),
                int(meta["start_ms"]),
                str(meta["split"]),
                str(meta["source_file"]),
                tuple(times),
                tuple(bool(b) for b in sides[i : i + n]),
                tuple(px),
                tuple(vals),
            )
        )
        i += n
    return tuple(out)


def tapes(split: str | None = None) -> list[Tape]:
    """Tapes of one split (`tuning` / `heldout`) or all."""
    return [t for t in load_tapes() if split is None or t.split == split]


def quote_rate(quote: str) -> float:
    """Price of 1 BTC in the quote currency (the tapes are BTC-quoted)."""
    return {"KRW": KRW_PER_BTC, "BTC": 1.0, "USDT": USDT_PER_BTC}[quote]


def tape_messages(
    tape: Tape, *, quote: str = "KRW", shift_ms: int = 0, code: str | None = None
) -> Iterator[dict[str, Any]]:
    """Upbit ticker messages for one tape (one per trade), with the day accumulators Upbit sends."""
    rate = quote_rate(quote) * 1e-8
    code = code or tape.code(quote)
    acc_volume = acc_value = acc_bid = acc_ask = 0.0
    day = ""
    prev_close = open_ = high = low = 0.0
    for t, buy, sat, value_sat in zip(tape.times, tape.buys, tape.prices_sat, tape.values_sat, strict=True):
        if sat <= 0:
            continue
        ms = t + shift_ms
        price = sat * rate
        volume = value_sat / sat
        when = datetime.fromtimestamp(ms / 1000, tz=UTC)
        trade_date = when.strftime("%Y%m%d")
        if trade_date != day:
            prev_close = prev_close or price
            open_ = high = low = price
            acc_volume = acc_value = acc_bid = acc_ask = 0.0
            day = trade_date
        high, low = max(high, price), min(low, price)
        acc_volume += volume
        acc_value += volume * price
        if buy:
            acc_bid += volume
        else:
            acc_ask += volume
        diff = price - prev_close
        rate_abs = abs(diff) / prev_close if prev_close else 0.0
        yield {
            "type": "ticker",
            "code": code,
            "opening_price": open_,
            "high_price": high,
            "low_price": low,
            "trade_price": price,
            "prev_closing_price": prev_close,
            "change": "RISE" if diff > 0 else ("FALL" if diff < 0 else "EVEN"),
            "change_price": abs(diff),
            "signed_change_price": diff,
            "change_rate": rate_abs,
            "signed_change_rate": rate_abs if diff >= 0 else -rate_abs,
            "trade_volume": volume,
            "acc_trade_volume": acc_volume,
            "acc_trade_volume_24h": acc_volume,
            "acc_trade_price": acc_value,
            "acc_trade_price_24h": acc_value,
            "trade_date": trade_date,
            "trade_time": when.strftime("%H%M%S"),
            "trade_timestamp": ms,
            "ask_bid": "BID" if buy else "ASK",
            "acc_ask_volume": acc_ask,
            "acc_bid_volume": acc_bid,
            "market_state": "ACTIVE",
            "is_trading_suspended": False,
            "market_warning": "NONE",
            "timestamp": ms + 20,
            "stream_type": "REALTIME",
        }
        prev_close = prev_close if trade_date == day else price


def tape_label(tape: Tape, *, quote: str = "KRW", shift_ms: int = 0, code: str | None = None) -> dict[str, Any]:
    """The researchers' label as an evaluation label (anomaly.evaluate.score's format)."""
    onset = tape.onset_ms + shift_ms
    return {
        "event_id": tape.name,
        "market": code or tape.code(quote),
        "kind": "pump",
        "onset_ms": onset,
        "end_ms": onset + PUMP_LABEL_MS,
        "anomalous": True,
    }


def replay_tapes(
    selected: list[Tape],
    *,
    config: Any = None,
    shift_ms: int = 0,
    quote: str = "KRW",
    cooldown_seconds: int = 600,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    """Run the pure engine over each tape (buckets computed exactly as the scan's SQL does) → (anomalies, labels,
    market-seconds). Each tape is its own run: a market the detector has never seen starts cold, as in production."""
    from anomaly.detector import DetectorConfig
    from anomaly.evaluate import bucket_parts, run_engine

    cfg = config if config is not None else DetectorConfig()
    anomalies: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    seconds = 0.0
    for tape in selected:
        msgs = list(tape_messages(tape, quote=quote, shift_ms=shift_ms))
        anomalies += run_engine(
            bucket_parts(msgs, cfg), config=cfg, cooldown_seconds=cooldown_seconds, quotes_krw=_krw(quote), parts=True
        )
        labels.append(tape_label(tape, quote=quote, shift_ms=shift_ms))
        seconds += (tape.end_ms - tape.start_ms) / 1000
    return anomalies, labels, seconds


def _krw(quote: str) -> dict[str, float]:
    return {"KRW": 1.0, quote: quote_rate("KRW") / quote_rate(quote)}
