"""The alert's view of one anomaly event: loaded once from the database, formatted the same for every channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg2.extensions

from analytics.anomalies import anomaly_by_id

UNVERIFIED_MARK = "⚠️ 수치 미검증 · numbers not verified"  # the same words as llm.verify.UNVERIFIED_MARK
STATUS_VERSION = {"open": 1, "escalated": 2, "resolved": 3}
KIND_LABEL = {
    "pump": "pump",
    "dump": "dump",
    "price_jump": "price jump",
    "value_spike": "volume spike",
    "buy_burst": "buy-pressure burst",
    "market_move": "market-wide move",
    "caution_flag": "Upbit caution flag",
    "data_stale": "data stale",
}
SEVERITY_EMOJI = {"info": "ℹ️", "low": "🟦", "medium": "🟨", "high": "🟧", "critical": "🟥"}
# The two parts of one status version: the facts go out the moment the event opens (no model in the way); the
# interpretation follows as a second message when it arrives (docs/anomaly-alerts.md, "Facts first").
PART_ALERT = "alert"
PART_READING = "reading"


@dataclass(frozen=True)
class AlertEvent:
    id: int
    market: str
    korean_name: str
    english_name: str
    kind: str
    severity: str
    status: str
    started_at: datetime
    detected_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    metrics: dict[str, Any]
    interpretation: dict[str, Any] | None
    part: str = PART_ALERT

    @property
    def version(self) -> int:
        """1 open, 2 escalated, 3 resolved: each version of an event is delivered once per channel."""
        return STATUS_VERSION.get(self.status, 1)

    @property
    def as_of(self) -> datetime:
        return self.resolved_at or self.detected_at

    def idempotency_key(self, channel: str) -> str:
        suffix = "" if self.part == PART_ALERT else f"-{self.part}"
        return f"anomaly-{self.id}-v{self.version}-{channel}{suffix}"

    @property
    def title(self) -> str:
        label = KIND_LABEL.get(self.kind, self.kind)
        name = f"{self.market} ({self.korean_name})" if self.korean_name else self.market
        prefix = "Resolved: " if self.status == "resolved" else "Escalated: " if self.status == "escalated" else ""
        if self.part == PART_READING:
            prefix = "Interpretation: " + prefix
        return f"{prefix}{name} {label} — {self.severity}"

    def move_text(self) -> str:
        m = self.metrics
        if self.kind == "market_move":
            return (
                f"{m.get('markets_moving', '?')} of {m.get('markets_liquid', '?')} markets {m.get('direction', '')}, "
                f"median {_pct(m.get('median_change_pct'))} in {m.get('window_seconds', '?')} s"
            )
        if self.kind == "data_stale":
            return f"no usable data ({m.get('reason', 'unknown')})"
        if self.kind == "caution_flag":
            flags_set = ", ".join(m.get("flags_set") or []) or "-"
            flags_cleared = ", ".join(m.get("flags_cleared") or []) or "-"
            return f"set: {flags_set}; cleared: {flags_cleared}"
        parts = [f"{_pct(m.get('price_change_pct'))} in {m.get('window_seconds', '?')} s"]
        if m.get("peak_change_pct") is not None:
            parts.append(f"peak {_pct(m.get('peak_change_pct'))} since start")
        if m.get("final_change_pct") is not None:
            parts.append(f"now {_pct(m.get('final_change_pct'))}")
        return ", ".join(parts)

    def volume_text(self) -> str:
        m = self.metrics
        if "value_krw" not in m:
            return f"×{m['value_ratio']} vs normal" if "value_ratio" in m else "-"
        return (
            f"×{m.get('value_ratio')} vs normal ({_krw(m.get('value_krw'))} vs {_krw(m.get('baseline_value_krw'))}), "
            f"buy share {m.get('buy_share_pct', '?')} %, {m.get('fills', '?')} fills"
        )

    @property
    def numbers_verified(self) -> bool | None:
        """Whether the interpretation's figures passed claim-level verification (None: no interpretation yet)."""
        if not self.interpretation:
            return None
        return self.interpretation.get("grounded") is not False

    def interpretation_text(self) -> str:
        it = self.interpretation
        if not it:
            return (
                "Interpretation pending: it follows in a separate message."
                if self.part == PART_ALERT
                else "No interpretation."
            )
        text = str(it.get("text") or "").strip()
        if self.numbers_verified is False:
            # An unverified reading is delivered only marked (docs/truth.md): the marker leads, so no reader misses it.
            text = f"{UNVERIFIED_MARK}\n{text}"
        cause = it.get("cause_category")
        conf = it.get("confidence")
        watch = it.get("watch_next") or []
        out = text[:600]
        if cause:
            out += f"\nLikely cause: {cause} (confidence {conf or '?'})"
        if watch:
            out += "\nWatch: " + "; ".join(str(w) for w in watch[:3])
        return out.strip()


def _pct(value: Any) -> str:
    try:
        return f"{float(value):+.2f} %"
    except (TypeError, ValueError):
        return "?"


def _krw(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "?"
    if v >= 1e8:
        return f"{v / 1e8:,.2f}억 KRW"
    if v >= 1e4:
        return f"{v / 1e4:,.0f}만 KRW"
    return f"{v:,.0f} KRW"


def load_event(conn: psycopg2.extensions.connection, anomaly_id: int) -> AlertEvent | None:
    """The event as alerts see it (read by `analytics.anomalies`, the one reader of anomaly rows); ends the
    caller's read transaction so a long delivery holds no snapshot."""
    row = anomaly_by_id(conn, anomaly_id)
    conn.commit()
    if row is None:
        return None
    return AlertEvent(
        id=int(row["id"]),
        market=row["market"],
        korean_name=row["korean_name"],
        english_name=row["english_name"],
        kind=row["kind"],
        severity=row["severity"],
        status=row["status"],
        started_at=row["started_at"],
        detected_at=row["detected_at"],
        resolved_at=row["resolved_at"],
        resolution=row["resolution"],
        metrics=dict(row["metrics"] or {}),
        interpretation=dict(row["interpretation"]) if isinstance(row["interpretation"], dict) else None,
    )
