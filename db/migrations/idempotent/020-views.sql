-- Aggregates built on ohlcv_1m_combined (fills, else Upbit REST minutes); identical SQL in both modes. Buckets are UTC-aligned (date_bin from 2000-01-01).

-- Candles of 5 minutes and 1 hour, derived from the 1-minute candles.
CREATE OR REPLACE VIEW ohlcv_5m AS
SELECT
    date_bin(INTERVAL '5 minutes', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
    code,
    (array_agg(open ORDER BY bucket))[1]        AS open,
    max(high)                                   AS high,
    min(low)                                    AS low,
    (array_agg(close ORDER BY bucket DESC))[1]  AS close,
    sum(volume)                                 AS volume,
    sum(value)                                  AS value,
    sum(fills)::bigint                          AS fills,
    sum(buy_volume)                             AS buy_volume,
    sum(sell_volume)                            AS sell_volume,
    sum(buy_value)                              AS buy_value,
    sum(sell_value)                             AS sell_value,
    sum(buy_fills)::bigint                      AS buy_fills,
    max(last_time)                              AS last_time
FROM ohlcv_1m_combined
GROUP BY 1, 2;

CREATE OR REPLACE VIEW ohlcv_1h AS
SELECT
    date_bin(INTERVAL '1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
    code,
    (array_agg(open ORDER BY bucket))[1]        AS open,
    max(high)                                   AS high,
    min(low)                                    AS low,
    (array_agg(close ORDER BY bucket DESC))[1]  AS close,
    sum(volume)                                 AS volume,
    sum(value)                                  AS value,
    sum(fills)::bigint                          AS fills,
    sum(buy_volume)                             AS buy_volume,
    sum(sell_volume)                            AS sell_volume,
    sum(buy_value)                              AS buy_value,
    sum(sell_value)                             AS sell_value,
    sum(buy_fills)::bigint                      AS buy_fills,
    max(last_time)                              AS last_time
FROM ohlcv_1m_combined
GROUP BY 1, 2;

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
