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

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import median
from typing import Any

from db.connection import connect
from upbit_core.settings import Settings

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
            "false_examples": self.false_examples[:10],
        }


def _ms(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def score(
    anomalies: Sequence[Mapping[str, Any]], labels: Iterable[Mapping[str, Any]], *, markets: int, duration_s: float
) -> EvalReport:
    """Pure scoring of detected anomalies against labels (see the module docstring for the rules)."""
    labels = list(labels)
    alerts = sorted(
        (a for a in anomalies if a["kind"] not in NOT_ALERTS and a["severity"] != "info"),
        key=lambda a: (_ms(a["detected_at"]), str(a["market"])),
    )
    anomalous = [lab for lab in labels if lab.get("anomalous")]
    outcomes: list[LabelOutcome] = []
    within = {30: 0, 60: 0, 120: 0}
    delays: list[float] = []
    for lab in anomalous:
        onset, end = int(lab["onset_ms"]), int(lab["end_ms"])
        hits = [
            a
            for a in alerts
            if a["market"] == lab["market"] and onset - EARLY_TOLERANCE_MS <= _ms(a["detected_at"]) <= end
        ]
        if hits:
            first = hits[0]
            delay = max(0.0, (_ms(first["detected_at"]) - onset) / 1000)
            delays.append(delay)
            for s in within:
                if delay <= s:
                    within[s] += 1
            outcomes.append(
                LabelOutcome(
                    lab["event_id"], lab["market"], lab["kind"], onset, True, delay, first["kind"], first["severity"]
                )
            )
        else:
            outcomes.append(LabelOutcome(lab["event_id"], lab["market"], lab["kind"], onset, False, None))
    false: list[dict[str, Any]] = []
    for a in alerts:
        t = _ms(a["detected_at"])
        ok = any(
            a["market"] == lab["market"]
            and int(lab["onset_ms"]) - EARLY_TOLERANCE_MS <= t <= int(lab["end_ms"]) + TAIL_MS
            for lab in anomalous
        )
        if not ok:
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
    )


def fetch_anomalies(settings: Settings) -> list[dict[str, Any]]:
    """Every anomaly as a plain dict in a stable order (what the replay-determinism test compares)."""
    conn = connect(settings, application_name="upbit-llm-anomaly-eval")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT market, kind, severity, status, started_at, detected_at, resolved_at, resolution, metrics,"
                " dedup_key FROM anomalies ORDER BY detected_at, market, dedup_key"
            )
            cols = [d[0] for d in cur.description or ()]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def load_labels(path: str) -> list[dict[str, Any]]:
    """A labels file (JSON Lines, the simulator's contract format); a malformed line raises with its number."""
    import json

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
    import argparse
    import json

    from upbit_core.settings import get_settings

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
