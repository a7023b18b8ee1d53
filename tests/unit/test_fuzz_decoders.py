"""Fuzzing (hypothesis) of the two decoders that face untrusted bytes: the WebSocket frame decoder of live ingest
and the consumer's Kafka record decoder. Each runs a bounded number of examples (a few seconds per run, set by
FUZZ_EXAMPLES); any exception is a failing test. The per-frame / per-record safety nets are bypassed on purpose
(`_frame`, `_decode`), so a crash the net would hide still fails here.
"""

from __future__ import annotations

import os
from collections import namedtuple
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.consumer import Batch, RecordDecoder
from ingest.service import LiveIngest
from ingest.ticker import FIELDS, canonical_bytes, validate
from upbit_core.settings import Settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)

TEMPLATE: dict[str, Any] = {
    "type": "ticker",
    "code": "KRW-BTC",
    "opening_price": 100.0,
    "high_price": 110.0,
    "low_price": 90.0,
    "trade_price": 105.0,
    "prev_closing_price": 100.0,
    "change": "RISE",
    "change_price": 5.0,
    "signed_change_price": 5.0,
    "change_rate": 0.05,
    "signed_change_rate": 0.05,
    "trade_volume": 1.5,
    "acc_trade_volume": 10.0,
    "acc_trade_volume_24h": 20.0,
    "acc_trade_price": 1000.0,
    "acc_trade_price_24h": 2000.0,
    "trade_date": "20260101",
    "trade_time": "050000",
    "trade_timestamp": 1_767_243_600_000,
    "ask_bid": "BID",
    "acc_ask_volume": 4.0,
    "acc_bid_volume": 6.0,
    "highest_52_week_price": 200.0,
    "highest_52_week_date": "2025-06-01",
    "lowest_52_week_price": 50.0,
    "lowest_52_week_date": "2025-01-02",
    "market_state": "ACTIVE",
    "is_trading_suspended": False,
    "delisting_date": None,
    "market_warning": "NONE",
    "timestamp": 1_767_243_600_010,
    "stream_type": "REALTIME",
}
assert tuple(TEMPLATE) == FIELDS

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=5,
)


@st.composite
def mutated_messages(draw: st.DrawFn) -> dict[str, Any]:
    """The template with some fields replaced by any JSON value, some removed and some unknown keys added."""
    message = dict(TEMPLATE)
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=5)):
        message[name] = draw(json_values)
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2)):
        message.pop(name, None)
    message.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2)))
    return message


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return b"{"


special_tokens = st.sampled_from(
    [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-0", b"1" + b"0" * 400, b"\x00", b"\xff", b'"\\ud800"', b"[" * 2000]
)
frames = st.one_of(
    st.binary(max_size=300),
    mutated_messages().map(_dumps),
    st.lists(mutated_messages(), max_size=3).map(_dumps),
    json_values.map(_dumps),
    st.tuples(mutated_messages().map(_dumps), st.integers(min_value=0, max_value=400), special_tokens).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
    ),
)


class _Recorder:
    """Stands in for the Kafka producer (not under test): records what the decoder would publish."""

    def __init__(self) -> None:
        self.tickers: list[dict[str, Any]] = []
        self.dead: list[tuple[bytes, str]] = []
        self.pending = 0
        self.failed = 0

    def send_ticker(self, message: dict[str, Any], received_at_ms: int, source: str = "ws") -> None:
        self.tickers.append(message)

    def send_dead_letter(self, raw: bytes, reason: str, stage: str = "ws", received_at_ms: int | None = None) -> None:
        self.dead.append((raw, reason))


SETTINGS = Settings(_env_file=None, environment="test")  # type: ignore[call-arg]


def _ingest() -> tuple[LiveIngest, _Recorder]:
    recorder = _Recorder()
    ingest = LiveIngest(SETTINGS, recorder)  # type: ignore[arg-type]
    ingest._subscribed = frozenset({"KRW-BTC"})
    return ingest, recorder


@FUZZ
@given(frame=frames)
def test_the_frame_decoder_never_raises_and_publishes_only_valid_subscribed_messages(frame: bytes) -> None:
    ingest, recorder = _ingest()
    data = ingest._frame(frame, 1_767_243_600_100)
    assert isinstance(data, bool)
    for message in recorder.tickers:
        assert validate(message)["code"] == "KRW-BTC"
        canonical_bytes(message)
    if data:
        assert recorder.tickers or recorder.dead


Record = namedtuple("Record", "topic partition offset value headers")
header_values = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"99999999999999999999", b"-5", b"1e20", b"1767243600000,1767243600001", b"canonical", b""]),
)
headers = st.lists(
    st.tuples(st.sampled_from(["received_at", "fmt", "source", "reason", "stage", "x"]), header_values), max_size=4
)
values = st.one_of(
    st.none(),
    st.binary(max_size=400),
    st.lists(frames, min_size=1, max_size=5).map(b"\n".join),
)


@FUZZ
@given(topic=st.sampled_from(["t", "dead"]), value=values, record_headers=headers)
def test_the_record_decoder_never_raises_and_accounts_for_every_line(
    topic: str, value: bytes | None, record_headers: list[tuple[str, bytes]]
) -> None:
    decoder = RecordDecoder("t", "dead", max_dead_per_record=3)
    batch = Batch()
    seen = decoder._decode(batch, Record(topic, 0, 7, value, record_headers), topic, f"{topic}/0/7")
    if topic == "dead" or not value:
        assert (seen, len(batch.rows), len(batch.dead)) == (1, 0, 1)
        return
    lines = value.split(b"\n")
    assert seen == len(lines)
    bad = len(lines) - len(batch.rows)
    assert len(batch.dead) == (bad if bad <= 3 else 4)  # three own letters, then one for the rest
    for row in batch.rows:
        assert row.line.endswith(b"\n")
