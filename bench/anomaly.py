"""Anomaly benchmark: replay a labelled simulator run through the real writer and scan; print recall, delays,
false alerts per market-day and scan cost (`python -m bench.anomaly [--quick]`, or `upbit-llm bench anomaly`).

Workload: 160 simulated KRW markets at ~100 fills/s (Upbit's normal rate) with injected pumps (+10–40 % in under
a minute, then a reversal), dumps, volume-only spikes, market-wide moves and slow +8 %/h trends that must NOT alert.
The first labelled event comes 15 minutes in, so the 30-minute trailing baseline has history (a detector cannot
judge a market it has not seen). The run goes into a throwaway database, which is dropped at the end.

Scan cost: after the bulk replay, the last minutes are fed in 2-second slices of event time with one scan after
each (the Celery beat's pace), and each scan's wall time is measured. Baseline in the same run: the naive query a
scan avoids — aggregating the trailing 31 minutes of raw ticks for every market.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from collections import Counter
from dataclasses import replace
from statistics import median
from typing import Any

from anomaly.evaluate import fetch_anomalies, score
from anomaly.scan import ScanOptions, run_scan
from bench.common import BenchFigure, percentile
from db.connection import connect, drop_database
from db.migrate import migrate
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

AREA = "anomaly"
START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC
SLICE_S = int(Settings.model_fields["anomaly_scan_interval_seconds"].default)  # the shipped scan pace


def _progress(text: str) -> None:
    print(f"[bench anomaly] {text}", file=sys.stderr, flush=True)


def _bench_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "timescaledb_dbname": f"upbit_bench_anomaly_{uuid.uuid4().hex[:8]}",
            "timescaledb_mode": "on" if settings.timescaledb_mode == "on" else "off",
        }
    )


def _naive_window_ms(settings: Settings, end_ms: int) -> float:
    """What a scan would cost without stored buckets: aggregate 31 minutes of raw ticks for every market."""
    conn = connect(settings, application_name="bench-anomaly")
    try:
        with conn.cursor() as cur:
            t0 = time.perf_counter()
            cur.execute(
                "SELECT code, date_bin('10 seconds', time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), sum(trade_price *"
                " trade_volume), count(*), count(DISTINCT time) FROM ticker_data WHERE time >= to_timestamp(%s)"
                " AND time < to_timestamp(%s) GROUP BY 1, 2",
                ((end_ms - 31 * 60_000) / 1000, end_ms / 1000),
            )
            cur.fetchall()
            return (time.perf_counter() - t0) * 1000
    finally:
        conn.close()


REAL_SETS = (("real held-out", "heldout"), ("real tuning", "tuning"))
OFFSETS_MS = (0, 2_500, 5_000, 7_500)
# Real labels are minute-resolution announcement times: an alert up to 60 s before still catches the pump, and
# alerts in the 15 minutes before that are early warnings (pre-pump accumulation), scored separately.
REAL_EARLY_MS = 60_000
REAL_WARNING_MS = 900_000


def _spread(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"


def real_figures(*, quick: bool = False, rush: bool = False) -> list[BenchFigure]:
    """Recall, delays and false alerts on the real labelled pump tapes, as the spread over sub-bucket offsets.
    `rush`: with the opt-in rush rule (ANOMALY_RUSH_RULE), as the scan would run it."""
    from anomaly.detector import RUSH_WINDOWS, DetectorConfig
    from bench.pump_tapes import replay_tapes, tapes

    config = DetectorConfig(rush_windows=RUSH_WINDOWS if rush else ())

    offsets = OFFSETS_MS[::2] if quick else OFFSETS_MS
    figures: list[BenchFigure] = []
    for label, split in REAL_SETS:
        selected = tapes(split)
        reports = []
        for off in offsets:
            _progress(f"{label}: {len(selected)} tapes, offset {off / 1000:g} s")
            anomalies, labels, seconds = replay_tapes(selected, shift_ms=off, config=config)
            reports.append(
                score(
                    anomalies,
                    labels,
                    markets=1,
                    duration_s=seconds,
                    early_tolerance_ms=REAL_EARLY_MS,
                    warning_window_ms=REAL_WARNING_MS,
                ).as_dict()
            )
        # The same engine deciding at bucket ends only (no early decisions), at every offset: what the early
        # points buy in the Slack (medium+) delay.
        ends = [
            score(
                *replay_tapes(selected, shift_ms=off, config=replace(config, early_step_seconds=0))[:2],
                markets=1,
                duration_s=seconds,
                early_tolerance_ms=REAL_EARLY_MS,
            ).as_dict()
            for off in offsets
        ]
        # A fair baseline in the same run: the same engine without the crowd gate (any value/price signal may be
        # medium+), on the first offset.
        no_gate = DetectorConfig(crowd_min_orders=(0, 0, 0), crowd_order_ratio=0.0, crowd_side_margin_pct=-50.0)
        b_an, b_labels, b_secs = replay_tapes(selected, config=no_gate)
        base = score(
            b_an,
            b_labels,
            markets=1,
            duration_s=b_secs,
            early_tolerance_ms=REAL_EARLY_MS,
            warning_window_ms=REAL_WARNING_MS,
        ).as_dict()

        def col(key: str, reps: list[dict[str, Any]] = reports) -> list[float]:
            return [float(r[key]) if r[key] is not None else float("nan") for r in reps]

        held = split == "heldout"
        r60 = col("caught_within_60s_pct")
        med = col("median_delay_s")
        fmp = col("false_medium_plus_per_market_day")
        tag = f"[{label}] "
        secs = _spread([o / 1000 for o in offsets])
        n = f"{reports[0]['anomalous']} pumps, {reports[0]['market_days']} market-days; offsets {secs} s"
        figures += [
            BenchFigure(
                AREA,
                tag + "recall within 60 s",
                min(r60),
                "%",
                ">= 90" if held else "",
                min(r60) >= 90 if held else None,
                note=f"spread {_spread(r60)} over offsets; {n}",
            ),
            BenchFigure(
                AREA,
                tag + "recall within 30 s",
                min(col("caught_within_30s_pct")),
                "%",
                note=f"spread {_spread(col('caught_within_30s_pct'))}",
            ),
            BenchFigure(
                AREA,
                tag + "recall within 120 s",
                min(col("caught_within_120s_pct")),
                "%",
                note=f"spread {_spread(col('caught_within_120s_pct'))}",
            ),
            BenchFigure(
                AREA,
                tag + "median delay",
                max(med),
                "s",
                "<= 15" if held else "",
                max(med) <= 15 if held else None,
                note=f"spread {_spread(med)}; event time from the labelled minute to the first alert version",
            ),
            BenchFigure(
                AREA, tag + "p95 delay", max(col("p95_delay_s")), "s", note=f"spread {_spread(col('p95_delay_s'))}"
            ),
            BenchFigure(
                AREA,
                tag + "median delay to the first medium+ (Slack) version",
                max(col("median_medium_plus_delay_s")),
                "s",
                baseline_name="same engine deciding at bucket ends only",
                baseline_value=max(col("median_medium_plus_delay_s", ends)),
                note=f"spread {_spread(col('median_medium_plus_delay_s'))} (bucket ends only:"
                f" {_spread(col('median_medium_plus_delay_s', ends))}); medium+ within 60 s"
                f" {_spread(col('caught_medium_plus_within_60s_pct'))} %",
            ),
            BenchFigure(
                AREA,
                tag + "false medium+ alerts per market-day",
                max(fmp),
                "alerts",
                "<= 0.2" if held else "",
                max(fmp) <= 0.2 if held else None,
                baseline_name="same engine without the crowd gate",
                baseline_value=base["false_medium_plus_per_market_day"],
                note=f"spread {_spread(fmp)}; by severity (first offset) {reports[0]['false_by_severity']}",
            ),
            BenchFigure(
                AREA,
                tag + "false alerts (low+) per market-day",
                max(col("false_alerts_per_market_day")),
                "alerts",
                note=f"spread {_spread(col('false_alerts_per_market_day'))}; low: webhook only (Slack: medium+)",
            ),
            BenchFigure(
                AREA,
                tag + "precision of medium+ alerts",
                min(col("precision_medium_plus_pct")),
                "%",
                baseline_name="same engine without the crowd gate",
                baseline_value=base["precision_medium_plus_pct"],
                note=f"spread {_spread(col('precision_medium_plus_pct'))};"
                f" early warnings (15 min before) {reports[0]['early_warnings']}",
            ),
        ]
    return figures


def run(
    settings: Settings,
    *,
    quick: bool = False,
    markets: int = 160,
    duration_s: float | None = None,
    seed: int = 1,
    live_scans: int | None = None,
    **_: Any,
) -> list[BenchFigure]:
    from fake_upbit.simulator import EventPlan, MarketSimulator
    from ingest.catalog import store_catalog
    from ingest.writer import write_messages

    duration = duration_s or (4_500.0 if quick else 10_800.0)
    n_live = live_scans or (60 if quick else 120)
    bench = _bench_settings(settings)
    plan = EventPlan(first_event_s=900.0, interval_s=150.0, trend_at_s=600.0)
    sim = MarketSimulator(markets=markets, seed=seed, start_ms=START_MS, rate=100.0, plan=plan)
    live_from_ms = START_MS + int((duration - n_live * SLICE_S) * 1000)
    figures: list[BenchFigure] = real_figures(quick=quick, rush=settings.anomaly_rush_rule)
    migrate(bench)
    try:
        _progress(
            f"database {bench.timescaledb_dbname}: {markets} markets, {duration / 3600:.2f} h of simulated trading"
        )
        conn = connect(bench, application_name="bench-anomaly")
        loaded = 0
        slices: list[list[dict[str, Any]]] = []
        t_load = time.perf_counter()
        try:
            store_catalog(conn, sim.catalog())
            batch: list[dict[str, Any]] = []
            next_report = time.monotonic() + 10
            for msg in sim.messages(duration):
                ts = msg["trade_timestamp"]
                if ts >= live_from_ms:
                    index = int((ts - live_from_ms) // (SLICE_S * 1000))
                    while len(slices) <= index:
                        slices.append([])
                    slices[index].append(msg)
                    continue
                batch.append(msg)
                if len(batch) >= 20_000:
                    loaded += write_messages(conn, batch).offered
                    batch = []
                    if time.monotonic() >= next_report:
                        _progress(f"loaded {loaded:,} ticker rows (event time {(ts - START_MS) / 60_000:.0f} min)")
                        next_report = time.monotonic() + 10
            loaded += write_messages(conn, batch).offered
        finally:
            conn.close()
        load_s = time.perf_counter() - t_load
        _progress(f"loaded {loaded:,} rows in {load_s:.0f} s; catch-up scan")
        # The whole run is evaluated (a first scan on a long-lived database starts 2 h before its newest data).
        catch = run_scan(bench, live=False, options=ScanOptions(initial_backfill_seconds=int(duration) + 60))
        _progress(
            f"catch-up scan: {catch.buckets_evaluated} buckets in {catch.seconds:.1f} s; {n_live} live-pace scans"
        )
        scan_ms: list[float] = []
        conn = connect(bench, application_name="bench-anomaly")
        try:
            for part in slices:
                write_messages(conn, part)
                res = run_scan(bench, live=False)
                scan_ms.append(res.seconds * 1000)
        finally:
            conn.close()
        run_scan(bench, live=False)
        naive = median(_naive_window_ms(bench, START_MS + int(duration * 1000)) for _ in range(3))
        anomalies = fetch_anomalies(bench)
        report = score(anomalies, sim.labels(), markets=markets, duration_s=duration)
    finally:
        drop_database(bench)
    by_kind = Counter(o.kind for o in report.outcomes if o.caught)
    total_kind = Counter(o.kind for o in report.outcomes)
    kinds = ", ".join(f"{k} {by_kind[k]}/{n}" for k, n in sorted(total_kind.items()))
    d = report.as_dict()
    sim_figures = [
        BenchFigure(
            AREA,
            "recall within 60 s of onset",
            d["caught_within_60s_pct"],
            "%",
            ">= 90",
            d["caught_within_60s_pct"] >= 90,
            note=f"{report.anomalous} labelled events: {kinds}",
        ),
        BenchFigure(AREA, "caught within 30 s", d["caught_within_30s_pct"], "%"),
        BenchFigure(AREA, "caught within 120 s", d["caught_within_120s_pct"], "%"),
        BenchFigure(
            AREA, "recall (any delay)", d["recall_pct"], "%", note=f"missed: {', '.join(d['missed']) or 'none'}"
        ),
        BenchFigure(
            AREA,
            "median detection delay",
            float(report.median_delay_s or 0.0),
            "s",
            "<= 30",
            report.median_delay_s is not None and report.median_delay_s <= 30,
            note="event time from labelled onset to detected_at (10 s buckets)",
        ),
        BenchFigure(
            AREA,
            "false alerts per market-day",
            d["false_alerts_per_market_day"],
            "alerts",
            "<= 1",
            d["false_alerts_per_market_day"] <= 1,
            note=f"{report.false_alerts} false of {report.alerts} alerts over {d['market_days']} market-days "
            "(slow trends and coin alerts during market-wide moves count as false)",
        ),
        BenchFigure(
            AREA,
            "scan time per live scan (p50)",
            round(percentile(scan_ms, 50), 1),
            "ms",
            baseline_name="naive 31-min raw aggregation",
            baseline_value=round(naive, 1),
            note=f"{len(scan_ms)} scans, one per {SLICE_S} s slice, {markets} markets",
        ),
        BenchFigure(
            AREA,
            "scan time per live scan (p95)",
            round(percentile(scan_ms, 95), 1),
            "ms",
            "<= 1000",
            percentile(scan_ms, 95) <= 1000,
            baseline_name="naive 31-min raw aggregation",
            baseline_value=round(naive, 1),
            note=f"one scan per {SLICE_S} s of event time, the shipped beat pace",
        ),
        BenchFigure(
            AREA,
            "catch-up scan throughput",
            round(catch.buckets_evaluated / max(catch.seconds, 1e-9), 1),
            "buckets/s",
            note=f"{catch.buckets_evaluated} buckets × {markets} markets in {catch.seconds:.1f} s"
            f"; {loaded:,} rows loaded in {load_s:.0f} s",
        ),
    ]
    for f in sim_figures:
        f.name = "[simulator] " + f.name
    figures += sim_figures
    log.info("anomaly bench report=%s", json.dumps(d, default=str))
    return figures


def main(argv: list[str] | None = None) -> int:
    from upbit_core.logging_setup import configure_logging
    from upbit_core.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m bench.anomaly", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1.25 h of simulated trading instead of 3 h")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    figures = run(get_settings(), quick=args.quick, seed=args.seed)
    if args.json:
        print(json.dumps([f.as_dict() for f in figures], ensure_ascii=False, indent=2))
        return 0
    print(f"{'figure':58} {'value':>10} {'unit':10} {'goal':10} {'met':5} note")
    for f in figures:
        met = "-" if f.met is None else ("yes" if f.met else "NO")
        base = f" (baseline {f.baseline_name}: {f.baseline_value} {f.unit})" if f.baseline_value is not None else ""
        print(f"{f.name:58} {f.value:>10} {f.unit:10} {f.goal:10} {met:5} {f.note}{base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
