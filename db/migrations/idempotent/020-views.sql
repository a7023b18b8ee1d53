-- Aggregates built on the candles; identical SQL in both modes. Buckets are UTC-aligned (date_bin from 2000-01-01).

-- ohlcv_5m / ohlcv_1h / ohlcv_1d: the candles users read. The fills part comes from ohlcv_<level>_fills (migration
-- 070: continuous aggregates in TimescaleDB mode, rollup tables behind real-time views in plain mode; they outlive
-- tick retention). A bucket holding an Upbit REST minute (rest_candles_1m: minutes with no stored fills) is rolled up
-- from ohlcv_1m_combined instead, so REST history counts as on main; such buckets are rare (outages, backfills).

CREATE OR REPLACE VIEW ohlcv_5m AS
SELECT f.bucket, f.code, f.open, f.high, f.low, f.close, f.volume, f.value, f.fills, f.buy_volume, f.sell_volume, f.buy_value, f.sell_value, f.buy_fills, f.last_time
FROM ohlcv_5m_fills f
WHERE NOT EXISTS (
    SELECT 1 FROM rest_candles_1m r
    WHERE r.code = f.code AND r.bucket >= f.bucket AND r.bucket < f.bucket + INTERVAL '5 minutes'
)
UNION ALL
SELECT d.bucket, d.code, x.*
FROM (
    SELECT DISTINCT code, date_bin(INTERVAL '5 minutes', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
    FROM rest_candles_1m
) d
CROSS JOIN LATERAL (
    SELECT
        (array_agg(m.open ORDER BY m.bucket))[1],
        max(m.high),
        min(m.low),
        (array_agg(m.close ORDER BY m.bucket DESC))[1],
        sum(m.volume),
        sum(m.value),
        sum(m.fills)::bigint,
        sum(m.buy_volume),
        sum(m.sell_volume),
        sum(m.buy_value),
        sum(m.sell_value),
        sum(m.buy_fills)::bigint,
        max(m.last_time)
    FROM ohlcv_1m_combined m
    WHERE m.code = d.code AND m.bucket >= d.bucket AND m.bucket < d.bucket + INTERVAL '5 minutes'
    HAVING count(*) > 0
) x;


CREATE OR REPLACE VIEW ohlcv_1h AS
SELECT f.bucket, f.code, f.open, f.high, f.low, f.close, f.volume, f.value, f.fills, f.buy_volume, f.sell_volume, f.buy_value, f.sell_value, f.buy_fills, f.last_time
FROM ohlcv_1h_fills f
WHERE NOT EXISTS (
    SELECT 1 FROM rest_candles_1m r
    WHERE r.code = f.code AND r.bucket >= f.bucket AND r.bucket < f.bucket + INTERVAL '1 hour'
)
UNION ALL
SELECT d.bucket, d.code, x.*
FROM (
    SELECT DISTINCT code, date_bin(INTERVAL '1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
    FROM rest_candles_1m
) d
CROSS JOIN LATERAL (
    SELECT
        (array_agg(m.open ORDER BY m.bucket))[1],
        max(m.high),
        min(m.low),
        (array_agg(m.close ORDER BY m.bucket DESC))[1],
        sum(m.volume),
        sum(m.value),
        sum(m.fills)::bigint,
        sum(m.buy_volume),
        sum(m.sell_volume),
        sum(m.buy_value),
        sum(m.sell_value),
        sum(m.buy_fills)::bigint,
        max(m.last_time)
    FROM ohlcv_1m_combined m
    WHERE m.code = d.code AND m.bucket >= d.bucket AND m.bucket < d.bucket + INTERVAL '1 hour'
    HAVING count(*) > 0
) x;


CREATE OR REPLACE VIEW ohlcv_1d AS
SELECT f.bucket, f.code, f.open, f.high, f.low, f.close, f.volume, f.value, f.fills, f.buy_volume, f.sell_volume, f.buy_value, f.sell_value, f.buy_fills, f.last_time
FROM ohlcv_1d_fills f
WHERE NOT EXISTS (
    SELECT 1 FROM rest_candles_1m r
    WHERE r.code = f.code AND r.bucket >= f.bucket AND r.bucket < f.bucket + INTERVAL '1 day'
)
UNION ALL
SELECT d.bucket, d.code, x.*
FROM (
    SELECT DISTINCT code, date_bin(INTERVAL '1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
    FROM rest_candles_1m
) d
CROSS JOIN LATERAL (
    SELECT
        (array_agg(m.open ORDER BY m.bucket))[1],
        max(m.high),
        min(m.low),
        (array_agg(m.close ORDER BY m.bucket DESC))[1],
        sum(m.volume),
        sum(m.value),
        sum(m.fills)::bigint,
        sum(m.buy_volume),
        sum(m.sell_volume),
        sum(m.buy_value),
        sum(m.sell_value),
        sum(m.buy_fills)::bigint,
        max(m.last_time)
    FROM ohlcv_1m_combined m
    WHERE m.code = d.code AND m.bucket >= d.bucket AND m.bucket < d.bucket + INTERVAL '1 day'
    HAVING count(*) > 0
) x;

-- Market breadth per 5 minutes and quote currency. Each market counts once: rising/falling/flat compares its
-- close at the end of the bucket with its open at the start. value_traded is summed from fills (price × volume),
-- never from Upbit's 24 h cumulative fields. change_pct is a signed percent (not a fraction).
CREATE OR REPLACE VIEW market_summary_5m AS
WITH per_market AS (
    SELECT
        bucket,
        code,
        split_part(code, '-', 1) AS quote,
        open,
        close,
        value,
        fills,
        buy_value,
        sell_value,
        CASE WHEN open > 0 THEN (close / open - 1) * 100 END AS change_pct
    FROM ohlcv_5m
)
SELECT
    bucket,
    quote,
    count(*)                                              AS markets,
    count(*) FILTER (WHERE close > open)                  AS rising,
    count(*) FILTER (WHERE close < open)                  AS falling,
    count(*) FILTER (WHERE close = open)                  AS flat,
    sum(value)                                            AS value_traded,
    sum(fills)::bigint                                    AS fills,
    sum(buy_value)                                        AS buy_value,
    sum(sell_value)                                       AS sell_value,
    (array_agg(code ORDER BY change_pct DESC NULLS LAST))[1] AS top_gainer,
    max(change_pct)                                       AS top_gainer_pct,
    (array_agg(code ORDER BY change_pct ASC NULLS LAST))[1]  AS top_loser,
    min(change_pct)                                       AS top_loser_pct,
    (array_agg(code ORDER BY value DESC NULLS LAST))[1]   AS top_value,
    max(value)                                            AS top_value_traded,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY change_pct) AS median_change_pct
FROM per_market
GROUP BY bucket, quote;

-- Hourly traded value and fills per market against its trailing 24 h baseline (the current hour excluded).
CREATE OR REPLACE VIEW volume_anomalies_1h AS
WITH hourly AS (
    SELECT bucket, code, value, fills FROM ohlcv_1h
), scored AS (
    SELECT
        bucket,
        code,
        value,
        fills,
        avg(value) OVER w            AS baseline_value,
        stddev_samp(value) OVER w    AS baseline_stddev,
        avg(fills) OVER w            AS baseline_fills,
        count(*) OVER w              AS baseline_hours
    FROM hourly
    WINDOW w AS (
        PARTITION BY code ORDER BY bucket
        RANGE BETWEEN INTERVAL '24 hours' PRECEDING AND INTERVAL '1 hour' PRECEDING
    )
)
SELECT
    bucket,
    code,
    value,
    fills,
    baseline_value,
    baseline_fills,
    baseline_hours,
    CASE WHEN baseline_value > 0 THEN value / baseline_value END              AS value_ratio,
    CASE WHEN baseline_stddev > 0 THEN (value - baseline_value) / baseline_stddev END AS value_zscore
FROM scored;
