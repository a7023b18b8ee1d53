-- migrate: no-transaction
-- TimescaleDB mode: ohlcv_1m rebuilt with a typed tie-break, and hierarchical continuous aggregates of the fills
-- ohlcv_1m -> ohlcv_5m_fills -> ohlcv_1h_fills -> ohlcv_1d_fills (the public ohlcv_5m/1h/1d views in idempotent/020
-- add Upbit REST minutes where no fills are stored) (real-time: materialized_only = false at every level, so the open
-- bucket is always there). Plain mode has the same names and columns (070-rollups.postgres.sql).
--
-- Why the rebuild: 050 ordered first()/last() by the anonymous ROW(time, acc_trade_volume). When TimescaleDB
-- aggregates chunk by chunk (Partial/Finalize aggregate: any read or refresh whose window spans two 1-day chunks,
-- i.e. every day around 00:00 UTC) first()/last() serialise their state with the comparison value's type name,
-- and an anonymous record cannot be read back: "input of anonymous composite types is not implemented". A named
-- composite type has no `<` operator of its own, which first()/last() look up by exact type. So the ordering key is
-- one numeric: the event time in epoch seconds (exact to the microsecond) shifted left by 24 decimal digits, plus
-- acc_trade_volume. It sorts exactly like (time, acc_trade_volume) as long as acc_trade_volume < 1e18 (one
-- millisecond is 1e21 units; Upbit's largest daily volumes are ~1e13) and two fills of one millisecond differ in
-- acc_trade_volume within 15 significant digits (float8 -> numeric keeps 15). numeric serialises by name, so partial
-- aggregation works. `time - epoch` keeps the expression immutable (extract(epoch FROM timestamptz) is only stable).
--
-- Dropping ohlcv_1m drops the views built on it and the policies; idempotent/ (run after this file) re-creates them.
DROP VIEW IF EXISTS ohlcv_5m CASCADE;
DROP VIEW IF EXISTS ohlcv_1h CASCADE;
DROP MATERIALIZED VIEW IF EXISTS ohlcv_1m CASCADE;

CREATE MATERIALIZED VIEW ohlcv_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 minute', time)                                AS bucket,
    code,
    first(trade_price, extract(epoch FROM time - TIMESTAMPTZ '1970-01-01 00:00:00+00') * 1e24
                       + acc_trade_volume::numeric)                       AS open,
    max(trade_price)                                                      AS high,
    min(trade_price)                                                      AS low,
    last(trade_price, extract(epoch FROM time - TIMESTAMPTZ '1970-01-01 00:00:00+00') * 1e24
                      + acc_trade_volume::numeric)                        AS close,
    sum(trade_volume)                                                     AS volume,
    sum(trade_volume * trade_price)                                       AS value,
    count(*)                                                              AS fills,
    sum(trade_volume) FILTER (WHERE ask_bid = 'BID')                      AS buy_volume,
    sum(trade_volume) FILTER (WHERE ask_bid = 'ASK')                      AS sell_volume,
    sum(trade_volume * trade_price) FILTER (WHERE ask_bid = 'BID')        AS buy_value,
    sum(trade_volume * trade_price) FILTER (WHERE ask_bid = 'ASK')        AS sell_value,
    count(*) FILTER (WHERE ask_bid = 'BID')                               AS buy_fills,
    max(time)                                                             AS last_time,
    last(signed_change_rate, extract(epoch FROM time - TIMESTAMPTZ '1970-01-01 00:00:00+00') * 1e24
                             + acc_trade_volume::numeric)                 AS signed_change_rate,
    last(acc_trade_price_24h, extract(epoch FROM time - TIMESTAMPTZ '1970-01-01 00:00:00+00') * 1e24
                              + acc_trade_volume::numeric)                AS acc_trade_price_24h
FROM ticker_data
GROUP BY 1, 2
WITH NO DATA;

CREATE INDEX IF NOT EXISTS ohlcv_1m_code_bucket ON ohlcv_1m (code, bucket DESC);

-- Higher levels read the level below (never raw ticks), so they outlive tick retention like ohlcv_1m does.
-- Open/close: the first/last lower bucket's open/close (bucket is a timestamptz: serialisable).
CREATE MATERIALIZED VIEW ohlcv_5m_fills
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '5 minutes', bucket) AS bucket,
    code,
    first(open, bucket)                       AS open,
    max(high)                                 AS high,
    min(low)                                  AS low,
    last(close, bucket)                       AS close,
    sum(volume)                               AS volume,
    sum(value)                                AS value,
    sum(fills)::bigint                        AS fills,
    sum(buy_volume)                           AS buy_volume,
    sum(sell_volume)                          AS sell_volume,
    sum(buy_value)                            AS buy_value,
    sum(sell_value)                           AS sell_value,
    sum(buy_fills)::bigint                    AS buy_fills,
    max(last_time)                            AS last_time
FROM ohlcv_1m
GROUP BY 1, 2
WITH NO DATA;
CREATE INDEX IF NOT EXISTS ohlcv_5m_fills_code_bucket ON ohlcv_5m_fills (code, bucket DESC);

CREATE MATERIALIZED VIEW ohlcv_1h_fills
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', bucket)    AS bucket,
    code,
    first(open, bucket)                       AS open,
    max(high)                                 AS high,
    min(low)                                  AS low,
    last(close, bucket)                       AS close,
    sum(volume)                               AS volume,
    sum(value)                                AS value,
    sum(fills)::bigint                        AS fills,
    sum(buy_volume)                           AS buy_volume,
    sum(sell_volume)                          AS sell_volume,
    sum(buy_value)                            AS buy_value,
    sum(sell_value)                           AS sell_value,
    sum(buy_fills)::bigint                    AS buy_fills,
    max(last_time)                            AS last_time
FROM ohlcv_5m_fills
GROUP BY 1, 2
WITH NO DATA;
CREATE INDEX IF NOT EXISTS ohlcv_1h_fills_code_bucket ON ohlcv_1h_fills (code, bucket DESC);

-- UTC days (00:00 UTC = 09:00 KST, where Upbit's own daily candle starts).
CREATE MATERIALIZED VIEW ohlcv_1d_fills
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket)     AS bucket,
    code,
    first(open, bucket)                       AS open,
    max(high)                                 AS high,
    min(low)                                  AS low,
    last(close, bucket)                       AS close,
    sum(volume)                               AS volume,
    sum(value)                                AS value,
    sum(fills)::bigint                        AS fills,
    sum(buy_volume)                           AS buy_volume,
    sum(sell_volume)                          AS sell_volume,
    sum(buy_value)                            AS buy_value,
    sum(sell_value)                           AS sell_value,
    sum(buy_fills)::bigint                    AS buy_fills,
    max(last_time)                            AS last_time
FROM ohlcv_1h_fills
GROUP BY 1, 2
WITH NO DATA;
CREATE INDEX IF NOT EXISTS ohlcv_1d_fills_code_bucket ON ohlcv_1d_fills (code, bucket DESC);

-- Old materialised candles are compressed (policies in idempotent/010); segment by market like ticker_data.
ALTER MATERIALIZED VIEW ohlcv_1m SET (timescaledb.compress = true, timescaledb.compress_segmentby = 'code',
    timescaledb.compress_orderby = 'bucket DESC');
ALTER MATERIALIZED VIEW ohlcv_5m_fills SET (timescaledb.compress = true, timescaledb.compress_segmentby = 'code',
    timescaledb.compress_orderby = 'bucket DESC');
ALTER MATERIALIZED VIEW ohlcv_1h_fills SET (timescaledb.compress = true, timescaledb.compress_segmentby = 'code',
    timescaledb.compress_orderby = 'bucket DESC');

-- Drop raw ticks without invalidating the aggregates (see idempotent/010): a refresh then never re-materialises a
-- dropped range from nothing, so candles outlive their ticks. Where the server has no skip_cagg_invalidation
-- (before 2.28) db.maintenance.refresh_aggregates keeps its ohlcv_1m window inside the chunks that still exist.
CREATE OR REPLACE PROCEDURE upbit_drop_old_ticks(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'timescaledb.skip_cagg_invalidation') THEN
        PERFORM set_config('timescaledb.skip_cagg_invalidation', 'on', true);
    END IF;
    PERFORM drop_chunks('ticker_data',
        created_before => now() - make_interval(days => (config ->> 'retention_days')::int));
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'timescaledb.skip_cagg_invalidation') THEN
        PERFORM set_config('timescaledb.skip_cagg_invalidation', 'off', true);
    END IF;
END;
$$;

-- History is materialised again, level by level, before the current bucket of each level.
CALL refresh_continuous_aggregate('ohlcv_1m', NULL, date_trunc('minute', now()));
CALL refresh_continuous_aggregate('ohlcv_5m_fills', NULL, time_bucket(INTERVAL '5 minutes', now()));
CALL refresh_continuous_aggregate('ohlcv_1h_fills', NULL, time_bucket(INTERVAL '1 hour', now()));
CALL refresh_continuous_aggregate('ohlcv_1d_fills', NULL, time_bucket(INTERVAL '1 day', now()));
