"""The Upbit ticker message: validation, canonical bytes and message id (its 33 fields and SIMPLE↔DEFAULT keys
are the foundation's, `upbit_core.market_fields`, re-exported here).

Kafka message format (producer → consumer, documented in docs/ingest.md):
- key   = market code (UTF-8), so one market's messages stay in order on one partition;
- value = the validated message in DEFAULT format as canonical JSON (`canonical_bytes`: keys sorted, orjson);
- headers: `received_at` (ms since epoch, ASCII) when the producer read it off the socket, `source` (ws / file).
The message id is a 128-bit BLAKE2b hash of the canonical bytes, recomputed by the consumer (never trusted from a
header), so a re-delivered message gets the same id and is stored once, while distinct fills that share a
millisecond differ in volume/price/cumulative fields and get distinct ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import operator
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from upbit_core.market_fields import DEFAULT_KEYS as DEFAULT_KEYS
from upbit_core.market_fields import FIELDS as FIELDS
from upbit_core.market_fields import SIMPLE_KEYS as SIMPLE_KEYS
from upbit_core.market_fields import is_simple as is_simple
from upbit_core.market_fields import to_default as to_default
from upbit_core.market_fields import to_simple as to_simple

FLOAT_FIELDS: frozenset[str] = frozenset(
    {
        "opening_price",
        "high_price",
        "low_price",
        "trade_price",
        "prev_closing_price",
        "change_price",
        "signed_change_price",
        "change_rate",
        "signed_change_rate",
        "trade_volume",
        "acc_trade_volume",
        "acc_trade_volume_24h",
        "acc_trade_price",
        "acc_trade_price_24h",
        "acc_ask_volume",
        "acc_bid_volume",
        "highest_52_week_price",
        "lowest_52_week_price",
    }
)
# Values that can never be negative (prices, volumes, unsigned change).
NON_NEGATIVE_FIELDS: frozenset[str] = FLOAT_FIELDS - {"signed_change_price", "signed_change_rate"}
INT_FIELDS: frozenset[str] = frozenset({"trade_timestamp", "timestamp"})
DATE_FIELDS: frozenset[str] = frozenset({"highest_52_week_date", "lowest_52_week_date", "delisting_date"})
BOOL_FIELDS: frozenset[str] = frozenset({"is_trading_suspended"})
TEXT_FIELDS: frozenset[str] = frozenset(FIELDS) - FLOAT_FIELDS - INT_FIELDS - DATE_FIELDS - BOOL_FIELDS

CODE_RE = re.compile(r"^[A-Z0-9]{2,10}-[A-Z0-9]{1,20}$")
DATE_RE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
# Event times outside this window are impossible (Upbit opened in 2017; 2100 catches ms/µs mix-ups).
MIN_TIMESTAMP_MS = 1_483_228_800_000  # 2017-01-01
MAX_TIMESTAMP_MS = 4_102_444_800_000  # 2100-01-01
# An event time more than this far ahead of our clock is forged or broken (exchange clocks drift by ms, not days).
MAX_FUTURE_MS = 86_400_000
MAX_ABS_VALUE = 1e300  # larger doubles are garbage, not prices
MAX_TEXT_LEN = 200
# Unknown keys (fields Upbit may add) are kept in `extra`; a whole real message is ~1 KB, so more than this in
# unknown keys is junk padding (a 1 MiB string), not a new field.
MAX_EXTRA_BYTES = 4_096

# Columns written by the consumer, in COPY order (ticker_data's columns minus the ones with defaults).
COLUMNS: tuple[str, ...] = ("time", "msg_id", *FIELDS, "received_at", "extra")


class InvalidMessage(ValueError):
    """A message that cannot be stored; `reasons` lists every problem found."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def latest_plausible_ms() -> int:
    """The latest event time accepted now (our clock plus MAX_FUTURE_MS, never beyond MAX_TIMESTAMP_MS)."""
    return min(int(time.time() * 1000) + MAX_FUTURE_MS, MAX_TIMESTAMP_MS)


def plausible_epoch_ms(value: int) -> bool:
    """True for an epoch-ms time between 2017 and a day from now (what a header or a field may carry)."""
    return MIN_TIMESTAMP_MS <= value <= latest_plausible_ms()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _date_ok(value: str) -> bool:
    match = DATE_RE.match(value)
    if not match:
        return False
    try:
        dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


_KIND_OF: dict[str, str] = {
    **{f: "float" for f in FLOAT_FIELDS},
    **{f: "int" for f in INT_FIELDS},
    **{f: "date" for f in DATE_FIELDS},
    **{f: "bool" for f in BOOL_FIELDS},
    **{f: "text" for f in TEXT_FIELDS},
}


def _field_error(name: str, kind: str, value: Any) -> str | None:
    """Why one field's value cannot be stored, or None. Called per field: keep it cheap for the common case."""
    cls = type(value)
    if kind == "float":
        if cls is float:
            if value != value or value in (math.inf, -math.inf) or abs(value) > MAX_ABS_VALUE:
                return f"{name} is not a finite number ({value!r})"
        elif cls is int:
            if abs(value) > MAX_ABS_VALUE:
                return f"{name} is not a finite number ({value!r})"
        else:
            return f"{name} is not a number ({str(value)[:40]!r})"
        if value < 0 and name in NON_NEGATIVE_FIELDS:
            return f"{name} is negative ({value!r})"
        return None
    if kind == "text":
        if cls is not str:
            return f"{name} is not a string ({str(value)[:40]!r})"
        if "\x00" in value or len(value) > MAX_TEXT_LEN:
            return f"{name} holds a NUL character or is longer than {MAX_TEXT_LEN}"
        return None
    if kind == "int":
        if cls is not int:
            return f"{name} is not an integer ({str(value)[:40]!r})"
        if not MIN_TIMESTAMP_MS <= value <= MAX_TIMESTAMP_MS:
            return f"{name} {value} is not a plausible epoch time in ms"
        if value > latest_plausible_ms():
            return f"{name} {value} is more than a day ahead of our clock"
        return None
    if kind == "date":
        if cls is not str or not _date_ok(value):
            return f"{name} is not a date ({str(value)[:40]!r})"
        return None
    if cls is not bool:
        return f"{name} is not a boolean ({str(value)[:40]!r})"
    return None


_get_all = operator.itemgetter(*FIELDS)
CODE_INDEX, TRADE_TIMESTAMP_INDEX = FIELDS.index("code"), FIELDS.index("trade_timestamp")
TIMESTAMP_INDEX = FIELDS.index("timestamp")
_TYPE_IDX, _PRICE_IDX = FIELDS.index("type"), FIELDS.index("trade_price")
_TYPES_OF_KIND: dict[str, set[type]] = {
    "float": {float, int},
    "int": {int},
    "date": {str},
    "bool": {bool},
    "text": {str},
}
_ALLOWED_TYPES: tuple[frozenset[type], ...] = tuple(
    frozenset(
        _TYPES_OF_KIND[_KIND_OF[f]]
        | ({type(None)} if f not in ("type", "code", "trade_price", "trade_timestamp") else set())
    )
    for f in FIELDS
)
_NONE = type(None)


def _index_getter(indexes: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """itemgetter that always returns a tuple (also for zero or one index)."""
    if not indexes:
        return lambda _values: ()
    if len(indexes) == 1:
        index = indexes[0]
        return lambda values: (values[index],)
    return operator.itemgetter(*indexes)


@dataclass(frozen=True)
class _Plan:
    """For one type signature (the types of the 33 values, so which are null): getters of the non-null values
    each check reads, so `fields_ok` runs a few C-level calls instead of loops over fields."""

    signed: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    non_negative: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    timestamps: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    dates: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    texts: Callable[[tuple[Any, ...]], tuple[Any, ...]]


def _plan(signature: tuple[type, ...]) -> _Plan | None:
    """The checks for values of these types, or None when a type is not allowed for its field."""
    if not all(t in allowed for t, allowed in zip(signature, _ALLOWED_TYPES, strict=True)):
        return None
    present = [(i, f) for i, (f, t) in enumerate(zip(FIELDS, signature, strict=True)) if t is not _NONE]
    return _Plan(
        signed=_index_getter([i for i, f in present if f in FLOAT_FIELDS - NON_NEGATIVE_FIELDS]),
        non_negative=_index_getter([i for i, f in present if f in NON_NEGATIVE_FIELDS]),
        timestamps=_index_getter([i for i, f in present if f in INT_FIELDS]),
        dates=_index_getter([i for i, f in present if f in DATE_FIELDS]),
        texts=_index_getter([i for i, f in present if f in TEXT_FIELDS and f not in ("type", "code")]),
    )


_plans: dict[tuple[type, ...], _Plan | None] = {}
_good_dates: set[str] = set()


def fields_of(message: dict[str, Any]) -> tuple[Any, ...] | None:
    """The 33 values of a message that has exactly the 33 ticker fields (in FIELDS order), else None."""
    if len(message) != len(FIELDS):
        return None
    try:
        return _get_all(message)
    except KeyError:
        return None


def fields_ok(values: tuple[Any, ...]) -> bool:
    """True when the 33 values (FIELDS order) pass every check — the common case, in a few C-level calls per check
    (planned once per type signature). False means "look closer": `validation_errors` then runs the
    field-by-field checks that produce the reasons."""
    signature = tuple(map(type, values))
    try:
        plan = _plans[signature]
    except KeyError:
        plan = _plan(signature)
        if len(_plans) < 4096:
            _plans[signature] = plan
    if plan is None:
        return False
    if values[_TYPE_IDX] != "ticker" or not CODE_RE.match(values[CODE_INDEX]) or not values[_PRICE_IDX]:
        return False
    # min/sum run in C. Once the unsigned values are ≥ 0, their sum plus |signed ones| bounds every magnitude;
    # NaN, infinities and overflow all fail a comparison (then the slow path decides).
    non_negative = plan.non_negative(values)
    if non_negative and not min(non_negative) >= 0:
        return False
    if not sum(non_negative) + sum(map(abs, plan.signed(values))) <= MAX_ABS_VALUE:
        return False
    timestamps = plan.timestamps(values)
    if timestamps and not (MIN_TIMESTAMP_MS <= min(timestamps) <= max(timestamps) <= latest_plausible_ms()):
        return False
    dates = plan.dates(values)
    if dates and not _good_dates.issuperset(dates):
        if not all(map(_date_ok, dates)):
            return False
        if len(_good_dates) < 100_000:
            _good_dates.update(dates)
    texts = plan.texts(values)
    return not texts or (max(map(len, texts)) <= MAX_TEXT_LEN and "\x00" not in "".join(texts))


def validation_errors(message: Any) -> list[str]:
    """Every reason this message cannot be stored; empty when it is valid. Unknown enum values are fine."""
    if type(message) is dict and (values := fields_of(message)) is not None and fields_ok(values):
        return []
    if not isinstance(message, dict):
        return [f"not a JSON object (got {type(message).__name__})"]
    if "error" in message and "code" not in message:
        return ["Upbit error frame, not data"]
    reasons: list[str] = []
    if message.get("type") != "ticker":
        reasons.append(f"type is {str(message.get('type'))[:40]!r}, expected 'ticker'")
    code = message.get("code")
    if not isinstance(code, str) or not CODE_RE.match(code):
        reasons.append(f"code {str(code)[:40]!r} is not a market code like KRW-BTC")
    price = message.get("trade_price")
    if price is None:
        reasons.append("trade_price is missing")
    elif price == 0 and type(price) in (int, float):
        reasons.append("trade_price is zero")
    if message.get("trade_timestamp") is None:
        reasons.append("trade_timestamp is missing")
    extra = False
    for name, value in message.items():
        kind = _KIND_OF.get(name)
        if kind is None:
            extra = True
            continue
        if value is None or name == "code" or name == "type":
            continue
        error = _field_error(name, kind, value)
        if error:
            reasons.append(error)
    if extra:
        unknown = {k: v for k, v in message.items() if k not in SIMPLE_KEYS}
        try:
            encoded = orjson.dumps(unknown)
        except (TypeError, orjson.JSONEncodeError):
            encoded = b""
            reasons.append("unknown keys hold values that cannot be re-encoded as JSON")
        if len(encoded) > MAX_EXTRA_BYTES:
            reasons.append(f"unknown keys hold {len(encoded)} bytes (more than {MAX_EXTRA_BYTES})")
        elif b"\\u0000" in encoded:
            reasons.append("unknown keys hold a NUL character")
    return reasons


def validate(message: Any) -> dict[str, Any]:
    """The message in DEFAULT format, or raise InvalidMessage with every reason."""
    if isinstance(message, dict) and is_simple(message):
        message = to_default(message)
    reasons = validation_errors(message)
    if reasons:
        raise InvalidMessage(reasons)
    return message


def canonical_bytes(message: Mapping[str, Any]) -> bytes:
    """The canonical JSON encoding: keys sorted, shortest round-trip floats (orjson). Kafka values use it."""
    return orjson.dumps(message, option=orjson.OPT_SORT_KEYS)


def message_id_from_canonical(data: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=hashlib.blake2b(data, digest_size=16).digest())


def message_id(message: Mapping[str, Any]) -> uuid.UUID:
    """128-bit identity of the whole message: equal messages share it, fills in one millisecond do not."""
    return message_id_from_canonical(canonical_bytes(message))
