"""The shape of a benchmark result, shared by every benchmark module and the `upbit-llm bench` table."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class BenchFigure:
    """One measured number with its goal and, where there is one, a baseline measured in the same run."""

    area: str  # ingest / mcp / tokens / anomaly
    name: str  # e.g. "consumer rows/s"
    value: float
    unit: str  # rows/s, ms, tokens, %, ...
    goal: str = ""  # human-readable goal, e.g. ">= 50000"
    met: bool | None = None  # None when there is no goal
    baseline_name: str = ""
    baseline_value: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        return self.value / self.baseline_value

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    if not values:
        raise ValueError("percentile of an empty list")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
