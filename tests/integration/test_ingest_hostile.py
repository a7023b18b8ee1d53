"""Hostile input end to end: a hostile Upbit-protocol server and garbage already in the Kafka topics.

Real components only: the fake-upbit WebSocket server sending every bad frame kind between valid fills, the live
ingest producer, a Tansu broker, the consumer and a scratch PostgreSQL. Both processes must stay up, exactly the
valid fills must be stored, and every bad input must leave a dead letter.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from fake_upbit.server import Faults
from fake_upbit.simulator import MarketSimulator
from fake_upbit.sources import SimulatedSource
from ingest.ticker import canonical_bytes, message_id
from tests.support.pipeline import Pipeline
from tests.support.rows import query_rows
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration

START_MS = 1_767_243_600_000  # 2026-01-01 05:00 UTC
MIB = 1024 * 1024


def _template(source: SimulatedSource) -> dict[str, Any]:
    """A valid message of a subscribed market (not one the server will send: another seed)."""
    codes = set(source.simulator.codes)
    simulator = MarketSimulator(markets=5, seed=99, start_ms=START_MS, rate=50)
    return dict(next(m for m in simulator.messages(5) if m["code"] in codes))


def _with(template: dict[str, Any], **changes: Any) -> bytes:
    return orjson.dumps({**template, **changes})


def hostile_frames(template: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(kind, frame) for every bad frame kind of issue 14; each must become exactly one dead letter."""
    valid = orjson.dumps(template)
    day_ahead = int(time.time() * 1000) + 2 * 86_400_000
    deep = 1_000  # under orjson's parse limit (1024), over any sane message
    return [
        ("array of numbers", b"[1, 2, 3]"),
        ("empty array", b"[]"),
        ("array mixing a message and a number", b"[" + valid + b", 1]"),
        ("nesting bomb", b"[" * 200_000 + b"]" * 200_000),
        ("nesting bomb inside a message", valid[:-1] + b',"x":' + b"[" * deep + b"]" * deep + b"}"),
        ("NaN", valid.replace(b'"trade_price":', b'"trade_price":NaN,"_":', 1)),
        ("Infinity", valid.replace(b'"trade_price":', b'"trade_price":Infinity,"_":', 1)),
        ("-Infinity", valid.replace(b'"trade_price":', b'"trade_price":-Infinity,"_":', 1)),
        ("1e999", valid.replace(b'"trade_price":', b'"trade_price":1e999,"_":', 1)),
        ("timestamp before 2017", _with(template, trade_timestamp=1_000_000_000_000)),
        ("timestamp two days ahead", _with(template, trade_timestamp=day_ahead, timestamp=day_ahead)),
        ("negative timestamp", _with(template, trade_timestamp=-5)),
        ("huge integer", valid.replace(b'"trade_timestamp":', b'"trade_timestamp":1' + b"0" * 40 + b',"_":', 1)),
        ("negative volume", _with(template, trade_volume=-1.0)),
        ("number as text", _with(template, trade_price=str(template["trade_price"]))),
        ("1 MiB string in a field", _with(template, market_state="A" * 1_000_000)),
        ("1 MiB string in an unknown key", _with(template, padding="B" * 1_000_000)),
        ("empty frame", b""),
        ("null", b"null"),
        ("not UTF-8", b"\xff\xfe\x00\x81 binary junk"),
        ("unsubscribed code", _with(template, code="KRW-NOTLISTED")),
        ("8 MiB frame", b'{"type":"ticker","pad":"' + b"C" * (8 * MIB) + b'"}'),
    ]


def test_hostile_server_and_garbage_records_leave_both_processes_up_storing_exactly_the_valid_fills(
    scratch_db: Settings, kafka_bootstrap: str
) -> None:
    source = SimulatedSource(markets=20, rate=100, seed=14, start_ms=START_MS, duration_s=12)
    template = _template(source)
    kinds = hostile_frames(template)
    faults = Faults(garbage_every=25, max_garbage=len(kinds), garbage_frames=tuple(f for _k, f in kinds))
    with Pipeline(scratch_db, kafka_bootstrap, source, speed=None, faults=faults, consumer=False) as pipe:
        settings = pipe.settings
        # Garbage already in the topics before the consumer starts.
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, max_request_size=32 * MIB)
        injected = dict(template, trade_timestamp=START_MS + 1, timestamp=START_MS + 2, trade_volume=0.123)
        good_line = canonical_bytes(injected)
        rng = random.Random(14)
        canonical = [("fmt", b"canonical")]
        garbage: list[tuple[str, str, bytes | None, list[tuple[str, bytes]]]] = [
            ("tombstone (null value)", settings.kafka_topic, None, []),
            ("empty value", settings.kafka_topic, b"", canonical),
            ("random bytes", settings.kafka_topic, rng.randbytes(4_000), []),
            ("300 KB of newlines", settings.kafka_topic, b"\n" * 300_000, canonical),
            ("3 MiB single line", settings.kafka_topic, b"x" * (3 * MIB), canonical),
            (
                "valid line, out-of-range received_at, bad line",
                settings.kafka_topic,
                good_line + b"\n{not json",
                [("received_at", b"99999999999999999999,-5"), ("fmt", b"canonical")],
            ),
            (
                "headers of junk bytes",
                settings.kafka_topic,
                b"\x00\xff" * 100,
                [("received_at", b"\xff\xfe"), ("fmt", b"\x00")],
            ),
            ("3 MiB dead letter without headers", settings.kafka_dead_letter_topic, b"D" * (3 * MIB), []),
        ]
        placed: dict[str, str] = {}
        for kind, topic, value, headers in garbage:
            meta = producer.send(topic, key=b"KRW-BTC", value=value, headers=headers).get(timeout=30)
            placed[kind] = f"{topic}/{meta.partition}/{meta.offset}"
        producer.close()
        pipe.start_consumer()
        assert pipe.consumer is not None

        def dead_sources() -> dict[str, list[str]]:
            rows = query_rows(settings, "SELECT source, reason FROM dead_letters")
            out: dict[str, list[str]] = {}
            for src, reason in rows:
                out.setdefault(src.split("#")[0], []).append(reason)
            return out

        rows, dead, _gaps = pipe.wait_until_stored(expected_dead=len(kinds) + len(garbage), timeout=180)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(src in dead_sources() for src in placed.values()):
            time.sleep(0.3)
        # Both processes are still up and still on their first connection / group membership.
        assert pipe._ingest_thread.is_alive()
        assert pipe._consumer_thread is not None and pipe._consumer_thread.is_alive()
        assert pipe.ingest.stream.stats.oversize_frames == 1
        assert pipe.server.stats.garbage == len(kinds)
        assert not pipe.ingest.stream.stats.last_error or "no data for" in pipe.ingest.stream.stats.last_error
        assert pipe.producer.failed == 0
        sent_ids = {str(message_id(m)) for m in pipe.server.sent_messages}
        stored_ids = {str(r[0]) for r in query_rows(settings, "SELECT msg_id FROM ticker_data")}
        print(f"hostile run: valid fills={len(sent_ids)} hostile frames={len(kinds)} garbage records={len(garbage)}")

    assert len(sent_ids) >= 500
    assert stored_ids == sent_ids | {str(message_id(injected))}  # exactly the valid fills, the injected one too
    assert query_rows(settings, "SELECT count(*) FROM ticker_data WHERE code = 'KRW-NOTLISTED'") == [(0,)]
    assert query_rows(settings, "SELECT count(*) FROM markets WHERE code = 'KRW-NOTLISTED'") == [(0,)]

    ws_reasons = [r[0] for r in query_rows(settings, "SELECT reason FROM dead_letters WHERE stage = 'ws'")]
    assert len(ws_reasons) == len(kinds), "\n".join(r[:150] for r in ws_reasons)
    joined = "\n".join(ws_reasons)
    for expected in (
        "not valid JSON",
        "not a JSON object",
        "more than a day ahead",
        "not a plausible epoch time",
        "trade_volume is negative",
        "trade_price is not a number",
        "market_state holds a NUL character or is longer than 200",
        "unknown keys hold",
        "KRW-NOTLISTED is not in the subscription",
        "exceeds UPBIT_MAX_FRAME_BYTES",
    ):
        assert expected in joined, expected
    oversize = query_rows(
        settings, "SELECT length(raw), reason FROM dead_letters WHERE reason LIKE '%exceeds UPBIT_MAX_FRAME_BYTES%'"
    )
    assert oversize[0][0] == 64 * 1024 and f"{8 * MIB + 26} bytes" in oversize[0][1] and "sha256=" in oversize[0][1]

    sources = dead_sources()
    for kind, src in placed.items():
        assert src in sources, f"no dead letter for garbage record {kind!r} at {src}"
    newline_letters = sources[placed["300 KB of newlines"]]
    assert len(newline_letters) == 101  # 100 own letters + one for the other 299,901 lines
    assert any("299901 more bad lines" in r for r in newline_letters)
    assert [r for r in sources[placed["3 MiB single line"]] if "raw cut to its first 65536 of 3145728 bytes" in r]


def test_a_record_kafka_refuses_as_too_large_becomes_a_dead_letter_and_the_producer_goes_on(
    base_settings: Settings, kafka_bootstrap: str
) -> None:
    from kafka import KafkaConsumer

    from ingest.producer import TickerProducer, ensure_topics

    tag = os.urandom(4).hex()
    settings = base_settings.model_copy(
        update={
            "kafka_servers": kafka_bootstrap,
            "kafka_topic": f"big_{tag}",
            "kafka_dead_letter_topic": f"big_dead_{tag}",
        }
    )
    ensure_topics(settings)
    producer = TickerProducer(settings)
    huge = b'{"code":"KRW-BTC","pad":"' + b"Z" * (5 * MIB) + b'"}'  # over the producer's 4 MiB request cap
    producer.send_canonical("KRW-BTC", huge, int(time.time() * 1000))
    producer.send_canonical("KRW-BTC", b'{"code":"KRW-BTC"}', int(time.time() * 1000))
    producer.close(timeout=30)  # raises if anything was lost
    assert producer.dead_sent == 1 and producer.failed == 0
    consumer = KafkaConsumer(
        settings.kafka_dead_letter_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    records = list(consumer)
    consumer.close()
    assert len(records) == 1
    reason = dict(records[0].headers)["reason"].decode()
    assert "MessageSizeTooLargeError" in reason and f"of {len(huge)} bytes" in reason
    assert len(records[0].value) == 64 * 1024
