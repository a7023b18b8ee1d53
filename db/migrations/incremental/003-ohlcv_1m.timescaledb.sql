-- migrate: no-transaction
-- TimescaleDB mode: ohlcv_1m is a continuous aggregate with real-time results (materialized_only = false;
-- since 2.13 the default is materialized-only). Continuous aggregates cannot be created in a transaction block.
-- Buy = BID (buyer-initiated fill), sell = ASK (seller-initiated fill). value = sum(price × volume) of fills,
-- in the market's quote currency (KRW for KRW markets).
CREATE MATERIALIZED VIEW IF NOT EXISTS ohlcv_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 minute', time)                                AS bucket,
    code,
    first(trade_price, time)                                              AS open,
    max(trade_price)                                                      AS high,
    min(trade_price)                                                      AS low,
    last(trade_price, time)                                               AS close,
    sum(trade_volume)                                                     AS volume,
    sum(trade_volume * trade_price)                                       AS value,
    count(*)                                                              AS fills,
    sum(trade_volume) FILTER (WHERE ask_bid = 'BID')                      AS buy_volume,
    sum(trade_volume) FILTER (WHERE ask_bid = 'ASK')                      AS sell_volume,
    sum(trade_volume * trade_price) FILTER (WHERE ask_bid = 'BID')        AS buy_value,
    sum(trade_volume * trade_price) FILTER (WHERE ask_bid = 'ASK')        AS sell_value,
    count(*) FILTER (WHERE ask_bid = 'BID')                               AS buy_fills,
    max(time)                                                             AS last_time,
    last(signed_change_rate, time)                                        AS signed_change_rate,
    last(acc_trade_price_24h, time)                                       AS acc_trade_price_24h
FROM ticker_data
GROUP BY 1, 2
WITH NO DATA;

CREATE INDEX IF NOT EXISTS ohlcv_1m_code_bucket ON ohlcv_1m (code, bucket DESC);
