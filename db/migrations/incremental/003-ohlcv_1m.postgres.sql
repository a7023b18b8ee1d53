-- Plain PostgreSQL mode: ohlcv_1m has the same name, columns and meaning as the TimescaleDB continuous
-- aggregate. Materialised buckets live in ohlcv_1m_store (maintained by refresh_ohlcv_1m(), which the Celery
-- aggregate-refresh task calls); the view ohlcv_1m serves them and computes invalidated buckets from raw ticks
-- on the fly, so results are real-time in both modes.
CREATE TABLE IF NOT EXISTS ohlcv_1m_store (
    bucket              timestamptz      NOT NULL,
    code                text             NOT NULL,
    open                double precision,
    high                double precision,
    low                 double precision,
    close               double precision,
    volume              double precision,
    value               double precision,
    fills               bigint           NOT NULL,
    buy_volume          double precision,
    sell_volume         double precision,
    buy_value           double precision,
    sell_value          double precision,
    buy_fills           bigint,
    last_time           timestamptz,
    signed_change_rate  double precision,
    acc_trade_price_24h double precision,
    PRIMARY KEY (code, bucket)
);
CREATE INDEX IF NOT EXISTS ohlcv_1m_store_bucket ON ohlcv_1m_store (bucket);

-- One minute of one market computed from raw ticks. Ties inside a millisecond are ordered by the
-- cumulative volume, which grows with every fill of the UTC day.
CREATE OR REPLACE FUNCTION ohlcv_1m_for(p_code text, p_bucket timestamptz)
RETURNS SETOF ohlcv_1m_store
LANGUAGE sql STABLE AS $$
    SELECT
        p_bucket,
        p_code,
        (array_agg(trade_price ORDER BY time, acc_trade_volume))[1],
        max(trade_price),
        min(trade_price),
        (array_agg(trade_price ORDER BY time DESC, acc_trade_volume DESC))[1],
        sum(trade_volume),
        sum(trade_volume * trade_price),
        count(*),
        sum(trade_volume) FILTER (WHERE ask_bid = 'BID'),
        sum(trade_volume) FILTER (WHERE ask_bid = 'ASK'),
        sum(trade_volume * trade_price) FILTER (WHERE ask_bid = 'BID'),
        sum(trade_volume * trade_price) FILTER (WHERE ask_bid = 'ASK'),
        count(*) FILTER (WHERE ask_bid = 'BID'),
        max(time),
        (array_agg(signed_change_rate ORDER BY time DESC, acc_trade_volume DESC))[1],
        (array_agg(acc_trade_price_24h ORDER BY time DESC, acc_trade_volume DESC))[1]
    FROM ticker_data
    WHERE code = p_code AND time >= p_bucket AND time < p_bucket + INTERVAL '1 minute'
    HAVING count(*) > 0
$$;

-- Materialise every invalidated bucket. The EXCLUSIVE lock waits for in-flight writers and holds new ones
-- for the duration (readers are not blocked), so no committed row can slip between reading the invalidations
-- and computing their buckets. Returns the number of buckets refreshed.
CREATE OR REPLACE FUNCTION refresh_ohlcv_1m() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    refreshed integer;
BEGIN
    LOCK TABLE agg_invalidations IN EXCLUSIVE MODE;
    WITH taken AS (
        DELETE FROM agg_invalidations RETURNING code, bucket
    ), computed AS (
        INSERT INTO ohlcv_1m_store
        SELECT r.* FROM taken t CROSS JOIN LATERAL ohlcv_1m_for(t.code, t.bucket) r
        ON CONFLICT (code, bucket) DO UPDATE SET
            open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
            volume = EXCLUDED.volume, value = EXCLUDED.value, fills = EXCLUDED.fills,
            buy_volume = EXCLUDED.buy_volume, sell_volume = EXCLUDED.sell_volume,
            buy_value = EXCLUDED.buy_value, sell_value = EXCLUDED.sell_value, buy_fills = EXCLUDED.buy_fills,
            last_time = EXCLUDED.last_time, signed_change_rate = EXCLUDED.signed_change_rate,
            acc_trade_price_24h = EXCLUDED.acc_trade_price_24h
        RETURNING 1
    )
    SELECT count(*) INTO refreshed FROM taken;
    RETURN refreshed;
END;
$$;

CREATE OR REPLACE VIEW ohlcv_1m AS
SELECT s.*
FROM ohlcv_1m_store s
WHERE NOT EXISTS (SELECT 1 FROM agg_invalidations i WHERE i.code = s.code AND i.bucket = s.bucket)
UNION ALL
SELECT r.*
FROM agg_invalidations i
CROSS JOIN LATERAL ohlcv_1m_for(i.code, i.bucket) r;
