"""Compare what the scan stored with what the pure engine decides: each episode's alert versions in event time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from anomaly.detector import DetectorConfig
from anomaly.evaluate import alert_events, bucket_parts, run_engine

Versions = list[tuple[str, int, str, list[tuple[int, str]]]]


def _ms(value: Any) -> int:
    return value if isinstance(value, int) else int(value.timestamp() * 1000)


def versions(rows: Sequence[Mapping[str, Any]], end_ms: int) -> Versions:
    """(market, started ms, severity now, [(event ms, severity) of each alert version]) of every coin/market
    episode that started before `end_ms`, versions before `end_ms` only (what a scan up to that watermark has
    decided). The severity column is what delivery reads: an escalation lost on the way leaves it behind."""
    out = []
    for a in rows:
        started = _ms(a["started_at"])
        if a["kind"] in ("data_stale", "caution_flag") or started >= end_ms:
            continue
        out.append((str(a["market"]), started, str(a["severity"]), [(t, s) for t, s in alert_events(a) if t < end_ms]))
    return sorted(out)


def pure_versions(messages: Sequence[Mapping[str, Any]], end_ms: int) -> Versions:
    """The pure engine (early decisions on, as the scan runs it) over the messages before `end_ms`."""
    cfg = DetectorConfig()
    kept = [m for m in messages if int(m["trade_timestamp"]) < end_ms]
    return versions(run_engine(bucket_parts(kept, cfg), config=cfg, parts=True), end_ms)


def scan_matches_pure_engine(settings: Any, messages: Sequence[Mapping[str, Any]]) -> Versions:
    """Load `messages`, scan them at once, and check the stored versions equal the pure engine's over the same
    range (up to the scan's watermark); returns the stored versions."""
    from anomaly.evaluate import fetch_anomalies
    from anomaly.scan import run_scan
    from tests.support.rows import load_messages

    load_messages(settings, messages)
    result = run_scan(settings, live=False)
    assert result.watermark_to is not None
    end = int(result.watermark_to.timestamp() * 1000)
    stored = versions(fetch_anomalies(settings), end)
    assert stored == pure_versions(messages, end)
    return stored
