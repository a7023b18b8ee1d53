"""The coin resolver on a realistic catalog (the simulator's Upbit catalog plus a USDT market), no database."""

from __future__ import annotations

import pytest

from analytics.catalog import Catalog
from analytics.models import MarketRef
from analytics.resolver import find_in, resolve_in
from fake_upbit.simulator import MarketSimulator
from tests.support.analytics_data import GARBAGE_STRINGS


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    refs: dict[str, MarketRef] = {}
    for item in MarketSimulator(markets=160, seed=1).catalog():
        quote, base = item["market"].split("-", 1)
        refs[item["market"]] = MarketRef(
            market=item["market"],
            quote=quote,
            symbol=base,
            korean_name=item["korean_name"],
            english_name=item["english_name"],
        )
    for code in ("USDT-BTC", "BTC-ETH"):
        quote, base = code.split("-")
        krw = refs[f"KRW-{base}"]
        refs[code] = krw.model_copy(update={"market": code, "quote": quote})
    return Catalog(refs=refs, fingerprint=("unit",))


# (what people type, the market it must resolve to)
FOUND = [
    ("W코인 지금 어때?", "KRW-W"),
    ("W코인", "KRW-W"),
    ("w코인", "KRW-W"),
    ("웜홀", "KRW-W"),
    ("Wormhole", "KRW-W"),
    ("비트 어때", "KRW-BTC"),
    ("비트코인", "KRW-BTC"),
    ("비트코인 지금 얼마야", "KRW-BTC"),
    ("BTC", "KRW-BTC"),
    ("btc price", "KRW-BTC"),
    ("Bitcoin", "KRW-BTC"),
    ("bitcon", "KRW-BTC"),
    ("bitcoin", "KRW-BTC"),
    ("KRW-BTC", "KRW-BTC"),
    ("krw-btc", "KRW-BTC"),
    ("  KRW-BTC  ", "KRW-BTC"),
    ("USDT-BTC", "USDT-BTC"),
    ("이더리움", "KRW-ETH"),
    ("이더는 어때", "KRW-ETH"),
    ("ethereum", "KRW-ETH"),
    ("Ethereum", "KRW-ETH"),
    ("ETHEREUM", "KRW-ETH"),
    ("etherium", "KRW-ETH"),
    ("이더리음", "KRW-ETH"),
    ("how is ethereum doing?", "KRW-ETH"),
    ("도지", "KRW-DOGE"),
    ("도지코인", "KRW-DOGE"),
    ("도지코인이 왜 올랐어?", "KRW-DOGE"),
    ("dogecoin", "KRW-DOGE"),
    ("what about doge", "KRW-DOGE"),
    ("리플", "KRW-XRP"),
    ("리플은?", "KRW-XRP"),
    ("리플 시세", "KRW-XRP"),
    ("xrp", "KRW-XRP"),
    ("솔라나 전망", "KRW-SOL"),
    ("solana", "KRW-SOL"),
    ("Shiba Inu", "KRW-SHIB"),
    ("시바이누", "KRW-SHIB"),
    ("페페", "KRW-PEPE"),
    ("에이다", "KRW-ADA"),
    ("cardano", "KRW-ADA"),
    ("트론", "KRW-TRX"),
    ("bitcoin cash", "KRW-BCH"),
    ("비트코인 캐시", "KRW-BCH"),
    ("이더리움 클래식", "KRW-ETC"),
    ("ethereum classic", "KRW-ETC"),
    ("체인링크", "KRW-LINK"),
]


@pytest.mark.parametrize(("text", "market"), FOUND)
def test_resolver_finds_the_market_people_mean(catalog: Catalog, text: str, market: str) -> None:
    res = resolve_in(catalog, text)
    assert res.status == "found", (text, res)
    assert res.market is not None and res.market.market == market, (text, res.market)


def test_resolver_table_has_at_least_forty_real_phrasings() -> None:
    assert len(FOUND) >= 40


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("비트랑 이더 어때?", ["KRW-BTC", "KRW-ETH"]),
        ("BTC랑 ETH", ["KRW-BTC", "KRW-ETH"]),
        ("bit", ["KRW-BTC", "KRW-BTT", "KRW-BCH"]),
    ],
)
def test_ambiguous_input_returns_the_candidates(catalog: Catalog, text: str, expected: list[str]) -> None:
    res = resolve_in(catalog, text)
    assert res.status == "ambiguous"
    assert set(expected) <= {c.market for c in res.candidates}


@pytest.mark.parametrize(
    ("question", "markets"),
    [
        ("비트랑 이더 어때?", ["KRW-BTC", "KRW-ETH"]),
        ("도지, 리플, 솔라나 중에 뭐가 제일 올랐어?", ["KRW-DOGE", "KRW-XRP", "KRW-SOL"]),
        ("compare bitcoin and ethereum", ["KRW-BTC", "KRW-ETH"]),
        ("W코인 지금 어때?", ["KRW-W"]),
        ("오늘 시장 어때?", []),
    ],
)
def test_find_coins_lists_every_coin_named_in_a_question_in_order(
    catalog: Catalog, question: str, markets: list[str]
) -> None:
    assert [m.market for m in find_in(catalog, question)] == markets


def test_a_symbol_in_several_quotes_resolves_to_the_krw_market(catalog: Catalog) -> None:
    res = resolve_in(catalog, "ETH")
    assert res.status == "found" and res.market is not None and res.market.market == "KRW-ETH"


def test_unknown_name_returns_closest_suggestions(catalog: Catalog) -> None:
    res = resolve_in(catalog, "에테리움")
    assert res.status == "not_found"
    assert res.suggestions and res.suggestions[0].market == "KRW-ETH"


@pytest.mark.parametrize("text", ["오늘 날씨 어때", "zzzzqqq", "주식 추천해줘"])
def test_text_naming_no_coin_is_not_found(catalog: Catalog, text: str) -> None:
    assert resolve_in(catalog, text).status == "not_found"


def test_a_lowercase_single_letter_is_not_taken_for_a_one_letter_symbol(catalog: Catalog) -> None:
    assert resolve_in(catalog, "w").status == "not_found"
    assert resolve_in(catalog, "W").market.market == "KRW-W"  # type: ignore[union-attr]


@pytest.mark.parametrize("text", GARBAGE_STRINGS)
def test_injection_and_garbage_strings_give_a_clean_answer_never_an_exception(catalog: Catalog, text: str) -> None:
    res = resolve_in(catalog, text)
    assert res.status in {"found", "ambiguous", "not_found"}
    assert len(res.to_context()) < 2000
    find_in(catalog, text)


def test_an_empty_catalog_says_how_to_fill_it() -> None:
    res = resolve_in(Catalog(refs={}, fingerprint=()), "비트")
    assert res.status == "not_found" and "catalog is empty" in res.message
