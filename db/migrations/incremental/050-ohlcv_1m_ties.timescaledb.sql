-- migrate: no-transaction
-- ohlcv_1m again, with open/close (and the last 24 h figures) taken by (time, acc_trade_volume) instead of time
-- alone, exactly as plain mode does. Fills that share a millisecond are common on Upbit; with time alone, which of
-- them is "first" depended on the scan order, so the real-time part and the materialised part of the same minute
-- could disagree on its open (seen in tests: 100,213,000 vs 100,214,000 KRW). acc_trade_volume grows with every
-- fill of the UTC day, so it orders fills inside a millisecond.
-- Dropping the continuous aggregate drops the views built on it and its refresh policy; the idempotent folder
-- (run after this file) re-creates both. The history is materialised again before the current minute.
DROP MATERIALIZED VIEW IF EXISTS ohlcv_1m CASCADE;

CREATE MATERIALIZED VIEW ohlcv_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 minute', time)                                AS bucket,
    code,
    first(trade_price, (time, acc_trade_volume))                          AS open,
    max(trade_price)                                                      AS high,
    min(trade_price)                                                      AS low,
    last(trade_price, (time, acc_trade_volume))                           AS close,
    sum(trade_volume)                                                     AS volume,
    sum(trade_volume * trade_price)                                       AS value,
    count(*)                                                              AS fills,
    sum(trade_volume) FILTER (WHERE ask_bid = 'BID')                      AS buy_volume,
    sum(trade_volume) FILTER (WHERE ask_bid = 'ASK')                      AS sell_volume,
    sum(trade_volume * trade_price) FILTER (WHERE ask_bid = 'BID')        AS buy_value,
    sum(trade_volume * trade_price) FILTER (WHERE ask_bid = 'ASK')        AS sell_value,
    count(*) FILTER (WHERE ask_bid = 'BID')                               AS buy_fills,
    max(time)                                                             AS last_time,
    last(signed_change_rate, (time, acc_trade_volume))                    AS signed_change_rate,
    last(acc_trade_price_24h, (time, acc_trade_volume))                   AS acc_trade_price_24h
FROM ticker_data
GROUP BY 1, 2
WITH NO DATA;

CREATE INDEX IF NOT EXISTS ohlcv_1m_code_bucket ON ohlcv_1m (code, bucket DESC);

CALL refresh_continuous_aggregate('ohlcv_1m', NULL, date_trunc('minute', now()));
