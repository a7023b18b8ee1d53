"""End-to-end alert latency in the demo: from the event time of a labelled pump's first fill (the simulator streams
in real time, so event time is wall-clock time) to the moment a local Slack receiver gets the alert.

Runs `upbit-llm demo` for real (simulator → ingest → Kafka → consumer → Postgres → Celery beat scan → deliver the
facts at once; the interpretation follows as a second message) with SLACK_WEBHOOK_URL pointing at a recording
receiver (and ALERT_WEBHOOK_URL at a second one, which gets every severity). The first message per market counts.
Prints the figures and where the time goes (ingest lag, the event time of the first Slack-worthy version, the
webhook's first arrival); the logs are kept under artifacts/alert-latency-logs. The goal (median ≤ 10 s, p95 ≤ 30 s)
was met with the shipped settings (7.7 and 8.0 s alone, 10.0 s inside the CI suite; docs/anomaly-alerts.md), but the
median depends on where the onsets fall inside their 10-s buckets and on the machine's load (an estimated 4 of 20
onset phases give 10.5-11.5 s), so the assertions are loose regression guards (Slack median ≤ 30 s, first receiver
≤ 20 s).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from statistics import median

import psycopg2
import pytest

from tests.conftest import ARTIFACTS, make_scratch_db
from tests.integration.test_demo_run import processes_with_marker, start_demo, stop_demo
from tests.support.receivers import Receiver
from upbit_core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DURATION_S = 260  # five labelled events (60 s, then every 40 s; 40 s after the last): a median, short for CI


def test_alert_latency_from_the_onset_fill_to_the_slack_receiver_in_the_demo(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    slack = Receiver().start()
    webhook = Receiver().start()
    gen = make_scratch_db()
    settings = next(gen)
    # The shipped scan settings (a scan every second, a bucket scanned 1 s of event time after its end; fills of a
    # bucket that arrive later still count: the scan goes back for them), so the figure is what `make demo` gives.
    shipped = Settings.model_fields
    overrides = {
        # start_demo slows the scan to 5 s for the other demo tests; this one measures the shipped pace.
        "ANOMALY_SCAN_INTERVAL_SECONDS": str(shipped["anomaly_scan_interval_seconds"].default),
        "ANOMALY_LATENESS_SECONDS": str(shipped["anomaly_lateness_seconds"].default),
        "ANOMALY_EARLY_STEP_SECONDS": str(shipped["anomaly_early_step_seconds"].default),
        "SLACK_WEBHOOK_URL": slack.url + "/slack",
        "SLACK_MIN_SEVERITY": "medium",
        "ALERT_WEBHOOK_URL": webhook.url + "/hook",
        "ALERT_WEBHOOK_SECRET": "latency-test-secret",
    }
    run = start_demo(
        tmp_path,
        settings,
        kafka_bootstrap,
        "--duration", str(DURATION_S), "--first-event-after", "60", "--event-interval", "40",
        "--no-web", "--no-flower", "--first-summary-after", "0",
        env_overrides=overrides,
    )  # fmt: skip
    # Per medium+ event: market, kind, event time (s) of its first Slack-worthy version (the open if it opened at
    # medium+, else its first escalation to medium+), interpreted_at (wall s).
    stages: list[tuple[str, str, float, float | None]] = []
    ingest_lag: dict[str, float] = {}
    try:
        run.proc.wait(timeout=DURATION_S + 240)
        conn = psycopg2.connect(settings.database_dsn())
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT market, kind, severity, extract(epoch FROM detected_at), extract(epoch FROM interpreted_at),"
                " metrics->'detail' FROM anomalies WHERE severity IN ('medium', 'high', 'critical')"
                " ORDER BY detected_at"
            )
            for market, kind, severity, detected, interpreted, detail in cur.fetchall():
                detail = detail or {}
                opened = detail.get("opened_severity") or severity
                first = float(detected)
                if opened not in ("medium", "high", "critical"):
                    first = min(
                        (e[0] / 1000 for e in detail.get("escalations", []) if e[1] in ("medium", "high", "critical")),
                        default=first,
                    )
                stages.append((market, kind, first, float(interpreted) if interpreted is not None else None))
            # Ingest lag (ticker_data.ingested_at − event time) of the labelled markets' fills: the stream's share.
            for lab in _labels(tmp_path):
                if lab.get("anomalous") and lab["market"] != "MARKET":
                    cur.execute(
                        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - time))"
                        " FROM ticker_data WHERE code = %s AND time >= to_timestamp(%s) AND time < to_timestamp(%s)",
                        (lab["market"], lab["onset_ms"] / 1000, lab["onset_ms"] / 1000 + 30),
                    )
                    lag = cur.fetchone()[0]  # type: ignore[index]
                    if lag is not None:
                        ingest_lag[lab["market"]] = round(float(lag), 2)
        conn.close()
    finally:
        if run.proc.poll() is None:
            stop_demo(run)
        for pid in processes_with_marker(run.marker):
            os.kill(pid, signal.SIGKILL)
        slack.stop()
        webhook.stop()
        next(gen, None)
        kept = ARTIFACTS / "alert-latency-logs"
        shutil.rmtree(kept, ignore_errors=True)
        if run.log_dir.exists():
            shutil.copytree(run.log_dir, kept)
    labels = _labels(tmp_path)
    latencies: list[float] = []
    any_receiver: list[float] = []  # the alert's first arrival at either receiver (Slack: medium+; webhook: all)
    rows = []
    for lab in labels:
        if not lab.get("anomalous"):
            continue
        market = lab["market"]
        arrivals = [
            r.received_at
            for r in slack.requests
            if market in str(r.json.get("text", "")) and r.received_at * 1000 >= lab["onset_ms"] - 10_000
        ]
        got = (min(arrivals) * 1000 - lab["onset_ms"]) / 1000 if arrivals else None
        hooks = [
            r.received_at
            for r in webhook.requests
            if str((r.json.get("anomaly") or {}).get("market")) == market
            and r.received_at * 1000 >= lab["onset_ms"] - 10_000
        ]
        hook = round((min(hooks) * 1000 - lab["onset_ms"]) / 1000, 1) if hooks else None
        stage = next((st for st in stages if st[0] == market and st[2] * 1000 >= lab["onset_ms"] - 10_000), None)
        detected = round(stage[2] - lab["onset_ms"] / 1000, 1) if stage else None
        interpreted = round(stage[3] - lab["onset_ms"] / 1000, 1) if stage and stage[3] else None
        # (event, kind, market, onset → Slack s, onset → first medium+ version (event time) s, onset → webhook s
        # (any severity), onset → interpreted_at s, median ingest lag s)
        rows.append((lab["event_id"], lab["kind"], market, got, detected, hook, interpreted, ingest_lag.get(market)))
        if got is not None and got <= 120:
            latencies.append(got)
        first_any = min((x for x in (got, hook) if x is not None), default=None)
        if first_any is not None and first_any <= 120:
            any_receiver.append(first_any)
    report = {
        "labelled": len(rows),
        "alerted_within_120s": len(latencies),
        "median_s": round(median(latencies), 1) if latencies else None,
        "p95_s": _p95(latencies),
        "first_receiver_median_s": round(median(any_receiver), 1) if any_receiver else None,
        "first_receiver_p95_s": _p95(any_receiver),
        "per_event": rows,
        "slack_messages": len(slack.requests),
        "webhook_messages": len(webhook.requests),
    }
    out = ARTIFACTS / "alert-latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print("alert latency (onset fill event time → Slack receiver):", json.dumps(report, default=str))
    assert latencies, f"no Slack alert for any labelled event: {report}\n{run.output()[-3000:]}"
    # Goal: median <= 10 s, p95 <= 30 s (figures in docs/anomaly-alerts.md); these guard against regressions with
    # room for a loaded CI machine (quiet runs: Slack median 7.7–8.0 s).
    assert report["median_s"] is not None and report["median_s"] <= 30, report
    assert report["first_receiver_median_s"] is not None and report["first_receiver_median_s"] <= 20, report


def _p95(values: list[float]) -> float | None:
    """The nearest-rank 95th percentile (with five events: the slowest)."""
    return round(sorted(values)[max(0, int(round(0.95 * len(values))) - 1)], 1) if values else None


def _labels(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "demo-labels.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
