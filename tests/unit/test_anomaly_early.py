"""Early decisions inside a bucket (DetectorConfig.early_step_seconds): a Slack-worthy pump is decided at the first
2-s point its fills show it, nothing below medium changes, peeking is idempotent and leaves the tracks alone, and a
bucket's row is exactly the merge of its finer rows."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from pydantic import ValidationError

from anomaly.detector import BucketRow, DetectorConfig
from anomaly.engine import DetectorEngine, StepInput, merge_parts
from anomaly.evaluate import bucket_parts, bucketize
from anomaly.lifecycle import Action, Lifecycle
from anomaly.scan import detector_config
from tests.unit.test_anomaly_detector import CFG, T0, B, codes, market_run
from upbit_core.settings import Settings

STEP = 2_000


def _split(row: BucketRow, jump: float | None = None) -> list[BucketRow]:
    """A 10-s row as five 2-s rows (value, fills and orders spread evenly). `jump`: the price the first 2-s part
    jumps to and stays at (a pump that moves at once), with the whole bucket's crowd in that first part."""
    n = CFG.bucket_ms // STEP
    if jump is None:
        return [
            BucketRow(
                row.code,
                row.start_ms + i * STEP,
                row.close,
                row.close,
                row.close,
                row.close,
                row.value / n,
                row.buy_value / n,
                max(1, row.fills // n),
                row.buy_fills // n,
                max(1, row.orders // n),
            )
            for i in range(n)
        ]
    first = BucketRow(
        row.code, row.start_ms, jump, jump, jump, jump, row.value, row.buy_value, row.fills, row.buy_fills, row.orders
    )
    rest = [
        BucketRow(row.code, row.start_ms + i * STEP, jump, jump, jump, jump, 1e4, 1e4, 1, 1, 1) for i in range(1, n)
    ]
    return [first, *rest]


def _pumped_run(onset: int) -> dict[int, list[BucketRow]]:
    """Twelve steady markets; KRW-C03 jumps +8 % in the first 2 s of bucket `onset` on a crowd of market buys."""
    base = market_run(codes(12), 50)
    out: dict[int, list[BucketRow]] = {}
    for i, t in enumerate(sorted(base)):
        parts: list[BucketRow] = []
        for r in base[t]:
            if r.code == "KRW-C03" and i == onset:
                v = r.value * 60
                crowd = BucketRow(r.code, t, r.close, r.close, r.close, r.close, v, v * 0.95, 400, 380, 300)
                parts += _split(crowd, jump=r.close * 1.08)
            else:
                parts += _split(r)
        out[t] = parts
    return out


def _run(parts: dict[int, list[BucketRow]], cfg: DetectorConfig = CFG, early: bool = True) -> list[Action]:
    engine = DetectorEngine(cfg, Lifecycle(cfg, 600))
    acts: list[Action] = []
    for t in sorted(parts):
        inp = StepInput(t, parts=parts[t]) if early else StepInput(t, merge_parts(t, parts[t]))
        acts += engine.step(inp)
    return acts


def test_a_pump_that_jumps_at_once_is_decided_at_the_first_early_point_not_at_the_bucket_end() -> None:
    onset = 40 * 6
    run = _pumped_run(onset)
    early = [a for a in _run(run) if a.episode.market == "KRW-C03"]
    late = [a for a in _run(run, early=False) if a.episode.market == "KRW-C03"]
    bucket = T0 + onset * B
    assert early and late
    assert early[0].op == "open" and early[0].episode.kind == "pump"
    assert early[0].episode.severity in ("medium", "high", "critical")
    assert early[0].at_ms == bucket + STEP  # 2 s into the bucket: the first point after the jump
    # The alert says the window it saw: (window buckets - 1) x 10 s plus the 2 s of the unfinished bucket.
    m = early[0].episode.metrics
    assert m["window_seconds"] in (2, 22, 52)
    # ... and its normal for that length: value / normal = the stated ratio (no market-wide move to divide by).
    detail = m["detail"]
    assert isinstance(detail, dict)
    assert abs(m["value_krw"] / m["baseline_value_krw"] - m["value_ratio"]) <= 0.01 * m["value_ratio"]
    assert detail["baseline_orders"] < late[0].episode.metrics["detail"]["baseline_orders"]
    assert late[0].at_ms == bucket + B  # without early decisions: the bucket's end
    assert early[0].episode.started_ms == late[0].episode.started_ms  # the same episode (same dedup key)
    # The same config with early decisions off decides at the bucket end even when given the finer rows.
    off = [a for a in _run(run, DetectorConfig(early_step_seconds=0)) if a.episode.market == "KRW-C03"]
    assert off[0].at_ms == bucket + B


def test_early_decisions_change_nothing_below_medium() -> None:
    # Every market steady but two: a whale (+4 %, value x40, three orders: no crowd) and a crowd of buyers moving the
    # price +4 % (under the 5 % a medium needs). Both are `low` at most, so early points must not act on them.
    base = market_run(codes(12), 50)
    parts: dict[int, list[BucketRow]] = {}
    for i, t in enumerate(sorted(base)):
        rows: list[BucketRow] = []
        for r in base[t]:
            if r.code == "KRW-C05" and i in (40 * 6, 44 * 6):
                whale = replace(r, value=r.value * 40, buy_value=r.value * 39, fills=6, buy_fills=6, orders=3)
                rows += _split(whale, jump=r.close * 1.04)
            elif r.code == "KRW-C07" and i == 42 * 6:
                crowd = replace(r, value=r.value * 30, buy_value=r.value * 28, fills=300, buy_fills=280, orders=200)
                rows += _split(crowd, jump=r.close * 1.04)
            else:
                rows += _split(r)
        parts[t] = rows
    with_early = _run(parts)
    without = _run(parts, early=False)
    assert {a.episode.market for a in with_early} == {"KRW-C05", "KRW-C07"}, (
        "both must be listed, or this checks nothing"
    )
    assert all(a.episode.severity in ("info", "low") for a in with_early)
    assert [(a.op, a.at_ms, a.episode.market, a.episode.severity) for a in with_early] == [
        (a.op, a.at_ms, a.episode.market, a.episode.severity) for a in without
    ]


def test_peeking_twice_at_the_same_points_acts_once_and_leaves_the_tracks_unchanged() -> None:
    onset = 40 * 6
    run = _pumped_run(onset)
    times = sorted(run)
    engine = DetectorEngine(CFG, Lifecycle(CFG, 600))
    for t in times[:onset]:
        engine.step(StepInput(t, parts=run[t]))
    before = json.dumps(engine.to_state(), sort_keys=True)
    t = times[onset]
    # A live scan peeks at the unfinished bucket (its fills up to 6 s in), twice, then finishes it.
    seen = [p for p in run[t] if p.start_ms < t + 6_000]
    first = engine.peek(StepInput(t, parts=seen), t + 6_000)
    again = engine.peek(StepInput(t, parts=seen), t + 6_000)
    assert [a.op for a in first] == ["open"] and first[0].at_ms == t + STEP
    assert again == []
    assert json.dumps(engine.to_state(), sort_keys=True) == before  # tracks untouched by peeking
    finished = engine.step(StepInput(t, parts=run[t]))
    assert all(a.op != "open" for a in finished if a.episode.market == "KRW-C03")


def test_a_bucket_row_is_exactly_the_merge_of_its_finer_rows() -> None:
    rng = random.Random(7)
    msgs = []
    ms = T0
    for _ in range(3_000):
        ms += rng.choice((0, 0, 1, 150, 900, 2_500))  # bursts of fills in the same millisecond, and quiet gaps
        msgs.append(
            {
                "code": rng.choice(("KRW-A", "KRW-B", "BTC-C")),
                "trade_timestamp": ms,
                "trade_price": float(rng.randint(1, 5_000)),
                "trade_volume": float(rng.randint(1, 64)) / 8,  # exact in binary: sums do not depend on order
                "ask_bid": rng.choice(("BID", "ASK")),
            }
        )
    whole = bucketize(msgs, CFG.bucket_ms)
    merged = {t: merge_parts(t, rows) for t, rows in bucket_parts(msgs, CFG).items()}
    assert merged == whole
    assert len(whole) > 100


def test_an_early_point_judges_the_crowd_by_the_normal_order_rate_over_the_seconds_it_has_seen() -> None:
    # KRW-C03 normally takes ~8 taker orders per 10 s, so a crowd over a whole bucket needs 8 x 8 = 64 orders. A
    # dump of -7 % in its first 2 s on a steady crowd of 20 market sells every 2 s (10 per second, 12.5x the normal
    # rate) shows that rate 2 s in: the early point compares its 20 orders with 8x the normal rate over 2 s (12.8,
    # floor 20), not over 10 s (64), which the crowd would reach only 8 s in.
    base = market_run(codes(12), 50)
    onset = 40 * 6
    parts: dict[int, list[BucketRow]] = {}
    for i, t in enumerate(sorted(base)):
        rows: list[BucketRow] = []
        for r in base[t]:
            if r.code == "KRW-C03" and i == onset:
                low = r.close * 0.93
                v = r.value * 6
                rows += [BucketRow(r.code, t + k * STEP, low, low, low, low, v, v * 0.05, 26, 1, 20) for k in range(5)]
            else:
                rows += _split(r)
        parts[t] = rows
    normal = sum(r.orders for t in sorted(base)[onset - 60 : onset] for r in base[t] if r.code == "KRW-C03") / 60
    assert 6 <= normal <= 10, normal  # the premise: 8x the normal rate over 10 s is well above 20 orders
    bucket = T0 + onset * B
    acts = [a for a in _run(parts) if a.episode.market == "KRW-C03"]
    first = next(a for a in acts if a.episode.severity in ("medium", "high", "critical"))
    assert first.op == "open" and first.episode.kind == "dump"
    assert first.at_ms == bucket + STEP  # 2 s in: the first point
    assert first.episode.metrics["detail"]["crowd"] is True


def test_the_early_step_setting_reaches_the_scans_detector_and_must_divide_the_bucket() -> None:
    assert detector_config(Settings(anomaly_early_step_seconds=5)).early_step_ms == 5_000
    assert detector_config(Settings(anomaly_early_step_seconds=0)).early_step_ms == 0  # bucket ends only
    assert detector_config(Settings()).early_step_ms == DetectorConfig().early_step_ms  # one default
    with pytest.raises(ValidationError, match="ANOMALY_EARLY_STEP_SECONDS must divide the 10-s bucket"):
        Settings(anomaly_early_step_seconds=3)
