"""Analytics: the one place that computes every number the platform reports (MCP, Celery/Claude, dashboard).

Every function takes an open psycopg2 connection (writer or read-only role), only reads, reads the aggregates
(ticker_latest, ohlcv_1m) rather than raw ticks, and leaves transaction control to the caller. Every result is a
pydantic model with explicit units — `*_pct` = signed percent (Upbit's fractions are converted in
analytics.units only), `*_krw` = KRW, `*_fills_krw` summed from fills, `*_upbit_krw` = Upbit's acc_trade_price_24h —
a `freshness` (as-of event time, lag, known gaps) and a compact `to_context(budget)` text whose token count (real
BPE, analytics.tokens) never exceeds its budget.

Public API (names are a cross-team contract):

    resolver.resolve(conn, text: str) -> Resolution
        status "found" (market: MarketRef, matched_by) | "ambiguous" (candidates) | "not_found" (suggestions).
        Never raises on any input; the text never reaches SQL.
    resolver.find_coins(conn, question: str) -> list[MarketRef]
        every coin named in a sentence, in order: "비트랑 이더 어때?" → [KRW-BTC, KRW-ETH]
    resolver.resolve_market(conn, text) -> MarketRef          (LookupError with candidates/suggestions text)
    overview.market_overview(conn, *, quote="KRW", top=5) -> MarketOverview        to_context() ≤ 500 tokens
    coin.coin_brief(conn, market: str) -> CoinBrief                               to_context() ≤ 250 tokens
        market = code or any resolvable text; LookupError if it names no market or the market has no data.
    movers.top_movers(conn, *, window="24h"|"1h"|"5m"|"1m", direction="gainers"|"losers"|"both",
                      limit=10 (≤ 50), quote="KRW") -> MoversResult
    candles.candles(conn, market, interval="1m"|"5m"|"1h"|"1d", limit=60 (≤ 500)) -> CandleSeries (oldest first)
    indicators.indicators(conn, market, interval="1h", *, include_open=False) -> IndicatorSet    to_context() ≤ 300
        RSI14/MACD/Bollinger/SMA/EMA/volume at the last closed candle; n/a with reasons (docs/indicators.md)
    indicators.indicator_series(conn, market, interval="1m", *, keep=300) -> IndicatorSeries (chart overlays)
    anomalies.recent_anomalies(conn, *, market=None, since=None, status="open"|"resolved"|"all",
                               min_severity="info", limit=20 (≤ 100)) -> AnomalyList
    summaries.latest_summary(conn, *, kind="market_summary"|"coin_qa"|"anomaly_interpretation",
                             market=None, language=None) -> SummaryResult
    freshness.freshness(conn, *, quote=None, market=None) -> Freshness
    tokens.count_tokens(text: str) -> int                  offline Claude BPE (anthropic-tokenizer)
    raw.raw_latest_json(conn, quote=None) -> str           the "raw" baseline: every latest ticker as JSON

Models live in analytics.models; budgets in analytics.context (OVERVIEW_BUDGET, COIN_BRIEF_BUDGET, ...).
"""
