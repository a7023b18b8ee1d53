"""bench.scale's pure parts: the size list it accepts and the growth it names."""

from __future__ import annotations

import pytest

from bench.scale import growth, parse_sizes


def test_sizes_read_rows_with_k_and_m_suffixes_and_days() -> None:
    assert parse_sizes("1M:30,10M:365") == [(1_000_000, 30), (10_000_000, 365)]
    assert parse_sizes("200K:7, 1.5M:90") == [(200_000, 7), (1_500_000, 90)]


def test_a_size_without_rows_or_days_is_refused_with_the_expected_form() -> None:
    with pytest.raises(ValueError, match="ROWS:DAYS"):
        parse_sizes("10:0")


def test_growth_names_flat_log_and_linear_from_the_fitted_exponent() -> None:
    sizes = [1e6, 3e6, 1e7]
    assert growth(sizes, [20.0, 20.5, 19.8])[1] == "flat"
    assert growth(sizes, [20.0, 24.0, 29.0])[1] == "log"
    b, name = growth(sizes, [10.0, 30.0, 100.0])
    assert name == "linear" and b == pytest.approx(1.0, abs=0.01)
    assert growth([1e6, 1e7], [10.0, 10.0])[1] == "flat (2-point estimate)"
