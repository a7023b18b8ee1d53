-- Plain PostgreSQL mode: ohlcv_5m_fills, ohlcv_1h_fills and ohlcv_1d_fills with the same names, columns and
-- results as the TimescaleDB hierarchical continuous aggregates (070-rollups.timescaledb.sql). Each level is a rollup table
-- (ohlcv_<level>_store) of the level below, refreshed incrementally by refresh_ohlcv_1m() together with ohlcv_1m:
-- a refreshed minute recomputes its 5-minute, hour and day buckets, in that order, from the level below.
-- The views serve stored buckets and compute the buckets that contain a not-yet-refreshed minute (the
-- agg_invalidations log) on the fly, so results are real-time, like TimescaleDB's materialized_only = false.
-- Rollups read the level below, never raw ticks: candles outlive tick retention (apply_retention deletes ticks
-- only). Buckets are UTC-aligned (date_bin from 2000-01-01 UTC, the same boundaries as time_bucket).
DROP VIEW IF EXISTS ohlcv_5m CASCADE;
DROP VIEW IF EXISTS ohlcv_1h CASCADE;

CREATE TABLE IF NOT EXISTS ohlcv_5m_store (
    bucket      timestamptz      NOT NULL,
    code        text             NOT NULL,
    open        double precision,
    high        double precision,
    low         double precision,
    close       double precision,
    volume      double precision,
    value       double precision,
    fills       bigint           NOT NULL,
    buy_volume  double precision,
    sell_volume double precision,
    buy_value   double precision,
    sell_value  double precision,
    buy_fills   bigint,
    last_time   timestamptz,
    PRIMARY KEY (code, bucket)
);
CREATE INDEX IF NOT EXISTS ohlcv_5m_store_bucket ON ohlcv_5m_store (bucket);

-- One 5 minutes bucket of one market rolled up from ohlcv_1m_store: open of its first bucket, close of its last.
-- Used by the refresh, after the level below was refreshed (its store is then complete for this bucket).
CREATE OR REPLACE FUNCTION ohlcv_5m_for(p_code text, p_bucket timestamptz)
RETURNS SETOF ohlcv_5m_store
LANGUAGE sql STABLE AS $$
    SELECT
        p_bucket,
        p_code,
        (array_agg(open ORDER BY bucket))[1],
        max(high),
        min(low),
        (array_agg(close ORDER BY bucket DESC))[1],
        sum(volume),
        sum(value),
        sum(fills)::bigint,
        sum(buy_volume),
        sum(sell_volume),
        sum(buy_value),
        sum(sell_value),
        sum(buy_fills)::bigint,
        max(last_time)
    FROM ohlcv_1m_store
    WHERE code = p_code AND bucket >= p_bucket AND bucket < p_bucket + INTERVAL '5 minutes'
    HAVING count(*) > 0
$$;

-- Existing history, rolled up once from the level below.
INSERT INTO ohlcv_5m_store
SELECT
    date_bin(INTERVAL '5 minutes', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
    code,
    (array_agg(open ORDER BY bucket))[1],
    max(high),
    min(low),
    (array_agg(close ORDER BY bucket DESC))[1],
    sum(volume),
    sum(value),
    sum(fills)::bigint,
    sum(buy_volume),
    sum(sell_volume),
    sum(buy_value),
    sum(sell_value),
    sum(buy_fills)::bigint,
    max(last_time)
FROM ohlcv_1m_store
GROUP BY 1, 2
ON CONFLICT (code, bucket) DO NOTHING;

CREATE OR REPLACE VIEW ohlcv_5m_fills AS
SELECT s.*
FROM ohlcv_5m_store s
WHERE NOT EXISTS (
    SELECT 1 FROM agg_invalidations i
    WHERE i.code = s.code AND i.bucket >= s.bucket AND i.bucket < s.bucket + INTERVAL '5 minutes'
)
UNION ALL
-- Buckets holding a not-yet-refreshed minute, rolled up from that bucket's minutes: stored ones plus pending ones
-- computed from ticks (what the ohlcv_1m view serves), spelled out so that both halves are indexed range reads on
-- (code, bucket). Reading through the ohlcv_1m view or the level below instead, PostgreSQL cannot push the bucket
-- range into agg_invalidations and recomputes every pending minute per bucket: minutes per read after a replay.
SELECT d.bucket, d.code, r.*
FROM (
    SELECT DISTINCT code, date_bin(INTERVAL '5 minutes', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
    FROM agg_invalidations
) d
CROSS JOIN LATERAL (
    SELECT
        (array_agg(m.open ORDER BY m.bucket))[1]        AS open,
        max(m.high)                                     AS high,
        min(m.low)                                      AS low,
        (array_agg(m.close ORDER BY m.bucket DESC))[1]  AS close,
        sum(m.volume)                                   AS volume,
        sum(m.value)                                    AS value,
        sum(m.fills)::bigint                            AS fills,
        sum(m.buy_volume)                               AS buy_volume,
        sum(m.sell_volume)                              AS sell_volume,
        sum(m.buy_value)                                AS buy_value,
        sum(m.sell_value)                               AS sell_value,
        sum(m.buy_fills)::bigint                        AS buy_fills,
        max(m.last_time)                                AS last_time
    FROM (
        SELECT s.bucket, s.open, s.high, s.low, s.close, s.volume, s.value, s.fills, s.buy_volume, s.sell_volume, s.buy_value, s.sell_value, s.buy_fills, s.last_time
        FROM ohlcv_1m_store s
        WHERE s.code = d.code AND s.bucket >= d.bucket AND s.bucket < d.bucket + INTERVAL '5 minutes'
          AND NOT EXISTS (SELECT 1 FROM agg_invalidations i WHERE i.code = s.code AND i.bucket = s.bucket)
        UNION ALL
        SELECT f.bucket, f.open, f.high, f.low, f.close, f.volume, f.value, f.fills, f.buy_volume, f.sell_volume, f.buy_value, f.sell_value, f.buy_fills, f.last_time
        FROM agg_invalidations i
        CROSS JOIN LATERAL ohlcv_1m_for(i.code, i.bucket) f
        WHERE i.code = d.code AND i.bucket >= d.bucket AND i.bucket < d.bucket + INTERVAL '5 minutes'
    ) m
    HAVING count(*) > 0
) r;

CREATE TABLE IF NOT EXISTS ohlcv_1h_store (
    bucket      timestamptz      NOT NULL,
    code        text             NOT NULL,
    open        double precision,
    high        double precision,
    low         double precision,
    close       double precision,
    volume      double precision,
    value       double precision,
    fills       bigint           NOT NULL,
    buy_volume  double precision,
    sell_volume double precision,
    buy_value   double precision,
    sell_value  double precision,
    buy_fills   bigint,
    last_time   timestamptz,
    PRIMARY KEY (code, bucket)
);
CREATE INDEX IF NOT EXISTS ohlcv_1h_store_bucket ON ohlcv_1h_store (bucket);

-- One 1 hour bucket of one market rolled up from ohlcv_5m_store: open of its first bucket, close of its last.
-- Used by the refresh, after the level below was refreshed (its store is then complete for this bucket).
CREATE OR REPLACE FUNCTION ohlcv_1h_for(p_code text, p_bucket timestamptz)
RETURNS SETOF ohlcv_1h_store
LANGUAGE sql STABLE AS $$
    SELECT
        p_bucket,
        p_code,
        (array_agg(open ORDER BY bucket))[1],
        max(high),
        min(low),
        (array_agg(close ORDER BY bucket DESC))[1],
        sum(volume),
        sum(value),
        sum(fills)::bigint,
        sum(buy_volume),
        sum(sell_volume),
        sum(buy_value),
        sum(sell_value),
        sum(buy_fills)::bigint,
        max(last_time)
    FROM ohlcv_5m_store
    WHERE code = p_code AND bucket >= p_bucket AND bucket < p_bucket + INTERVAL '1 hour'
    HAVING count(*) > 0
$$;

-- Existing history, rolled up once from the level below.
INSERT INTO ohlcv_1h_store
SELECT
    date_bin(INTERVAL '1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
    code,
    (array_agg(open ORDER BY bucket))[1],
    max(high),
    min(low),
    (array_agg(close ORDER BY bucket DESC))[1],
    sum(volume),
    sum(value),
    sum(fills)::bigint,
    sum(buy_volume),
    sum(sell_volume),
    sum(buy_value),
    sum(sell_value),
    sum(buy_fills)::bigint,
    max(last_time)
FROM ohlcv_5m_store
GROUP BY 1, 2
ON CONFLICT (code, bucket) DO NOTHING;

CREATE OR REPLACE VIEW ohlcv_1h_fills AS
SELECT s.*
FROM ohlcv_1h_store s
WHERE NOT EXISTS (
    SELECT 1 FROM agg_invalidations i
    WHERE i.code = s.code AND i.bucket >= s.bucket AND i.bucket < s.bucket + INTERVAL '1 hour'
)
UNION ALL
-- Buckets holding a not-yet-refreshed minute, rolled up from that bucket's minutes: stored ones plus pending ones
-- computed from ticks (what the ohlcv_1m view serves), spelled out so that both halves are indexed range reads on
-- (code, bucket). Reading through the ohlcv_1m view or the level below instead, PostgreSQL cannot push the bucket
-- range into agg_invalidations and recomputes every pending minute per bucket: minutes per read after a replay.
SELECT d.bucket, d.code, r.*
FROM (
    SELECT DISTINCT code, date_bin(INTERVAL '1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
    FROM agg_invalidations
) d
CROSS JOIN LATERAL (
    SELECT
        (array_agg(m.open ORDER BY m.bucket))[1]        AS open,
        max(m.high)                                     AS high,
        min(m.low)                                      AS low,
        (array_agg(m.close ORDER BY m.bucket DESC))[1]  AS close,
        sum(m.volume)                                   AS volume,
        sum(m.value)                                    AS value,
        sum(m.fills)::bigint                            AS fills,
        sum(m.buy_volume)                               AS buy_volume,
        sum(m.sell_volume)                              AS sell_volume,
        sum(m.buy_value)                                AS buy_value,
        sum(m.sell_value)                               AS sell_value,
        sum(m.buy_fills)::bigint                        AS buy_fills,
        max(m.last_time)                                AS last_time
    FROM (
        SELECT s.bucket, s.open, s.high, s.low, s.close, s.volume, s.value, s.fills, s.buy_volume, s.sell_volume, s.buy_value, s.sell_value, s.buy_fills, s.last_time
        FROM ohlcv_1m_store s
        WHERE s.code = d.code AND s.bucket >= d.bucket AND s.bucket < d.bucket + INTERVAL '1 hour'
          AND NOT EXISTS (SELECT 1 FROM agg_invalidations i WHERE i.code = s.code AND i.bucket = s.bucket)
        UNION ALL
        SELECT f.bucket, f.open, f.high, f.low, f.close, f.volume, f.value, f.fills, f.buy_volume, f.sell_volume, f.buy_value, f.sell_value, f.buy_fills, f.last_time
        FROM agg_invalidations i
        CROSS JOIN LATERAL ohlcv_1m_for(i.code, i.bucket) f
        WHERE i.code = d.code AND i.bucket >= d.bucket AND i.bucket < d.bucket + INTERVAL '1 hour'
    ) m
    HAVING count(*) > 0
) r;

CREATE TABLE IF NOT EXISTS ohlcv_1d_store (
    bucket      timestamptz      NOT NULL,
    code        text             NOT NULL,
    open        double precision,
    high        double precision,
    low         double precision,
    close       double precision,
    volume      double precision,
    value       double precision,
    fills       bigint           NOT NULL,
    buy_volume  double precision,
    sell_volume double precision,
    buy_value   double precision,
    sell_value  double precision,
    buy_fills   bigint,
    last_time   timestamptz,
    PRIMARY KEY (code, bucket)
);
CREATE INDEX IF NOT EXISTS ohlcv_1d_store_bucket ON ohlcv_1d_store (bucket);

-- One 1 day bucket of one market rolled up from ohlcv_1h_store: open of its first bucket, close of its last.
-- Used by the refresh, after the level below was refreshed (its store is then complete for this bucket).
CREATE OR REPLACE FUNCTION ohlcv_1d_for(p_code text, p_bucket timestamptz)
RETURNS SETOF ohlcv_1d_store
LANGUAGE sql STABLE AS $$
    SELECT
        p_bucket,
        p_code,
        (array_agg(open ORDER BY bucket))[1],
        max(high),
        min(low),
        (array_agg(close ORDER BY bucket DESC))[1],
        sum(volume),
        sum(value),
        sum(fills)::bigint,
        sum(buy_volume),
        sum(sell_volume),
        sum(buy_value),
        sum(sell_value),
        sum(buy_fills)::bigint,
        max(last_time)
    FROM ohlcv_1h_store
    WHERE code = p_code AND bucket >= p_bucket AND bucket < p_bucket + INTERVAL '1 day'
    HAVING count(*) > 0
$$;

-- Existing history, rolled up once from the level below.
INSERT INTO ohlcv_1d_store
SELECT
    date_bin(INTERVAL '1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
    code,
    (array_agg(open ORDER BY bucket))[1],
    max(high),
    min(low),
    (array_agg(close ORDER BY bucket DESC))[1],
    sum(volume),
    sum(value),
    sum(fills)::bigint,
    sum(buy_volume),
    sum(sell_volume),
    sum(buy_value),
    sum(sell_value),
    sum(buy_fills)::bigint,
    max(last_time)
FROM ohlcv_1h_store
GROUP BY 1, 2
ON CONFLICT (code, bucket) DO NOTHING;

CREATE OR REPLACE VIEW ohlcv_1d_fills AS
SELECT s.*
FROM ohlcv_1d_store s
WHERE NOT EXISTS (
    SELECT 1 FROM agg_invalidations i
    WHERE i.code = s.code AND i.bucket >= s.bucket AND i.bucket < s.bucket + INTERVAL '1 day'
)
UNION ALL
-- Buckets holding a not-yet-refreshed minute, rolled up from that bucket's minutes: stored ones plus pending ones
-- computed from ticks (what the ohlcv_1m view serves), spelled out so that both halves are indexed range reads on
-- (code, bucket). Reading through the ohlcv_1m view or the level below instead, PostgreSQL cannot push the bucket
-- range into agg_invalidations and recomputes every pending minute per bucket: minutes per read after a replay.
SELECT d.bucket, d.code, r.*
FROM (
    SELECT DISTINCT code, date_bin(INTERVAL '1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
    FROM agg_invalidations
) d
CROSS JOIN LATERAL (
    SELECT
        (array_agg(m.open ORDER BY m.bucket))[1]        AS open,
        max(m.high)                                     AS high,
        min(m.low)                                      AS low,
        (array_agg(m.close ORDER BY m.bucket DESC))[1]  AS close,
        sum(m.volume)                                   AS volume,
        sum(m.value)                                    AS value,
        sum(m.fills)::bigint                            AS fills,
        sum(m.buy_volume)                               AS buy_volume,
        sum(m.sell_volume)                              AS sell_volume,
        sum(m.buy_value)                                AS buy_value,
        sum(m.sell_value)                               AS sell_value,
        sum(m.buy_fills)::bigint                        AS buy_fills,
        max(m.last_time)                                AS last_time
    FROM (
        SELECT s.bucket, s.open, s.high, s.low, s.close, s.volume, s.value, s.fills, s.buy_volume, s.sell_volume, s.buy_value, s.sell_value, s.buy_fills, s.last_time
        FROM ohlcv_1m_store s
        WHERE s.code = d.code AND s.bucket >= d.bucket AND s.bucket < d.bucket + INTERVAL '1 day'
          AND NOT EXISTS (SELECT 1 FROM agg_invalidations i WHERE i.code = s.code AND i.bucket = s.bucket)
        UNION ALL
        SELECT f.bucket, f.open, f.high, f.low, f.close, f.volume, f.value, f.fills, f.buy_volume, f.sell_volume, f.buy_value, f.sell_value, f.buy_fills, f.last_time
        FROM agg_invalidations i
        CROSS JOIN LATERAL ohlcv_1m_for(i.code, i.bucket) f
        WHERE i.code = d.code AND i.bucket >= d.bucket AND i.bucket < d.bucket + INTERVAL '1 day'
    ) m
    HAVING count(*) > 0
) r;

-- Materialise every invalidated minute, then its 5-minute, hour and day buckets (each from the level below, now
-- up to date), in one transaction. The EXCLUSIVE lock waits for in-flight writers and holds new ones for the
-- duration (readers are not blocked), so no committed row can slip between reading the invalidations and
-- computing their buckets. Returns the number of minutes refreshed.
CREATE OR REPLACE FUNCTION refresh_ohlcv_1m() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_codes   text[];
    v_buckets timestamptz[];
BEGIN
    LOCK TABLE agg_invalidations IN EXCLUSIVE MODE;
    WITH taken AS (
        DELETE FROM agg_invalidations RETURNING code, bucket
    )
    SELECT coalesce(array_agg(code), '{}'), coalesce(array_agg(bucket), '{}') INTO v_codes, v_buckets FROM taken;
    IF cardinality(v_codes) = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO ohlcv_1m_store
    SELECT r.* FROM unnest(v_codes, v_buckets) AS t(code, bucket) CROSS JOIN LATERAL ohlcv_1m_for(t.code, t.bucket) r
    ON CONFLICT (code, bucket) DO UPDATE SET
            open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
            volume = EXCLUDED.volume, value = EXCLUDED.value, fills = EXCLUDED.fills, buy_volume = EXCLUDED.buy_volume,
            sell_volume = EXCLUDED.sell_volume, buy_value = EXCLUDED.buy_value, sell_value = EXCLUDED.sell_value, buy_fills = EXCLUDED.buy_fills,
            last_time = EXCLUDED.last_time,
            signed_change_rate = EXCLUDED.signed_change_rate, acc_trade_price_24h = EXCLUDED.acc_trade_price_24h;
    INSERT INTO ohlcv_5m_store
    SELECT r.*
    FROM (
        SELECT DISTINCT t.code, date_bin(INTERVAL '5 minutes', t.bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
        FROM unnest(v_codes, v_buckets) AS t(code, bucket)
    ) d
    CROSS JOIN LATERAL ohlcv_5m_for(d.code, d.bucket) r
    ON CONFLICT (code, bucket) DO UPDATE SET
            open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
            volume = EXCLUDED.volume, value = EXCLUDED.value, fills = EXCLUDED.fills, buy_volume = EXCLUDED.buy_volume,
            sell_volume = EXCLUDED.sell_volume, buy_value = EXCLUDED.buy_value, sell_value = EXCLUDED.sell_value, buy_fills = EXCLUDED.buy_fills,
            last_time = EXCLUDED.last_time;
    INSERT INTO ohlcv_1h_store
    SELECT r.*
    FROM (
        SELECT DISTINCT t.code, date_bin(INTERVAL '1 hour', t.bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
        FROM unnest(v_codes, v_buckets) AS t(code, bucket)
    ) d
    CROSS JOIN LATERAL ohlcv_1h_for(d.code, d.bucket) r
    ON CONFLICT (code, bucket) DO UPDATE SET
            open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
            volume = EXCLUDED.volume, value = EXCLUDED.value, fills = EXCLUDED.fills, buy_volume = EXCLUDED.buy_volume,
            sell_volume = EXCLUDED.sell_volume, buy_value = EXCLUDED.buy_value, sell_value = EXCLUDED.sell_value, buy_fills = EXCLUDED.buy_fills,
            last_time = EXCLUDED.last_time;
    INSERT INTO ohlcv_1d_store
    SELECT r.*
    FROM (
        SELECT DISTINCT t.code, date_bin(INTERVAL '1 day', t.bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
        FROM unnest(v_codes, v_buckets) AS t(code, bucket)
    ) d
    CROSS JOIN LATERAL ohlcv_1d_for(d.code, d.bucket) r
    ON CONFLICT (code, bucket) DO UPDATE SET
            open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
            volume = EXCLUDED.volume, value = EXCLUDED.value, fills = EXCLUDED.fills, buy_volume = EXCLUDED.buy_volume,
            sell_volume = EXCLUDED.sell_volume, buy_value = EXCLUDED.buy_value, sell_value = EXCLUDED.sell_value, buy_fills = EXCLUDED.buy_fills,
            last_time = EXCLUDED.last_time;
    RETURN cardinality(v_codes);
END;
$$;
