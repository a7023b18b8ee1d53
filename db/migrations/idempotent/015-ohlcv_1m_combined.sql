-- The 1-minute history every reader uses: minutes computed from stored fills (ohlcv_1m), plus Upbit REST minutes
-- only where no fills are stored for that market and minute, so nothing is counted twice. `source` says which
-- (fills / rest). REST candles carry no fill count or buy/sell split: those columns are NULL for REST minutes.
-- Identical in both modes (ohlcv_1m is the continuous aggregate or the plain-mode view). Aggregate hierarchies
-- above one minute read this view, not ohlcv_1m.
CREATE OR REPLACE VIEW ohlcv_1m_combined AS
SELECT
    o.bucket, o.code, o.open, o.high, o.low, o.close, o.volume, o.value, o.fills,
    o.buy_volume, o.sell_volume, o.buy_value, o.sell_value, o.buy_fills, o.last_time,
    o.signed_change_rate, o.acc_trade_price_24h,
    'fills'::text AS source
FROM ohlcv_1m o
UNION ALL
SELECT
    r.bucket, r.code, r.open, r.high, r.low, r.close, r.volume, r.value, NULL::bigint,
    NULL::double precision, NULL::double precision, NULL::double precision, NULL::double precision, NULL::bigint,
    r.last_time, NULL::double precision, NULL::double precision,
    'rest'::text
FROM rest_candles_1m r
WHERE NOT EXISTS (
    SELECT 1 FROM ticker_data t
    WHERE t.code = r.code AND t.time >= r.bucket AND t.time < r.bucket + INTERVAL '1 minute'
);
