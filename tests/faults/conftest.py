"""The fault suite: every reliability scenario records its counts here; the session prints one table and writes
artifacts/faults.json. Every test under tests/faults is marked `faults` (and `integration`: real services)."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

ARTIFACT = Path(__file__).resolve().parent.parent.parent / "artifacts" / "faults.json"
_KEY = pytest.StashKey["FaultReport"]()


@dataclass
class FaultCount:
    scenario: str  # e.g. "consumer SIGKILL x5 mid-stream"
    metric: str  # e.g. "rows lost"
    value: object
    expected: str  # e.g. "0"
    ok: bool


@dataclass
class FaultReport:
    counts: list[FaultCount] = field(default_factory=list)

    def record(self, scenario: str, metric: str, value: object, expected: str, ok: bool) -> None:
        self.counts.append(FaultCount(scenario, metric, value, expected, bool(ok)))


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = FaultReport()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> FaultReport:
    """`fault_report.record(scenario, metric, value, expected, ok)` — one row of the final table."""
    return request.config.stash[_KEY]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    report = config.stash.get(_KEY, None)
    if report is None or not report.counts:
        return
    tr = terminalreporter
    tr.section("fault suite counts")
    widths = [
        max(len("scenario"), *(len(c.scenario) for c in report.counts)),
        max(len("count"), *(len(c.metric) for c in report.counts)),
        max(len("value"), *(len(str(c.value)) for c in report.counts)),
        max(len("expected"), *(len(c.expected) for c in report.counts)),
    ]
    header = ["scenario", "count", "value", "expected"]
    tr.write_line("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  ok")
    tr.write_line("  ".join("-" * w for w in widths) + "  --")
    for c in report.counts:
        cells = [c.scenario, c.metric, str(c.value), c.expected]
        tr.write_line("  ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True)) + ("  ok" if c.ok else "  NO"))
    ARTIFACT.parent.mkdir(exist_ok=True)
    payload = {
        "finished_at": datetime.now(UTC).isoformat(),
        "python": platform.python_version(),
        "all_ok": all(c.ok for c in report.counts),
        "counts": [asdict(c) for c in report.counts],
    }
    ARTIFACT.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    tr.write_line(f"written to {ARTIFACT}")
