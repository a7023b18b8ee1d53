"""Claude (the Messages API stand-in) answers 429, 529 and a timeout before succeeding: the market summary of the
window is stored exactly once, even when the summary is produced again and concurrently for the same window."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fake_upbit.simulator import MarketSimulator
from llm.summary import produce_summary
from tests.conftest import _test_settings
from tests.faults.conftest import FaultReport
from tests.faults.helpers import scalar
from tests.support.fake_anthropic import FakeAnthropic, Scripted
from tests.support.rows import load_catalog, load_messages
from upbit_core.settings import Settings


def test_claude_429_529_and_timeouts_still_store_each_summary_exactly_once(
    scratch_db: Settings, fault_report: FaultReport
) -> None:
    scenario = "Claude 429/529/timeout"
    sim = MarketSimulator(markets=40, seed=21, rate=400.0, events=False)
    load_catalog(scratch_db, sim.catalog())
    load_messages(scratch_db, sim.messages(90))
    with FakeAnthropic() as fake:
        fake.enqueue(
            Scripted.error(429, retry_after=0.2),
            Scripted.error(529, retry_after=0.2),
            Scripted.slow(3.0),  # longer than the 1 s client timeout
        )
        settings = _test_settings(
            timescaledb_dbname=scratch_db.timescaledb_dbname,
            anthropic_api_key="sk-ant-faults",
            anthropic_base_url=fake.url,
            anthropic_timeout_seconds=1.0,
            anthropic_max_retries=4,
        )
        first = produce_summary(settings)
        with ThreadPoolExecutor(max_workers=3) as pool:  # the same window again, three times at once
            again = list(pool.map(lambda _: produce_summary(settings), range(3)))
        statuses = [r.status for r in fake.message_requests()]
    stored = scalar(scratch_db, "SELECT count(*) FROM llm_results WHERE kind = 'market_summary'")
    offline = scalar(scratch_db, "SELECT bool_or(offline) FROM llm_results WHERE kind = 'market_summary'")
    errors_seen = sum(1 for s in statuses if s in (429, 529))
    # Every request but the 429/529s and the final success is one the client gave up on (its answer, still being
    # held back by the stand-in when we look, would have come after the 1 s timeout).
    timeouts = len(statuses) - errors_seen - 1
    fault_report.record(scenario, "429/529 answers survived", errors_seen, "2", errors_seen == 2)
    fault_report.record(scenario, "timeouts survived", timeouts, "1", timeouts == 1)
    fault_report.record(scenario, "summaries stored", stored, "1", stored == 1)
    fault_report.record(scenario, "stored by Claude (not offline fallback)", not offline, "True", not offline)
    assert first.status == "created"
    assert all(o.status == "exists" and o.result["id"] == first.result["id"] for o in again)
    assert stored == 1
    assert statuses[:2] == [429, 529] and statuses[-1] == 200, statuses
    assert timeouts == 1 and len(statuses) == 4  # the timed-out request was retried too
    assert not offline
