"""Score the detector against a labelled simulator run: recall, delay, false alerts per market-day.

Matching rules (also in docs/anomaly-alerts.md):
- Alerts are anomalies of severity `low` or above of every kind except `data_stale` and `caution_flag`
  (operational/exchange events); `info` events are recorded and listed but never alerted.
- An anomalous label is caught by the first alert on the same market (`MARKET` for market-wide moves) detected
  between 10 s before its onset (bucket alignment) and its end. Delay = detected_at − onset (event time).
- An alert is a true positive if it lies in [onset − 10 s, end + 120 s] of an anomalous label of its market (the
  tail covers the reversal of a pump); every other alert — including coin alerts during a market-wide move and
  anything on a slow trend — is a false alert. Market-days = markets × run length / 1 day.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import median
from typing import Any

from analytics.anomalies import ROW_COLUMNS, anomaly_rows
from anomaly.detector import BucketRow, DetectorConfig
from anomaly.engine import DetectorEngine, StepInput
from anomaly.lifecycle import Lifecycle
from db.connection import connect
from upbit_core.settings import Settings, get_settings
from upbit_core.severity import severity_rank

log = logging.getLogger(__name__)

NOT_ALERTS = frozenset({"data_stale", "caution_flag"})
EARLY_TOLERANCE_MS = 10_000
TAIL_MS = 120_000


@dataclass
class LabelOutcome:
    event_id: str
    market: str
    kind: str
    onset_ms: int
    caught: bool
    delay_s: float | None
    anomaly_kind: str | None = None
    severity: str | None = None


@dataclass
class EvalReport:
    labels: int
    anomalous: int
    caught: int
    caught_within: dict[int, int]
    median_delay_s: float | None
    alerts: int
    false_alerts: int
    market_days: float
    outcomes: list[LabelOutcome] = field(default_factory=list)
    false_examples: list[dict[str, Any]] = field(default_factory=list)
    p95_delay_s: float | None = None
    # false alerts per severity (low / medium / high / critical) and the medium+ alerts (what Slack gets)
    false_by_severity: dict[str, int] = field(default_factory=dict)
    alerts_medium_plus: int = 0
    true_medium_plus: int = 0
    early_warnings: int = 0
    # delay to the first medium+ version (what Slack gets) of each label that got one
    loud_delays: list[float] = field(default_factory=list)

    @property
    def false_medium_plus(self) -> int:
        return self.alerts_medium_plus - self.true_medium_plus

    @property
    def precision_medium_plus(self) -> float | None:
        return self.true_medium_plus / self.alerts_medium_plus if self.alerts_medium_plus else None

    @property
    def recall(self) -> float:
        return self.caught / self.anomalous if self.anomalous else 1.0

    def share_within(self, seconds: int) -> float:
        return self.caught_within.get(seconds, 0) / self.anomalous if self.anomalous else 1.0

    @property
    def false_per_market_day(self) -> float:
        return self.false_alerts / self.market_days if self.market_days else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "anomalous": self.anomalous,
            "caught": self.caught,
            "recall_pct": round(100 * self.recall, 1),
            "caught_within_30s_pct": round(100 * self.share_within(30), 1),
            "caught_within_60s_pct": round(100 * self.share_within(60), 1),
            "caught_within_120s_pct": round(100 * self.share_within(120), 1),
            "median_delay_s": self.median_delay_s,
            "alerts": self.alerts,
            "false_alerts": self.false_alerts,
            "market_days": round(self.market_days, 3),
            "false_alerts_per_market_day": round(self.false_per_market_day, 3),
            "missed": [o.event_id for o in self.outcomes if not o.caught],
            "p95_delay_s": self.p95_delay_s,
            "early_warnings": self.early_warnings,
            "false_by_severity": dict(self.false_by_severity),
            "false_medium_plus_per_market_day": round(self.false_medium_plus / self.market_days, 3)
            if self.market_days
            else 0.0,
            "precision_medium_plus_pct": None
            if self.precision_medium_plus is None
            else round(100 * self.precision_medium_plus, 1),
            "false_examples": self.false_examples[:10],
            "caught_medium_plus_within_60s_pct": round(
                100 * sum(1 for d in self.loud_delays if d <= 60) / self.anomalous, 1
            )
            if self.anomalous
            else 100.0,
            "median_medium_plus_delay_s": round(median(self.loud_delays), 1) if self.loud_delays else None,
        }


def _ms(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def alert_events(a: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(event ms, severity) of every alert version an anomaly sent: the opening and each escalation."""
    raw = a.get("metrics")
    metrics: dict[str, Any] = raw if isinstance(raw, dict) else {}
    raw_detail = metrics.get("detail")
    detail: dict[str, Any] = raw_detail if isinstance(raw_detail, dict) else {}
    escalations = metrics.get("escalations") or detail.get("escalations") or []
    opened = str(metrics.get("opened_severity") or detail.get("opened_severity") or a["severity"])
    events = [(_ms(a["detected_at"]), opened)]
    events += [(int(e[0]), str(e[1])) for e in escalations if isinstance(e, list | tuple) and len(e) == 2]
    return [(t, s) for t, s in events if s != "info"]


def score(
    anomalies: Sequence[Mapping[str, Any]],
    labels: Iterable[Mapping[str, Any]],
    *,
    markets: int,
    duration_s: float,
    early_tolerance_ms: int = EARLY_TOLERANCE_MS,
    warning_window_ms: int = 0,
) -> EvalReport:
    """Pure scoring of detected anomalies against labels (see the module docstring for the rules).

    `early_tolerance_ms`: how long before the labelled onset an alert still catches the label (minute-resolution
    labels of real pumps: 60 s). `warning_window_ms`: alerts on the label's market in the window before that are
    early warnings (pre-pump accumulation) — counted separately, neither caught nor false."""
    labels = list(labels)
    alerts = sorted(
        (a for a in anomalies if a["kind"] not in NOT_ALERTS and alert_events(a)),
        key=lambda a: (_ms(a["detected_at"]), str(a["market"])),
    )
    anomalous = [lab for lab in labels if lab.get("anomalous")]
    outcomes: list[LabelOutcome] = []
    within = {30: 0, 60: 0, 120: 0}
    delays: list[float] = []
    loud_delays: list[float] = []
    early_warnings = 0
    for lab in anomalous:
        onset, end = int(lab["onset_ms"]), int(lab["end_ms"])
        hits = sorted(
            (t, sev, a)
            for a in alerts
            if a["market"] == lab["market"]
            for t, sev in [(t, s) for t, s in alert_events(a) if onset - early_tolerance_ms <= t <= end]
        )
        early_warnings += sum(
            1
            for a in alerts
            if a["market"] == lab["market"]
            and onset - early_tolerance_ms - warning_window_ms <= _ms(a["detected_at"]) < onset - early_tolerance_ms
        )
        slack_times = [t for t, sev, _ in hits if severity_rank(sev) >= severity_rank("medium")]
        if slack_times:
            loud_delays.append(max(0.0, (slack_times[0] - onset) / 1000))
        if hits:
            t, sev, first = hits[0]
            delay = max(0.0, (t - onset) / 1000)
            delays.append(delay)
            for s in within:
                if delay <= s:
                    within[s] += 1
            outcomes.append(
                LabelOutcome(lab["event_id"], lab["market"], lab["kind"], onset, True, delay, first["kind"], sev)
            )
        else:
            outcomes.append(LabelOutcome(lab["event_id"], lab["market"], lab["kind"], onset, False, None))
    false: list[dict[str, Any]] = []
    false_sev = {s: 0 for s in ("low", "medium", "high", "critical")}
    medium_plus = true_medium_plus = 0
    for a in alerts:
        t = _ms(a["detected_at"])
        ok = any(
            a["market"] == lab["market"]
            and int(lab["onset_ms"]) - early_tolerance_ms - warning_window_ms <= t <= int(lab["end_ms"]) + TAIL_MS
            for lab in anomalous
        )
        loud = severity_rank(str(a["severity"])) >= severity_rank("medium")
        medium_plus += loud
        true_medium_plus += loud and ok
        if not ok:
            false_sev[str(a["severity"])] = false_sev.get(str(a["severity"]), 0) + 1
            false.append(
                {
                    "market": a["market"],
                    "kind": a["kind"],
                    "severity": a["severity"],
                    "detected_at": datetime.fromtimestamp(t / 1000, tz=UTC).isoformat(),
                    "metrics": {k: a["metrics"].get(k) for k in ("value_ratio", "price_change_pct", "fills")}
                    if isinstance(a.get("metrics"), dict)
                    else {},
                }
            )
    return EvalReport(
        labels=len(labels),
        anomalous=len(anomalous),
        caught=sum(1 for o in outcomes if o.caught),
        caught_within=within,
        median_delay_s=round(median(delays), 1) if delays else None,
        alerts=len(alerts),
        false_alerts=len(false),
        market_days=markets * duration_s / 86_400,
        outcomes=outcomes,
        false_examples=false,
        p95_delay_s=round(_quantile(delays, 0.95), 1) if delays else None,
        early_warnings=early_warnings,
        false_by_severity=false_sev,
        alerts_medium_plus=medium_plus,
        true_medium_plus=true_medium_plus,
        loud_delays=loud_delays,
    )


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default), without numpy."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# What a replay is compared on: everything but the id and the interpretation (both depend on timing).
REPLAY_COLUMNS = tuple(c for c in ROW_COLUMNS if c not in ("id", "interpretation"))


def fetch_anomalies(settings: Settings) -> list[dict[str, Any]]:
    """Every anomaly as a plain dict in a stable order (what the replay-determinism test compares)."""
    conn = connect(settings, application_name="upbit-llm-anomaly-eval")
    try:
        rows = anomaly_rows(conn, order="replay")
    finally:
        conn.close()
    return [{k: row[k] for k in REPLAY_COLUMNS} for row in rows]


def bucketize(messages: Iterable[Mapping[str, Any]], bucket_ms: int = 10_000) -> dict[int, list[Any]]:
    """Fine buckets computed in memory from ticker dicts, exactly as the scan's SQL computes them (pure; unit
    tests and quick threshold studies use it). Returns {bucket start ms: [BucketRow sorted by code]}."""

    acc: dict[int, dict[str, list[Any]]] = {}
    for m in messages:
        ts = int(m["trade_timestamp"])
        price = float(m["trade_price"])
        if price <= 0:
            continue
        value = price * float(m.get("trade_volume") or 0.0)
        bid = m.get("ask_bid") == "BID"
        b = ts - ts % bucket_ms
        per = acc.setdefault(b, {})
        r = per.get(m["code"])
        if r is None:
            per[m["code"]] = [price, price, price, price, value, value if bid else 0.0, 1, int(bid), {ts}]
        else:
            r[1] = max(r[1], price)
            r[2] = min(r[2], price)
            r[3] = price
            r[4] += value
            r[5] += value if bid else 0.0
            r[6] += 1
            r[7] += int(bid)
            r[8].add(ts)
    return {
        b: [BucketRow(c, b, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], len(r[8])) for c, r in sorted(per.items())]
        for b, per in sorted(acc.items())
    }


def bucket_parts(messages: Iterable[Mapping[str, Any]], cfg: DetectorConfig) -> dict[int, list[Any]]:
    """{bucket start ms: its rows at the early-decision step} — what `run_engine` needs to decide inside buckets
    as the scan does (rows at the bucket size when early decisions are off)."""
    step = cfg.early_step_ms or cfg.bucket_ms
    out: dict[int, list[Any]] = {}
    for start, rows in bucketize(messages, step).items():
        out.setdefault(start - start % cfg.bucket_ms, []).extend(rows)
    return out


def run_engine(
    buckets: Mapping[int, list[Any]],
    *,
    config: DetectorConfig | None = None,
    cooldown_seconds: int = 600,
    quotes_krw: Mapping[str, float] | None = None,
    parts: bool = False,
) -> list[dict[str, Any]]:
    """Run the pure engine over in-memory buckets; returns anomalies shaped like `fetch_anomalies` rows.

    `parts=True`: `buckets` holds each bucket's rows at the early-decision step (`bucket_parts`), so the engine
    also decides inside buckets, as the scan does."""

    cfg = config or DetectorConfig()
    engine = DetectorEngine(cfg, Lifecycle(cfg, cooldown_seconds), quote_rates=quotes_krw)
    out: dict[str, dict[str, Any]] = {}
    if not buckets:
        return []
    first, last = min(buckets), max(buckets)
    for t in range(first, last + cfg.bucket_ms, cfg.bucket_ms):
        rows = list(buckets.get(t, ()))
        inp = StepInput(t, parts=rows) if parts and rows else StepInput(t, rows)
        for act in engine.step(inp):
            ep = act.episode
            row = out.setdefault(
                ep.dedup_key,
                {"market": ep.market, "started_at": ep.started_ms, "detected_at": ep.detected_ms, "status": "open"},
            )
            row.update(kind=ep.kind, severity=ep.severity, metrics=dict(ep.metrics))
            if act.op == "escalate":
                row["status"] = "escalated"
            elif act.op == "resolve":
                row.update(status="resolved", resolution=act.resolution, resolved_at=act.at_ms)
    return sorted(out.values(), key=lambda a: (a["detected_at"], a["market"]))


def load_labels(path: str) -> list[dict[str, Any]]:
    """A labels file (JSON Lines, the simulator's contract format); a malformed line raises with its number."""
    out: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from exc
            missing = {"event_id", "market", "kind", "onset_ms", "end_ms", "anomalous"} - set(item)
            if missing:
                raise ValueError(f"{path}:{n}: label lacks {sorted(missing)}")
            out.append(item)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m anomaly.evaluate --labels run.labels.jsonl --markets 160 --duration-s 3600`: score the anomalies
    already in the configured database (e.g. after `fake-upbit --simulate` → ingest → consume → `upbit-llm scan`)."""
    parser = argparse.ArgumentParser(prog="python -m anomaly.evaluate", description=main.__doc__)
    parser.add_argument("--labels", required=True, help="labels JSONL written by fake-upbit --simulate")
    parser.add_argument("--markets", type=int, required=True, help="number of markets in the run")
    parser.add_argument("--duration-s", type=float, required=True, help="length of the run in seconds")
    args = parser.parse_args(argv)
    try:
        labels = load_labels(args.labels)
    except (OSError, ValueError) as exc:
        print(f"cannot read labels: {exc}")
        return 2
    report = score(fetch_anomalies(get_settings()), labels, markets=args.markets, duration_s=args.duration_s)
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
