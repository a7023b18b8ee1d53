"""Grounding: numbers in an answer must be numbers of the context, within the rounding they were written with."""

from __future__ import annotations

import pytest

from llm.grounding import check, context_numbers, extract_numbers

CONTEXT = (
    "Upbit KRW market, 160 markets, as of 2026-11-24T14:30:00Z (lag 3s; gaps none)\n"
    "breadth vs prev close up 87/down 60/flat 13 of 160\n"
    "value traded (KRW): 24h 1.23T (Upbit acc_trade_price_24h), 1h 45.6B (fills)\n"
    "BTC 143250000 +1.25% 5m -0.31% 1h +0.80% val24h 312B\n"
    "gainers 24h: W 웜홀 1234 +12.34%, XRP 3.456 -2.10%\n"
    "value 1h 213M (fills) = 1.57x of 24h hourly avg 136M"
)


@pytest.mark.parametrize(
    "answer",
    [
        "비트코인은 +1.25% 올랐습니다.",
        "비트코인은 1.3% 올랐습니다.",  # rounded to fewer decimals
        "비트코인 가격은 143,250,000원입니다.",
        "비트코인 가격은 1억 4,325만원입니다.",
        "비트코인 가격은 약 1.43억 원입니다.",
        "24시간 거래대금은 1.2조원, 최근 1시간은 456억원입니다.",
        "XRP는 2.1% 하락했습니다.",  # unsigned magnitude of -2.10
        "XRP fell -2.10% while W rose +12.34%.",
        "Value traded is 1.57x normal, about 1.6x.",
        "거래대금이 평소의 1.57배입니다.",
        "87 of 160 markets rose.",
        "Value traded in 24h was 1.23 trillion won and 45.6 billion in the last hour.",
    ],
)
def test_answers_that_copy_or_round_context_figures_are_grounded(answer: str) -> None:
    report = check(answer, CONTEXT)
    assert report.ok, report.describe()
    assert report.checked >= 1


@pytest.mark.parametrize(
    ("answer", "wrong"),
    [
        ("비트코인은 +2.25% 올랐습니다.", "+2.25%"),
        ("비트코인 가격은 143,900,000원입니다.", "143,900,000"),
        ("비트코인 가격은 1억 5,000만원입니다.", "1억 5,000만"),
        ("24시간 거래대금은 3.4조원입니다.", "3.4조"),
        ("XRP rose +2.10% today.", "+2.10%"),  # explicit sign contradicts the context's -2.10
        ("W is up 99.9%.", "99.9%"),
        ("Value traded is 2.57x normal.", "2.57x"),
        ("131 markets rose.", "131"),
    ],
)
def test_a_figure_not_in_the_context_is_named_as_a_mismatch(answer: str, wrong: str) -> None:
    report = check(answer, CONTEXT)
    assert not report.ok
    assert [i.text for i in report.issues] == [wrong]
    assert wrong in report.describe()


def test_dates_clock_times_market_codes_and_time_spans_are_not_checked() -> None:
    answer = "2026-11-24 14:30 UTC 기준 KRW-1INCH와 KRW-BTC, 최근 5분과 24시간, 1h and 5 minutes, 11월 24일"
    report = check(answer, CONTEXT)
    assert report.ok and report.checked == 0


def test_small_whole_counts_are_allowed_but_large_unknown_counts_are_not() -> None:
    assert check("상위 3개 코인과 2개 이상 징후", CONTEXT).ok
    assert not check("상위 37개 코인", CONTEXT).ok


def test_a_ratio_in_the_context_may_be_written_as_a_percentage() -> None:
    assert check("the change was 4.04%", {"change_rate": 0.0404}).ok
    assert not check("the change was 5.04%", {"change_rate": 0.0404}).ok


def test_numbers_in_the_question_may_be_repeated() -> None:
    assert check("5% 이상 오른 코인은 W입니다 (+12.34%).", CONTEXT, extra_allowed=["5% 이상 오른 코인?"]).ok


def test_context_numbers_come_from_json_values_and_from_text_inside_it() -> None:
    values = context_numbers({"price": 1234.5, "line": "up 87/down 60", "nested": [{"x": -2.1}], "flag": True})
    assert 1234.5 in values and 87 in values and 60 in values and -2.1 in values
    assert 1.0 not in values  # booleans are not figures


def test_extract_reads_signs_units_and_separators() -> None:
    numbers = {n.text: n for n in extract_numbers("−3.5% 과 +1,234원, 2.5억, 1.2M, 1억 2,345만")}
    assert numbers["−3.5%"].negative and numbers["−3.5%"].percent
    assert numbers["+1,234"].value == 1234 and numbers["+1,234"].signed
    assert numbers["2.5억"].value == 250_000_000
    assert numbers["1.2M"].value == 1_200_000
    assert numbers["1억 2,345만"].value == 123_450_000


def test_garbage_and_injection_text_never_crash_the_check() -> None:
    report = check("'; DROP TABLE x; -- 1e309 ９９% \x00 1,2,3,,4 ..5", CONTEXT)
    assert report.checked >= 0


def test_a_man_amount_followed_by_its_remainder_is_one_figure() -> None:
    [number] = extract_numbers("가격은 9,537만 1,000원")
    assert number.value == 95_371_000 and number.text == "9,537만 1,000"
    assert check("BTC는 9,537만 1,000원입니다.", {"price": 95_371_000}).ok
