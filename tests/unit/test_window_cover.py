"""window_cover: a window's minutes as whole buckets of the coarsest levels, each minute exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.series import window_cover

MINUTE = timedelta(minutes=1)
STEPS = {"ohlcv_1h": timedelta(hours=1), "ohlcv_5m": timedelta(minutes=5), "ohlcv_1m_combined": MINUTE}
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


def _minutes(parts: list[tuple[str, datetime, datetime]]) -> list[datetime]:
    out = []
    for view, lo, hi in parts:
        step = STEPS[view]
        assert (lo - ORIGIN) % step == timedelta(0) and (hi - ORIGIN) % step == timedelta(0), (view, lo, hi)
        t = lo
        while t < hi:
            out.extend(t + MINUTE * k for k in range(step // MINUTE))
            t += step
    return sorted(out)


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=60 * 24 * 400),
    length=st.integers(min_value=0, max_value=60 * 24 * 3),
)
def test_every_minute_of_the_window_is_covered_exactly_once(start: int, length: int) -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC) + start * MINUTE
    stop = first + length * MINUTE
    minutes = _minutes(window_cover(first, stop))
    assert minutes == [first + k * MINUTE for k in range(length)]


def test_a_day_window_reads_hours_and_edge_minutes() -> None:
    first = datetime(2026, 1, 1, 10, 1, tzinfo=UTC)
    day = window_cover(first, first + 1440 * MINUTE)
    assert ("ohlcv_1h", datetime(2026, 1, 1, 11, tzinfo=UTC), datetime(2026, 1, 2, 10, tzinfo=UTC)) in day
    assert sum((hi - lo) // STEPS[view] for view, lo, hi in day) == 59 + 23 + 1
    hour = window_cover(first, first + 60 * MINUTE)
    assert [view for view, _, _ in hour] == ["ohlcv_1m_combined"]  # an unaligned hour is its minutes
