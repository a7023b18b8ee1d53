"""The anomaly listing's --json fields and the replay comparison are derived from the one column list of the anomaly
reader (analytics.anomalies.ROW_COLUMNS)."""

from analytics.anomalies import ROW_COLUMNS
from anomaly.evaluate import REPLAY_COLUMNS
from upbit_llm.commands.anomalies import LISTED


def test_the_cli_lists_every_anomaly_column_but_the_dedup_key() -> None:
    assert tuple(c for c in ROW_COLUMNS if c != "dedup_key") == LISTED


def test_a_replay_compares_every_column_but_the_timing_dependent_ones() -> None:
    assert tuple(c for c in ROW_COLUMNS if c not in ("id", "interpretation")) == REPLAY_COLUMNS
