"""Hostile input end to end: a hostile Upbit-protocol server and garbage already in the Kafka topics.

Real components only: the fake-upbit WebSocket server sending every bad frame kind between valid fills, the live
ingest producer, a Tansu broker, the consumer and a scratch PostgreSQL. Both processes must stay up, exactly the
valid fills must be stored, and every bad input must leave a dead letter.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from fake_upbit.server import FakeUpbitServer, Faults
from fake_upbit.simulator import MarketSimulator
from fake_upbit.sources import SimulatedSource
from ingest.producer import ensure_topics
from ingest.ticker import canonical_bytes, message_id
from tests.support.pipeline import Pipeline, count_rows, pipeline_settings
from tests.support.rows import query_rows
from upbit_core.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

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


Garbage = list[tuple[str, str, bytes | None, list[tuple[str, bytes]]]]


def put_garbage(settings: Settings, template: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Write hostile records into both topics (before any consumer runs); returns where each landed
    ({kind: topic/partition/offset}) and the one valid fill hidden among them."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, max_request_size=32 * MIB)
    injected = dict(template, trade_timestamp=START_MS + 1, timestamp=START_MS + 2, trade_volume=0.123)
    rng = random.Random(14)
    canonical = [("fmt", b"canonical")]
    garbage: Garbage = [
        ("tombstone (null value)", settings.kafka_topic, None, []),
        ("empty value", settings.kafka_topic, b"", canonical),
        ("random bytes", settings.kafka_topic, rng.randbytes(4_000), []),
        ("300 KB of newlines", settings.kafka_topic, b"\n" * 300_000, canonical),
        ("3 MiB single line", settings.kafka_topic, b"x" * (3 * MIB), canonical),
        (
            "valid line, out-of-range received_at, bad line",
            settings.kafka_topic,
            canonical_bytes(injected) + b"\n{not json",
            [("received_at", b"99999999999999999999,-5"), ("fmt", b"canonical")],
        ),
        (
            "headers of junk bytes",
            settings.kafka_topic,
            b"\x00\xff" * 100,
            [("received_at", b"\xff"), ("fmt", b"\x00")],
        ),
        ("3 MiB dead letter without headers", settings.kafka_dead_letter_topic, b"D" * (3 * MIB), []),
    ]
    placed: dict[str, str] = {}
    for kind, topic, value, headers in garbage:
        meta = producer.send(topic, key=b"KRW-BTC", value=value, headers=headers).get(timeout=30)
        placed[kind] = f"{topic}/{meta.partition}/{meta.offset}"
    producer.close()
    return placed, injected


def dead_sources(settings: Settings) -> dict[str, list[str]]:
    """Dead-letter reasons by Kafka record (topic/partition/offset, line suffix dropped)."""
    out: dict[str, list[str]] = {}
    for src, reason in query_rows(settings, "SELECT source, reason FROM dead_letters"):
        out.setdefault(str(src).split("#")[0], []).append(reason)
    return out


def wait_for_everything(
    settings: Settings, server: FakeUpbitServer, kinds: int, placed: dict[str, str], timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows, dead, _gaps = count_rows(settings)
        if server.feed_done and rows >= server.stats.sent + 1 and dead >= kinds + len(placed):
            sources = dead_sources(settings)
            if all(src in sources for src in placed.values()):
                time.sleep(0.5)  # a late duplicate would land now
                return
        time.sleep(0.3)
    raise AssertionError(f"not everything arrived: {count_rows(settings)} sent={server.stats.sent}")


def check_outcome(
    settings: Settings,
    sent: list[dict[str, Any]],
    kinds: list[tuple[str, bytes]],
    placed: dict[str, str],
    injected: dict[str, Any],
) -> None:
    sent_ids = {str(message_id(m)) for m in sent}
    stored_ids = {str(r[0]) for r in query_rows(settings, "SELECT msg_id FROM ticker_data")}
    print(f"hostile run: valid fills={len(sent_ids)} hostile frames={len(kinds)} garbage records={len(placed)}")
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

    sources = dead_sources(settings)
    for kind, src in placed.items():
        assert src in sources, f"no dead letter for garbage record {kind!r} at {src}"
    newline_letters = sources[placed["300 KB of newlines"]]
    assert len(newline_letters) == 101  # 100 own letters + one for the other 299,901 lines
    assert any("299901 more bad lines" in r for r in newline_letters)
    assert [r for r in sources[placed["3 MiB single line"]] if "raw cut to its first 65536 of 3145728 bytes" in r]


def _hostile_setup() -> tuple[SimulatedSource, dict[str, Any], list[tuple[str, bytes]], Faults]:
    source = SimulatedSource(markets=20, rate=100, seed=14, start_ms=START_MS, duration_s=12)
    template = _template(source)
    kinds = hostile_frames(template)
    faults = Faults(garbage_every=25, max_garbage=len(kinds), garbage_frames=tuple(f for _k, f in kinds))
    return source, template, kinds, faults


def test_hostile_server_and_garbage_records_leave_both_processes_up_storing_exactly_the_valid_fills(
    scratch_db: Settings, kafka_bootstrap: str
) -> None:
    """In-process (the pipeline the other ingest tests use): the loops' own counters are visible."""
    source, template, kinds, faults = _hostile_setup()
    with Pipeline(scratch_db, kafka_bootstrap, source, speed=None, faults=faults, consumer=False) as pipe:
        settings = pipe.settings
        placed, injected = put_garbage(settings, template)
        pipe.start_consumer()
        wait_for_everything(settings, pipe.server, len(kinds), placed)
        # Both loops are still up; ingest never reconnected because of a frame (only the watchdog may recycle an
        # idle socket once the finite feed is over).
        assert pipe._ingest_thread.is_alive()
        assert pipe._consumer_thread is not None and pipe._consumer_thread.is_alive()
        assert pipe.ingest.stream.stats.oversize_frames == 1
        assert pipe.server.stats.garbage == len(kinds)
        assert not pipe.ingest.stream.stats.last_error or "no data for" in pipe.ingest.stream.stats.last_error
        assert pipe.producer.failed == 0
        sent = list(pipe.server.sent_messages)
    check_outcome(settings, sent, kinds, placed, injected)


def test_hostile_server_and_garbage_records_leave_the_ingest_and_consume_commands_running(
    scratch_db: Settings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The same attack on the real commands, `upbit-llm ingest` and `upbit-llm consume`, as separate processes:
    both are still running afterwards and exit cleanly on SIGTERM."""
    source, template, kinds, faults = _hostile_setup()
    server = FakeUpbitServer(source, speed=None, faults=faults, record_sent=True).start_in_thread()
    settings = pipeline_settings(scratch_db, kafka_bootstrap, server)
    ensure_topics(settings)
    placed, injected = put_garbage(settings, template)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TIMESCALEDB_", "KAFKA_", "UPBIT_"))},
        "ENVIRONMENT": "test",
        "TIMESCALEDB_HOST": settings.timescaledb_host,
        "TIMESCALEDB_PORT": str(settings.timescaledb_port),
        "TIMESCALEDB_USER": settings.timescaledb_user,
        "TIMESCALEDB_DBNAME": settings.timescaledb_dbname,
        "TIMESCALEDB_MODE": "off",
        "KAFKA_SERVERS": settings.kafka_servers,
        "KAFKA_TOPIC": settings.kafka_topic,
        "KAFKA_DEAD_LETTER_TOPIC": settings.kafka_dead_letter_topic,
        "KAFKA_GROUP_ID": settings.kafka_group_id,
        "KAFKA_MAX_POLL_INTERVAL_MS": "6000",
        "UPBIT_WS_URL": server.ws_url,
        "UPBIT_REST_URL": server.rest_url,
        "UPBIT_WATCHDOG_SECONDS": "30",
        "PYTHONPATH": str(ROOT),
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("ingest", "consume")}
    try:
        for name in ("ingest", "consume"):
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "upbit_llm", name, "--status-interval", "2"],
                env=env,
                cwd=ROOT,
                stdout=logs[name],
                stderr=subprocess.STDOUT,
            )
        wait_for_everything(settings, server, len(kinds), placed)
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} exited:\n" + (tmp_path / f"{name}.log").read_text(errors="replace")
        sent = list(server.sent_messages)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {name: proc.wait(timeout=60) for name, proc in procs.items()}
        for fh in logs.values():
            fh.close()
        server.stop()
    assert codes == {"ingest": 0, "consume": 0}, {n: (tmp_path / f"{n}.log").read_text()[-2000:] for n in codes}
    check_outcome(settings, sent, kinds, placed, injected)


def test_a_record_kafka_refuses_as_too_large_becomes_a_dead_letter_and_the_producer_goes_on(
    base_settings: Settings, kafka_bootstrap: str
) -> None:
    from kafka import KafkaConsumer

    from ingest.producer import TickerProducer

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


def test_three_consumers_in_one_group_store_every_fill_once_as_compose_scale_runs_them(
    scratch_db: Settings, kafka_bootstrap: str
) -> None:
    """`docker compose up --scale consumer=3`: three consumer processes join one group and split the partitions."""
    from ingest.consumer import TickerConsumer

    source = SimulatedSource(markets=40, rate=300, seed=15, start_ms=START_MS, duration_s=10)
    with Pipeline(scratch_db, kafka_bootstrap, source, speed=None, consumer=False) as pipe:
        consumers = [
            TickerConsumer(pipe.settings, batch_size=2_000, batch_timeout_s=0.2, client_id=f"c{i}") for i in range(3)
        ]
        threads = [threading.Thread(target=c.run, daemon=True) for c in consumers]
        for thread in threads:
            thread.start()
        try:
            rows, dead, _gaps = pipe.wait_until_stored(timeout=180)
            assigned = [len(c.consumer.assignment()) for c in consumers]
        finally:
            for consumer in consumers:
                consumer.stop()
            for thread in threads:
                thread.join(60)
        sent_ids = {str(message_id(m)) for m in pipe.server.sent_messages}
    stored = query_rows(pipe.settings, "SELECT count(*), count(DISTINCT msg_id) FROM ticker_data")
    print(f"three consumers: partitions per consumer={assigned} rows={rows} sent={len(sent_ids)}")
    assert stored == [(len(sent_ids), len(sent_ids))] and dead == 0
    assert sum(1 for n in assigned if n > 0) >= 2  # the group really split the work
