"""Scoring of detected anomalies against simulator labels (the rules the benchmark reports with)."""

from __future__ import annotations

from anomaly.evaluate import score

T = 1_767_225_600_000


def _a(market: str, detected_s: float, kind: str = "pump", severity: str = "high") -> dict[str, object]:
    return {
        "market": market,
        "kind": kind,
        "severity": severity,
        "detected_at": T + int(detected_s * 1000),
        "metrics": {},
    }


LABELS = [
    {
        "event_id": "p",
        "market": "KRW-A",
        "kind": "pump",
        "onset_ms": T + 600_000,
        "end_ms": T + 900_000,
        "anomalous": True,
    },
    {
        "event_id": "m",
        "market": "MARKET",
        "kind": "market_move",
        "onset_ms": T + 1_200_000,
        "end_ms": T + 1_260_000,
        "anomalous": True,
    },
    {"event_id": "t", "market": "KRW-B", "kind": "trend", "onset_ms": T, "end_ms": T + 3_600_000, "anomalous": False},
]


def test_delay_recall_and_false_alerts_follow_the_documented_rules() -> None:
    anomalies = [
        _a("KRW-A", 615),  # caught 15 s after onset
        _a("KRW-A", 950),  # the reversal, within the 120 s tail: not false
        _a("MARKET", 1250, kind="market_move"),  # caught after 50 s
        _a("KRW-C", 1210, kind="value_spike"),  # a coin alert during the market move: false
        _a("KRW-B", 2000, kind="price_jump"),  # an alert on the slow trend: false
        _a("KRW-D", 100, kind="value_spike", severity="info"),  # info is not an alert
        _a("MARKET", 50, kind="data_stale"),  # operational events are not alerts
    ]
    rep = score(anomalies, LABELS, markets=10, duration_s=86_400 / 10)
    assert rep.anomalous == 2 and rep.caught == 2 and rep.recall == 1.0
    assert rep.share_within(30) == 0.5 and rep.share_within(60) == 1.0
    assert rep.median_delay_s == 32.5
    assert rep.false_alerts == 2 and rep.market_days == 1.0 and rep.false_per_market_day == 2.0


def test_an_alert_after_the_event_ended_does_not_count_as_caught() -> None:
    rep = score([_a("KRW-A", 901)], LABELS[:1], markets=1, duration_s=3600)
    assert rep.caught == 0 and rep.as_dict()["missed"] == ["p"] and rep.false_alerts == 0


def test_a_labels_file_is_read_and_a_bad_line_is_reported_with_its_number(tmp_path: object) -> None:
    import json
    from pathlib import Path

    import pytest

    from anomaly.evaluate import load_labels

    path = Path(str(tmp_path)) / "labels.jsonl"
    path.write_text(json.dumps(LABELS[0]) + "\n\n" + json.dumps(LABELS[1]) + "\n", encoding="utf-8")
    assert [lab["event_id"] for lab in load_labels(str(path))] == ["p", "m"]
    path.write_text(json.dumps(LABELS[0]) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(ValueError, match="labels.jsonl:2: not JSON"):
        load_labels(str(path))
    path.write_text(json.dumps({"event_id": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks"):
        load_labels(str(path))
