"""Regenerate bench/data/pump_tapes.xz from the public Binance trade tapes of labelled Telegram pumps.

Source: github.com/TimurPugoev/pump-and-dump-detection-marterthesis (T. Pugoev, master thesis "Cryptocurrency
Pump-and-Dump Schemes, Detecting, Modelling and Forecasting", 2023): `data/<SYM>_<YYYY-MM-DD HH.MM>.csv` holds every
Binance trade of SYM/BTC from ~48 h before to ~48 h after a pump announced on Telegram at that minute (UTC); the
label list is `мanually_collected_data/P&Ds.csv`. See bench/data/PUMP_TAPES.md for attribution and licence.

Usage: python scripts/convert_pump_tapes.py SRC_DIR [--out bench/data/pump_tapes.xz]
(SRC_DIR holds the tapes' CSV files, e.g. extracted with `git show HEAD:"data/<file>"` from a clone.)

What is kept (so the derivative stays under 1 MB): per tape the trades from 20 h before the labelled onset to 5 min
after it; times exact (ms), price exact (satoshi), side exact, traded value quantised to 1/16 of a natural-log step
(≈ 6 %). A tape is kept only if the labelled pump is visible in it — the best price within 5 minutes of the onset is
≥ 10 % above the last price before it — a rule on the price path alone, independent of the detector (the labels of
a few tapes name a minute at which nothing happened on Binance's SYM/BTC book). Split: pumps before 2021-04-01 are
the tuning set, later ones the held-out set (thresholds are never chosen on the held-out set).

Format (xz): 4-byte big-endian header length, a JSON header {"tapes": [{symbol, onset_ms, start_ms, n, split,
source_file}], "value_log_scale": 16}, then four column blocks over all tapes in header order, each prefixed by its
4-byte length: time deltas (LEB128 varints, ms, the first of a tape relative to its start_ms), sides (1 byte, 1 = buy),
price deltas in satoshi (zig-zag LEB128), value codes (LEB128 of round(ln(traded value in satoshi) * 16)).
"""

from __future__ import annotations

import argparse
import csv
import json
import lzma
import math
import re
import struct
import sys
from datetime import UTC, datetime
from pathlib import Path

BEFORE_MS = 20 * 3600 * 1000
AFTER_MS = 5 * 60 * 1000
VALUE_LOG_SCALE = 16
HOLDOUT_FROM = datetime(2021, 4, 1, tzinfo=UTC)
NAME = re.compile(r"^([A-Z0-9]+)_(\d{4}-\d{2}-\d{2} \d{2}\.\d{2})\.csv$")


def _varint(x: int, buf: bytearray) -> None:
    while True:
        b = x & 0x7F
        x >>= 7
        if x:
            buf.append(b | 0x80)
        else:
            buf.append(b)
            return


def _zigzag(x: int) -> int:
    return (x << 1) ^ (x >> 63)


def _put_value(code: int, buf: bytearray) -> None:
    _varint(max(0, code), buf)


def convert(src: Path) -> tuple[bytes, list[dict[str, object]]]:
    tapes: list[dict[str, object]] = []
    cols = [bytearray(), bytearray(), bytearray(), bytearray()]
    for path in sorted(src.glob("*.csv")):
        m = NAME.match(path.name)
        if not m:
            continue
        symbol = m.group(1)
        onset = datetime.strptime(m.group(2), "%Y-%m-%d %H.%M").replace(tzinfo=UTC)
        onset_ms = int(onset.timestamp() * 1000)
        start_ms = onset_ms - BEFORE_MS
        rows = []
        with path.open(newline="") as fh:
            for r in csv.DictReader(fh):
                t = int(r["timestamp"])
                if start_ms <= t < onset_ms + AFTER_MS:
                    sat = round(float(r["price"]) * 1e8)
                    value_sat = float(r["amount"]) * float(r["price"]) * 1e8
                    rows.append((t, r["side"] == "buy", sat, value_sat))
        before = [p for t, _, p, _ in rows if t < onset_ms]
        after = [p for t, _, p, _ in rows if onset_ms - 60_000 <= t < onset_ms + AFTER_MS]
        if not before or not after or max(after) < 1.10 * before[-1]:
            print(f"skip {path.name}: no pump visible at the labelled minute", file=sys.stderr)
            continue
        prev_t, prev_p = start_ms, 0
        for t, buy, sat, value_sat in rows:
            _varint(t - prev_t, cols[0])
            cols[1].append(1 if buy else 0)
            _varint(_zigzag(sat - prev_p), cols[2])
            _put_value(round(math.log(max(value_sat, 1.0)) * VALUE_LOG_SCALE), cols[3])
            prev_t, prev_p = t, sat
        tapes.append(
            {
                "symbol": symbol,
                "onset_ms": onset_ms,
                "start_ms": start_ms,
                "n": len(rows),
                "split": "heldout" if onset >= HOLDOUT_FROM else "tuning",
                "source_file": f"data/{path.name}",
            }
        )
    header = json.dumps({"tapes": tapes, "value_log_scale": VALUE_LOG_SCALE}, separators=(",", ":")).encode()
    body = struct.pack(">I", len(header)) + header
    for col in cols:
        body += struct.pack(">I", len(col)) + bytes(col)
    return lzma.compress(body, preset=9 | lzma.PRESET_EXTREME), tapes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "bench/data/pump_tapes.xz")
    args = parser.parse_args(argv)
    blob, tapes = convert(args.src)
    args.out.write_bytes(blob)
    n = sum(int(t["n"]) for t in tapes)  # type: ignore[call-overload]
    splits = {s: sum(1 for t in tapes if t["split"] == s) for s in ("tuning", "heldout")}
    print(f"wrote {args.out}: {len(tapes)} tapes ({splits}), {n:,} trades, {len(blob):,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
