"""Ingest benchmark: consumer rows/s (Kafka → DB) against raw COPY, end-to-end msgs/s, event→queryable p99.

All figures come from one run on this machine, against a private Tansu broker and a fresh database:
- raw COPY rows/s: prepared rows COPYed straight into ticker_data (the baseline: the database's own speed);
- consumer rows/s: N messages already in Kafka, the real `upbit-llm consume` process, from its
  first fetched record to its last commit (the group join is excluded);
- end-to-end msgs/s: fake-upbit (`--file`, `--speed max`), `upbit-llm ingest` and `upbit-llm consume` as three
  processes, from the first row visible in the database to the last;
- latency p99: fake-upbit simulating the real rate (~100 msg/s) in real time, the time from the producer reading a
  message off the socket (`received_at`) to the row being visible to a query (polled every 20 ms).

`python -m bench.ingest [--quick]` prints the figures.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import psycopg2

from bench.common import BenchFigure, percentile
from db.connection import drop_database
from db.migrate import migrate
from fake_upbit.simulator import MarketSimulator
from ingest.producer import TickerProducer, ensure_topics
from ingest.writer import _COLUMN_LIST, COPY_OPTIONS, prepare
from upbit_core.settings import PROJECT_ROOT, Settings
from upbit_llm.services import free_port, spawn_tansu, wait_for_port

log = logging.getLogger(__name__)

START_MS = 1_767_243_600_000
AREA = "ingest"
BATCH = 5_000


def _bench_settings(settings: Settings, kafka: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return settings.model_copy(
        update={
            "timescaledb_dbname": f"upbit_bench_ingest_{tag}",
            "kafka_servers": kafka,
            "kafka_topic": f"bench_{tag}",
            "kafka_dead_letter_topic": f"bench_dead_{tag}",
            "kafka_group_id": f"bench_{tag}",
            "kafka_max_poll_interval_ms": 6_000,
            # auto → plain PostgreSQL: the figures are comparable across machines (CI has no TimescaleDB);
            # TIMESCALEDB_MODE=on benchmarks the hypertable instead.
            "timescaledb_mode": "on" if settings.timescaledb_mode == "on" else "off",
        }
    )


def _truncate(settings: Settings) -> None:
    conn = psycopg2.connect(settings.database_dsn())
    with conn.cursor() as cur:
        cur.execute("TRUNCATE ticker_data, ticker_latest, dead_letters, ingest_gaps")
        cur.execute("SELECT to_regclass('agg_invalidations') IS NOT NULL")
        row = cur.fetchone()
        if row and row[0]:
            cur.execute("TRUNCATE agg_invalidations")
    conn.commit()
    conn.close()


def _count(settings: Settings) -> int:
    conn = psycopg2.connect(settings.database_dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ticker_data")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def raw_copy_rows_per_s(settings: Settings, messages: list[dict[str, object]], batch: int = 20_000) -> float:
    lines = [prepare(m).line for m in messages]
    _truncate(settings)
    conn = psycopg2.connect(settings.database_dsn())
    started = time.perf_counter()
    for i in range(0, len(lines), batch):
        with conn.cursor() as cur:
            cur.copy_expert(
                f"COPY ticker_data ({_COLUMN_LIST}) FROM STDIN WITH {COPY_OPTIONS}",
                io.BytesIO(b"".join(lines[i : i + batch])),
            )
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return len(lines) / elapsed


def consumer_rows_per_s(settings: Settings, messages: list[dict[str, object]], workdir: Path) -> tuple[float, int]:
    """The real `upbit-llm consume` process over N messages already in Kafka (its own figure: first fetched record
    to last commit, so the group join is excluded)."""
    _truncate(settings)
    ensure_topics(settings)
    producer = TickerProducer(settings, linger_ms=20)
    for message in messages:
        producer.send_ticker(message, int(message["timestamp"]))  # type: ignore[call-overload]
    producer.close()
    env = _env(settings, "ws://127.0.0.1:9/unused", "http://127.0.0.1:9")
    done = subprocess.run(
        [sys.executable, "-m", "upbit_llm", "consume", "--max-messages", str(len(messages)), "--json"]
        + ["--batch-size", str(BATCH), "--status-interval", "5"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    (workdir / "consume-bench.log").write_bytes(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"consume exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    summary = orjson.loads(done.stdout)
    if summary["rows_inserted"] != len(messages) or not summary["rows_per_s"]:
        raise RuntimeError(f"consumer stored {summary['rows_inserted']} of {len(messages)} rows")
    return float(summary["rows_per_s"]), int(summary["rows_inserted"])


def _env(settings: Settings, ws: str, rest: str) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "test",
        "TIMESCALEDB_DBNAME": settings.timescaledb_dbname,
        "TIMESCALEDB_HOST": settings.timescaledb_host,
        "TIMESCALEDB_PORT": str(settings.timescaledb_port),
        "TIMESCALEDB_USER": settings.timescaledb_user,
        "TIMESCALEDB_MODE": settings.timescaledb_mode,
        "KAFKA_SERVERS": settings.kafka_servers,
        "KAFKA_TOPIC": settings.kafka_topic,
        "KAFKA_DEAD_LETTER_TOPIC": settings.kafka_dead_letter_topic,
        "KAFKA_GROUP_ID": settings.kafka_group_id,
        "KAFKA_MAX_POLL_INTERVAL_MS": str(settings.kafka_max_poll_interval_ms),
        "UPBIT_WS_URL": ws,
        "UPBIT_REST_URL": rest,
    }


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "upbit_llm", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _pipeline(
    settings: Settings, workdir: Path, fake_args: list[str]
) -> tuple[list[subprocess.Popen[bytes]], Settings]:
    """Start consumer, fake-upbit and ingest as separate processes (like production) on fresh topics."""
    settings = settings.model_copy(
        update={
            "kafka_topic": f"e2e_{uuid.uuid4().hex[:8]}",
            "kafka_dead_letter_topic": f"e2e_dead_{uuid.uuid4().hex[:8]}",
            "kafka_group_id": f"e2e_{uuid.uuid4().hex[:8]}",
        }
    )
    _truncate(settings)
    ensure_topics(settings)
    port = free_port()
    env = _env(settings, f"ws://127.0.0.1:{port}/websocket/v1", f"http://127.0.0.1:{port}")
    consumer = _spawn(["consume", "--batch-size", str(BATCH), "--status-interval", "5"], env, workdir / "consume.log")
    server = _spawn(["fake-upbit", "--port", str(port), *fake_args], env, workdir / "fake.log")
    if not wait_for_port("127.0.0.1", port, 20):
        _stop([consumer, server])
        raise RuntimeError(f"fake-upbit did not start: {(workdir / 'fake.log').read_text()[-2000:]}")
    time.sleep(6)  # let the consumer join its group before data flows
    ingest = _spawn(["ingest", "--status-interval", "5"], env, workdir / "ingest.log")
    return [ingest, server, consumer], settings


def end_to_end_msgs_per_s(settings: Settings, messages: list[dict[str, object]], workdir: Path) -> float:
    path = workdir / "e2e.jsonl"
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))
    procs, settings = _pipeline(settings, workdir, ["--file", str(path), "--speed", "max"])
    try:
        first = last = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            count = _count(settings)
            now = time.monotonic()
            if count and first is None:
                first = (now, count)
            if count >= len(messages):
                last = (now, count)
                break
            time.sleep(0.05)
    finally:
        _stop(procs)
    if first is None or last is None:
        raise RuntimeError(f"end-to-end run stored {_count(settings)} of {len(messages)}; see {workdir}")
    return (last[1] - first[1]) / max(last[0] - first[0], 1e-6)


def latency_p99_ms(settings: Settings, seconds: float, workdir: Path) -> tuple[float, float, int]:
    procs, settings = _pipeline(
        settings, workdir, ["--simulate", "--rate", "100", "--markets", "160", "--no-events", "--speed", "1"]
    )
    seen: dict[str, float] = {}
    latencies: list[float] = []
    conn = None
    try:
        conn = psycopg2.connect(settings.database_dsn())
        conn.autocommit = True
        end = time.monotonic() + seconds + 8
        while time.monotonic() < end:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT msg_id::text, extract(epoch FROM received_at) * 1000 FROM ticker_data "
                    "WHERE ingested_at > now() - interval '5 seconds'"
                )
                now_ms = time.time() * 1000
                for msg_id, received_ms in cur.fetchall():
                    if msg_id not in seen:
                        seen[msg_id] = now_ms
                        latencies.append(now_ms - float(received_ms))
            time.sleep(0.02)
    finally:
        if conn is not None:
            conn.close()
        _stop(procs)
    if len(latencies) < 100:
        raise RuntimeError(f"latency run saw only {len(latencies)} rows; see logs in {workdir}")
    return percentile(latencies, 99), percentile(latencies, 50), len(latencies)


def run(settings: Settings, quick: bool = False, **_kw: object) -> list[BenchFigure]:
    n = 30_000 if quick else 100_000
    log_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    port = free_port()
    tansu = spawn_tansu("127.0.0.1", port, log_dir / "tansu.log")
    bench = _bench_settings(settings, f"127.0.0.1:{port}")
    figures: list[BenchFigure] = []
    try:
        if not wait_for_port("127.0.0.1", port, 20):
            raise RuntimeError("the Tansu broker did not start")
        migrate(bench)
        sim = MarketSimulator(markets=160, seed=42, start_ms=START_MS, rate=2_000)
        messages = []
        for message in sim.messages(3_600):
            messages.append(message)
            if len(messages) >= n:
                break
        raw = raw_copy_rows_per_s(bench, messages)
        consumer, rows = consumer_rows_per_s(bench, messages, log_dir)
        figures.append(
            BenchFigure(AREA, "raw COPY into ticker_data", raw, "rows/s", note=f"{len(messages)} rows, 20k per COPY")
        )
        figures.append(
            BenchFigure(
                AREA,
                "consumer Kafka → DB",
                consumer,
                "rows/s",
                goal=">= 50000 and >= 0.5 x raw COPY",
                met=consumer >= 50_000 and consumer >= 0.5 * raw,
                baseline_name="raw COPY",
                baseline_value=raw,
                note=f"{rows} rows through `upbit-llm consume --batch-size {BATCH}`",
            )
        )
        e2e_n = 30_000 if quick else 60_000
        e2e = end_to_end_msgs_per_s(bench, messages[:e2e_n], log_dir)
        figures.append(
            BenchFigure(
                AREA,
                "end-to-end WebSocket → DB",
                e2e,
                "msgs/s",
                goal=">= 10000",
                met=e2e >= 10_000,
                note=f"{e2e_n} msgs; fake-upbit, ingest, consume as processes",
            )
        )
        p99, p50, samples = latency_p99_ms(bench, 20 if quick else 40, log_dir)
        figures.append(
            BenchFigure(
                AREA,
                "received → queryable p99 at ~100 msg/s",
                p99,
                "ms",
                goal="<= 1000",
                met=p99 <= 1000,
                note=f"p50 {p50:.0f} ms over {samples} msgs",
            )
        )
    finally:
        tansu.terminate()
        try:
            tansu.wait(10)
        except subprocess.TimeoutExpired:
            tansu.kill()
        try:
            drop_database(bench)
        except psycopg2.Error as exc:
            log.warning("bench database not dropped: %s", exc)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for figure in run(Settings(), quick=args.quick):
        ratio = f" ratio={figure.ratio:.2f} vs {figure.baseline_name}" if figure.ratio is not None else ""
        goal = f" goal {figure.goal}: {'met' if figure.met else 'NOT met'}" if figure.goal else ""
        print(f"{figure.name}: {figure.value:,.1f} {figure.unit}{ratio}{goal} ({figure.note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
