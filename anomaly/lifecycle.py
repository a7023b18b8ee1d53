"""Alert lifecycle in event time: episodes open → escalated → resolved (faded / reversed), cooldowns, data stale."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from anomaly.detector import DetectorConfig, Trigger, severity_rank

STALE_KEY = "MARKET/data_stale"


@dataclass
class Episode:
    """One anomaly while it is open. `key` is the state row (market, or MARKET/data_stale)."""

    key: str
    market: str
    kind: str
    severity: str
    status: str  # open / escalated
    started_ms: int
    detected_ms: int
    direction: int = 0
    ref_price: float = 0.0
    peak_price: float = 0.0
    last_price: float = 0.0
    last_active_ms: int = 0
    last_alert_ms: int = 0
    metrics: dict[str, object] = field(default_factory=dict)
    anomaly_id: int | None = None
    # [event ms, severity] of every escalation: each is a new alert version a trader receives (scoring uses it).
    escalations: list[list[object]] = field(default_factory=list)
    opened_severity: str = ""

    @property
    def dedup_key(self) -> str:
        return f"{self.kind if self.kind == 'data_stale' else 'episode'}:{self.market}:{self.started_ms}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Episode:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)  # type: ignore[arg-type]

    def move_pct(self, price: float) -> float:
        return (price / self.ref_price - 1.0) * 100.0 if self.ref_price > 0 and price > 0 else 0.0


@dataclass(frozen=True)
class Action:
    """A change the scan must persist: open (insert), escalate, update (metrics only) or resolve."""

    op: str
    episode: Episode
    at_ms: int
    resolution: str | None = None


@dataclass(frozen=True)
class Cooldown:
    until_ms: int
    severity: str


class Lifecycle:
    """Episodes and cooldowns for every market. Pure: callers pass event time in; nothing reads a clock."""

    def __init__(
        self,
        cfg: DetectorConfig,
        cooldown_seconds: int,
        episodes: dict[str, Episode] | None = None,
        cooldowns: dict[str, Cooldown] | None = None,
    ) -> None:
        self.cfg = cfg
        self.cooldown_ms = cooldown_seconds * 1000
        self.episodes: dict[str, Episode] = dict(episodes or {})
        self.cooldowns: dict[str, Cooldown] = dict(cooldowns or {})
        self.suppressed = 0

    def on_trigger(self, trig: Trigger, t_ms: int, detected_ms: int | None = None) -> Action | None:
        """A market crossed a threshold in bucket t: open, escalate or update its episode (or stay in cooldown).

        `detected_ms`: the event time of the decision — the bucket's end by default, earlier for an early
        decision inside the bucket (DetectorConfig.early_step_seconds)."""
        if detected_ms is None:
            detected_ms = t_ms + self.cfg.bucket_ms
        ep = self.episodes.get(trig.market)
        pct = float(trig.metrics.get("price_change_pct", 0.0) or 0.0)  # type: ignore[arg-type]
        if ep is None:
            cd = self.cooldowns.get(trig.market)
            if (
                cd is not None
                and detected_ms < cd.until_ms
                and severity_rank(trig.severity) <= severity_rank(cd.severity)
            ):
                self.suppressed += 1
                return None
            ref = trig.price / (1.0 + pct / 100.0) if trig.price > 0 and pct > -100 else 0.0
            ep = Episode(
                key=trig.market,
                market=trig.market,
                kind=trig.kind,
                severity=trig.severity,
                status="open",
                started_ms=t_ms - (trig.window_buckets - 1) * self.cfg.bucket_ms,
                detected_ms=detected_ms,
                direction=trig.direction,
                ref_price=ref,
                peak_price=trig.price,
                last_price=trig.price,
                last_active_ms=t_ms,
                last_alert_ms=detected_ms,
                opened_severity=trig.severity,
            )
            ep.metrics = self._metrics(ep, trig)
            self.episodes[trig.market] = ep
            return Action("open", replace(ep), detected_ms)
        ep.last_active_ms = t_ms
        if ep.direction == 0 and trig.direction != 0:
            # A volume spike that turns into a price move: the episode becomes a pump/dump from its own start.
            ep.direction = trig.direction
            ep.ref_price = trig.price / (1.0 + pct / 100.0) if pct > -100 else 0.0
            ep.peak_price = trig.price
        if ep.direction != 0 and trig.direction == ep.direction:
            ep.kind = trig.kind if trig.kind in ("pump", "dump", "market_move") else ep.kind
        ep.last_price = trig.price or ep.last_price
        self._track_peak(ep)
        ep.metrics = self._metrics(ep, trig)
        if severity_rank(trig.severity) > severity_rank(ep.severity):
            ep.severity = trig.severity
            ep.status = "escalated"
            ep.last_alert_ms = detected_ms
            ep.escalations.append([detected_ms, trig.severity])
            ep.metrics = self._metrics(ep, trig)
            return Action("escalate", replace(ep), detected_ms)
        return Action("update", replace(ep), detected_ms)

    def on_price(self, market: str, price: float, t_ms: int) -> Action | None:
        """Every evaluated bucket for a market with an open episode: reversal and quiet-period resolution."""
        ep = self.episodes.get(market)
        if ep is None or ep.kind == "data_stale":
            return None
        at = t_ms + self.cfg.bucket_ms
        if price > 0:
            ep.last_price = price
            self._track_peak(ep)
        if ep.direction != 0 and ep.ref_price > 0:
            peak_move = abs(ep.move_pct(ep.peak_price))
            now_move = ep.move_pct(ep.last_price) * ep.direction
            if peak_move >= self.cfg.price_move_min_pct and now_move <= peak_move * (1.0 - self.cfg.reversal_retrace):
                return self.resolve(market, at, "reversed")
        if t_ms - ep.last_active_ms >= self.cfg.quiet_seconds * 1000:
            return self.resolve(market, at, "faded")
        return None

    def resolve(self, key: str, at_ms: int, resolution: str) -> Action | None:
        ep = self.episodes.pop(key, None)
        if ep is None:
            return None
        if ep.kind != "data_stale":
            ep.metrics = _ordered({**ep.metrics, "final_change_pct": round(ep.move_pct(ep.last_price), 3)})
            # Cooldown counts from the last alert sent for the episode (open or escalation), not from resolution.
            last_alert = ep.last_alert_ms or ep.detected_ms
            cooldown = self.cooldown_ms
            if key == "MARKET":
                cooldown = min(cooldown, self.cfg.market_cooldown_seconds * 1000)
            self.cooldowns[key] = Cooldown(max(at_ms, last_alert + cooldown), ep.severity)
        return Action("resolve", ep, at_ms, resolution)

    def open_stale(self, started_ms: int, detected_ms: int, metrics: dict[str, object]) -> Action | None:
        if STALE_KEY in self.episodes:
            return None
        ep = Episode(
            key=STALE_KEY,
            market="MARKET",
            kind="data_stale",
            severity="medium",
            status="open",
            started_ms=started_ms,
            detected_ms=detected_ms,
            last_active_ms=detected_ms,
            metrics=metrics,
        )
        self.episodes[STALE_KEY] = ep
        return Action("open", replace(ep), detected_ms)

    @property
    def stale_open(self) -> bool:
        return STALE_KEY in self.episodes

    @staticmethod
    def _track_peak(ep: Episode) -> None:
        rising_peak = ep.direction > 0 and ep.last_price > ep.peak_price
        falling_trough = ep.direction < 0 and (ep.peak_price <= 0 or ep.last_price < ep.peak_price)
        if rising_peak or falling_trough:
            ep.peak_price = ep.last_price

    @staticmethod
    def _metrics(ep: Episode, trig: Trigger) -> dict[str, object]:
        return _ordered(Lifecycle._raw_metrics(ep, trig))

    @staticmethod
    def _raw_metrics(ep: Episode, trig: Trigger) -> dict[str, object]:
        metrics = dict(trig.metrics)
        prev_detail = ep.metrics.get("detail")
        prev_peak = ep.metrics.get("peak_value_ratio") or (
            prev_detail.get("peak_value_ratio", 0.0) if isinstance(prev_detail, dict) else 0.0
        )
        metrics["peak_value_ratio"] = max(float(prev_peak or 0.0), float(trig.metrics.get("value_ratio", 0.0) or 0.0))  # type: ignore[arg-type]
        if ep.escalations:
            metrics["escalations"] = [list(e) for e in ep.escalations]
            metrics["opened_severity"] = ep.opened_severity
        if ep.ref_price > 0:
            metrics["ref_price"] = ep.ref_price
            metrics["change_since_start_pct"] = round(ep.move_pct(ep.last_price), 3)
            metrics["peak_change_pct"] = round(ep.move_pct(ep.peak_price), 3)
        return metrics


# Headline numbers stay top-level (readers such as MCP and the LLM context keep only the first ~10 keys, and jsonb
# orders keys by length); the rest goes under "detail". Units are in the key names.
HEADLINE = (
    "price_change_pct",
    "peak_change_pct",
    "final_change_pct",
    "value_ratio",
    "window_seconds",
    "value_krw",
    "baseline_value_krw",
    "buy_share_pct",
    "fills",
    "markets_moving",
    "markets_liquid",
    "share_pct",
    "median_change_pct",
    "direction",
)


def _finite(value: object) -> object:
    # jsonb rejects NaN/Infinity: an absurd input (a fill of 1e300 units) must not make the scan fail.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _ordered(metrics: dict[str, object]) -> dict[str, object]:
    metrics = {k: _finite(v) for k, v in metrics.items()}
    prior = metrics.pop("detail", None)
    head = {k: metrics[k] for k in HEADLINE if k in metrics}
    detail = {**(prior if isinstance(prior, dict) else {}), **{k: v for k, v in metrics.items() if k not in head}}
    return {**head, "detail": detail} if detail else head
