"""The detector engine: feeds buckets in event-time order through tracks, signals and the lifecycle (pure)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from anomaly.detector import (
    BucketRow,
    DetectorConfig,
    Features,
    MarketTrack,
    Trigger,
    classify,
    compute_features,
    market_context,
    market_trigger,
    merge_rows,
    peek_features,
    severity_rank,
)
from anomaly.lifecycle import STALE_KEY, Action, Lifecycle

log = logging.getLogger(__name__)


@dataclass
class StepInput:
    """Everything the engine needs about bucket `t_ms`: its rows and which data is known to be missing.

    `parts` (optional) are the bucket's rows at the early-decision step (DetectorConfig.early_step_seconds), in
    time order: with them the engine also decides inside the bucket; `rows` is then their merge when left empty."""

    t_ms: int
    rows: list[BucketRow] = field(default_factory=list)
    gap_codes: frozenset[str] = frozenset()  # markets inside a recorded per-market ingest gap
    global_gap: bool = False  # inside a recorded gap of the whole feed
    parts: list[BucketRow] = field(default_factory=list)


def merge_parts(t_ms: int, parts: Iterable[BucketRow], until_ms: int | None = None) -> list[BucketRow]:
    """Per market, the merge of its `parts` that start before `until_ms` (all by default), sorted by code."""
    by_code: dict[str, list[BucketRow]] = {}
    for r in sorted(parts, key=lambda r: (r.code, r.start_ms)):
        if until_ms is None or r.start_ms < until_ms:
            by_code.setdefault(r.code, []).append(r)
    return [merge_rows(code, t_ms, rows) for code, rows in by_code.items()]


class DetectorEngine:
    """Stateful over a scan, but rebuilt deterministically each scan from stored buckets plus persisted episodes.

    `warm()` replays the trailing baseline window (no evaluation); `step()` evaluates one bucket. Because the
    baseline only depends on the last `baseline_minutes` of buckets, a rebuilt engine computes exactly what a
    long-running one would: results do not depend on when or how often scans run.
    """

    def __init__(
        self,
        cfg: DetectorConfig,
        lifecycle: Lifecycle,
        stale_until_ms: int | None = None,
        quote_rates: Mapping[str, float] | None = None,
    ) -> None:
        self.cfg = cfg
        # KRW per unit of each quote currency when the KRW-<quote> market has not traded yet (the live rate, the
        # last close of KRW-BTC / KRW-USDT in event time, wins): money thresholds are in KRW for every quote.
        self.quote_rates: dict[str, float] = {"KRW": 1.0, **dict(quote_rates or {})}
        self.lifecycle = lifecycle
        self.tracks: dict[str, MarketTrack] = {}
        self.silent_buckets = 0  # consecutive buckets without a single fill on any market
        self.silence_started_ms: int | None = None
        # Alerts stay suppressed until this event time (grace after the data resumed).
        self.stale_until_ms = stale_until_ms
        self.evaluated = 0

    def to_state(self) -> dict[str, object]:
        """The engine's carry-over between scans (tracks and the all-market silence counter), JSON-ready."""
        return {
            "tracks": {code: t.to_state() for code, t in self.tracks.items()},
            "silent_buckets": self.silent_buckets,
            "silence_started_ms": self.silence_started_ms,
        }

    def restore(self, state: dict[str, object]) -> None:
        """Continue exactly where a previous scan stopped (instead of warming up from stored buckets)."""
        tracks = state.get("tracks")
        if isinstance(tracks, dict):
            self.tracks = {code: MarketTrack.from_state(code, self.cfg, t) for code, t in sorted(tracks.items())}
        self.silent_buckets = int(state.get("silent_buckets") or 0)  # type: ignore[call-overload]
        started = state.get("silence_started_ms")
        self.silence_started_ms = int(started) if isinstance(started, int | float) else None

    def krw_rate(self, quote: str) -> float | None:
        """KRW per unit of `quote` as of the buckets advanced so far (None: unknown, the market is not judged)."""
        if quote == "KRW":
            return 1.0
        track = self.tracks.get(f"KRW-{quote}")
        if track is not None and track.last_close:
            return track.last_close
        return self.quote_rates.get(quote)

    def _to_krw(self, rows: Iterable[BucketRow]) -> list[BucketRow]:
        """Values of BTC-/USDT-quoted markets in KRW at the rate known before this bucket (deterministic: the
        rate never depends on the order of markets inside a bucket)."""
        out: list[BucketRow] = []
        rates: dict[str, float | None] = {}
        for r in rows:
            quote = r.code.split("-", 1)[0]
            if quote == "KRW":
                out.append(r)
                continue
            if quote not in rates:
                rates[quote] = self.krw_rate(quote)
            rate = rates[quote]
            if rate is None:
                continue
            out.append(replace(r, value=r.value * rate, buy_value=r.buy_value * rate))
        return out

    def _advance(self, t_ms: int, rows: Iterable[BucketRow]) -> int:
        by_code = {r.code: r for r in self._to_krw(rows)}
        for code in by_code:
            if code not in self.tracks:
                self.tracks[code] = MarketTrack(code, self.cfg)
        fills = 0
        for code in sorted(self.tracks):
            track = self.tracks[code]
            row = by_code.get(code)
            track.advance(t_ms, row)
            if row is not None:
                fills += row.fills
        if fills == 0:
            if self.silent_buckets == 0:
                self.silence_started_ms = t_ms
            self.silent_buckets += 1
        else:
            self.silent_buckets = 0
            self.silence_started_ms = None
        return fills

    def warm(self, t_ms: int, rows: Iterable[BucketRow]) -> None:
        """Account a bucket that was evaluated by an earlier scan (history for the baseline only)."""
        self._advance(t_ms, rows)

    def _expected_fills_per_bucket(self, t_ms: int) -> float:
        return sum(t.baseline(t_ms).fills_per_bucket for t in self.tracks.values() if t.minutes)

    def peek(self, inp: StepInput, until_ms: int) -> list[Action]:
        """Early decisions inside bucket `inp.t_ms` at every early-decision point up to `until_ms` (from its
        `parts` so far), the tracks unchanged: only a medium+ open or escalation is acted on. Repeating a point
        with the same fills acts no more (the episode is open at that severity), so a live scan may peek at the
        bucket it has not finished and evaluate the same points again when it does."""
        cfg = self.cfg
        step = cfg.early_step_ms
        if not step or inp.global_gap or self.lifecycle.stale_open:
            return []
        t_ms = inp.t_ms
        if self.stale_until_ms is not None and t_ms + cfg.bucket_ms <= self.stale_until_ms:
            return []
        actions: list[Action] = []
        for point in range(t_ms + step, min(until_ms, t_ms + cfg.bucket_ms - step) + 1, step):
            rows = {r.code: r for r in self._to_krw(merge_parts(t_ms, inp.parts, point))}
            if not self._worth_peeking(t_ms, rows):
                continue
            feats: list[Features] = []
            for code in sorted(self.tracks.keys() | rows.keys()):
                if code in inp.gap_codes:
                    continue
                track = self.tracks.get(code) or MarketTrack(code, cfg)
                f = peek_features(track, t_ms, rows.get(code), point)
                if f is not None:
                    feats.append(f)
            actions += self._decide(t_ms, feats, point, frozenset(rows))
        return actions

    def _worth_peeking(self, t_ms: int, rows: Mapping[str, BucketRow]) -> bool:
        """Cheap necessary condition for a medium+ early decision, so the full feature pass runs only when one is
        possible: a market that traded since the bucket began moved >= price_move_min_pct against one of the closes
        its windows start from (a coin's price signal), or >= market_move_min_markets markets moved >=
        market_medium_min_pct the same way in the same 30/60-s window (a medium market-wide move)."""
        cfg = self.cfg
        top = severity_rank("critical")
        for code, row in rows.items():
            track = self.tracks.get(code)
            if track is None or row.close <= 0:
                continue
            ep = self.lifecycle.episodes.get(code)
            if ep is not None and severity_rank(ep.severity) >= top:
                continue  # nothing to escalate to
            refs = [r.close for r in list(track.recent)[-max(cfg.windows) :] if r.close > 0]
            if refs and max(abs(row.close / ref - 1.0) for ref in refs) * 100.0 >= cfg.price_move_min_pct:
                return True
        counts: dict[tuple[bool, int], int] = {}
        for code, track in self.tracks.items():
            recent = track.peek_recent(t_ms, rows.get(code))
            close = recent[-1].close
            if close <= 0:
                continue
            for k in cfg.windows[1:]:
                ref = recent[-k - 1].close if len(recent) > k else 0.0
                if ref > 0 and abs(close / ref - 1.0) * 100.0 >= cfg.market_medium_min_pct:
                    key = (close > ref, k)
                    counts[key] = counts.get(key, 0) + 1
        return any(n >= cfg.market_move_min_markets for n in counts.values())

    def _decide(self, t_ms: int, feats: list[Features], point_ms: int, traded: frozenset[str]) -> list[Action]:
        """Medium+ opens and escalations from features of windows ending at `point_ms` (an early decision). Only
        markets that traded since the bucket began (`traded`) are judged as coins: one that has not has shown
        nothing new since the last bucket end; every market still counts in the market-wide context."""
        cfg = self.cfg
        by_quote: dict[str, list[Features]] = {}
        for f in feats:
            by_quote.setdefault(f.code.split("-", 1)[0], []).append(f)
        contexts = {q: market_context(fs, cfg) for q, fs in by_quote.items()}
        triggers = []
        mt = market_trigger(contexts.get("KRW") or market_context([], cfg), cfg)
        if mt is not None:
            triggers.append(mt)
        triggers += [
            t
            for f in feats
            if f.code in traded and (t := classify(f, contexts[f.code.split("-", 1)[0]], cfg)) is not None
        ]
        actions: list[Action] = []
        seen_ms = point_ms - t_ms  # the unfinished bucket's seconds: a window's true length ends here
        for trig in triggers:
            if severity_rank(trig.severity) < severity_rank("medium"):
                continue
            trig = _seen_window(trig, (trig.window_buckets - 1) * cfg.bucket_seconds + seen_ms / 1000, cfg)
            ep = self.lifecycle.episodes.get(trig.market)
            if ep is not None and severity_rank(trig.severity) <= severity_rank(ep.severity):
                continue
            act = self.lifecycle.on_trigger(trig, t_ms, detected_ms=point_ms)
            if act:
                actions.append(act)
        return actions

    def step(self, inp: StepInput) -> list[Action]:
        """Evaluate bucket `inp.t_ms` exactly once (after its early decisions, when it has `parts`); returns the
        lifecycle actions to persist, in order."""
        cfg = self.cfg
        t_ms = inp.t_ms
        bucket_end = t_ms + cfg.bucket_ms
        early = self.peek(inp, bucket_end) if inp.parts else []
        if inp.parts and not inp.rows:
            inp = replace(inp, rows=merge_parts(t_ms, inp.parts))
        self._advance(t_ms, inp.rows)
        self.evaluated += 1
        actions: list[Action] = list(early)
        silent_for_s = self.silent_buckets * cfg.bucket_seconds
        silence = (
            silent_for_s >= cfg.stale_silence_seconds
            and self._expected_fills_per_bucket(t_ms) * self.silent_buckets >= cfg.stale_min_expected_fills
        )
        if inp.global_gap or silence:
            started = self.silence_started_ms if silence and self.silence_started_ms is not None else t_ms
            act = self.lifecycle.open_stale(
                started,
                bucket_end,
                {
                    "reason": "ingest_gap" if inp.global_gap else "no_fills_on_any_market",
                    "silent_seconds": silent_for_s,
                },
            )
            if act:
                actions.append(act)
            self.stale_until_ms = None
            return actions
        if self.lifecycle.stale_open and self.silent_buckets == 0:
            act = self.lifecycle.resolve(STALE_KEY, bucket_end, "data_resumed")
            if act:
                actions.append(act)
            # Baselines and returns straddle the hole for a while: keep quiet during a grace period.
            self.stale_until_ms = bucket_end + cfg.stale_grace_seconds * 1000
        suppressed = self.stale_until_ms is not None and bucket_end <= self.stale_until_ms
        feats: list[Features] = []
        for code in sorted(self.tracks):
            track = self.tracks[code]
            if code in inp.gap_codes:
                continue
            f = compute_features(track, t_ms)
            if f is not None:
                feats.append(f)
        # Markets are judged against their own quote's market: a BTC move shifts every BTC-quoted price at once.
        by_quote: dict[str, list[Features]] = {}
        for f in feats:
            by_quote.setdefault(f.code.split("-", 1)[0], []).append(f)
        contexts = {q: market_context(fs, cfg) for q, fs in by_quote.items()}
        if not suppressed:
            ctx = contexts.get("KRW") or market_context([], cfg)
            mt = market_trigger(ctx, cfg)
            if mt is not None:
                act = self.lifecycle.on_trigger(mt, t_ms)
                if act:
                    actions.append(act)
            for f in feats:
                trig = classify(f, contexts[f.code.split("-", 1)[0]], cfg)
                if trig is not None:
                    act = self.lifecycle.on_trigger(trig, t_ms)
                    if act:
                        actions.append(act)
        # Reversal / quiet resolution for every open episode (coins by their close; MARKET by time only).
        closes = {f.code: f.close for f in feats}
        for key in sorted(self.lifecycle.episodes):
            if key == STALE_KEY:
                continue
            known = self.tracks.get(key)
            price = closes.get(key) or (known.last_close if known and known.last_close else 0.0)
            act = self.lifecycle.on_price(key, price, t_ms)
            if act:
                actions.append(act)
        return actions


def _seen_window(trig: Trigger, span_s: float, cfg: DetectorConfig) -> Trigger:
    """An early decision's numbers for the window it saw (`span_s` seconds, not the full k x 10 s): its length, and
    the market's normal value, orders and fills for that length, so value / normal = the ratio it states."""
    metrics = dict(trig.metrics)
    metrics["window_seconds"] = int(span_s) if float(span_s).is_integer() else round(span_s, 1)
    full_s = trig.window_buckets * cfg.bucket_seconds
    factor = span_s / full_s if full_s and span_s > 0 else 1.0
    if trig.market != "MARKET" and factor < 1.0:
        for key in ("baseline_value_krw", "baseline_orders", "baseline_fills"):
            value = metrics.get(key)
            if isinstance(value, int | float):
                metrics[key] = round(value * factor, 2)
        ratio = metrics.get("value_ratio")
        if isinstance(ratio, int | float):
            metrics["value_ratio"] = round(ratio / factor, 2)
    return replace(trig, metrics=metrics)
