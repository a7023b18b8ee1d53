-- TimescaleDB policies, re-applied on every migrate so settings changes take effect.
-- Retention drops chunks by *creation* time, not event time: a replay of old data stays queryable for the
-- whole retention period instead of being dropped the moment it lands.
SELECT remove_retention_policy('ticker_data', if_exists => true);
SELECT add_retention_policy(
    'ticker_data',
    drop_created_before => make_interval(days => current_setting('upbit.retention_days')::int)
);
-- Compress chunks once they are a few days old (event time); late replays into compressed chunks still insert.
SELECT add_compression_policy('ticker_data', compress_after => INTERVAL '3 days', if_not_exists => true);
-- Keep the materialised part of ohlcv_1m fresh; older invalidated ranges (replays) are refreshed by the
-- Celery aggregate-refresh task through db.maintenance.refresh_aggregates().
-- One atomic pass per run where the server batches refreshes (2.19+, newest batch first by default): batched, a
-- reader in the middle of a run sees the newest batch materialised and the watermark above older batches that
-- are not yet, so whole minutes vanish from ohlcv_1m until the run ends (seen after backfills and on start-up).
DO $$
DECLARE
    batching boolean := EXISTS (
        SELECT 1 FROM pg_proc WHERE proname = 'add_continuous_aggregate_policy' AND 'buckets_per_batch' = ANY (proargnames)
    );
BEGIN
    IF NOT batching THEN
        PERFORM add_continuous_aggregate_policy('ohlcv_1m', start_offset => INTERVAL '3 hours',
            end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => true);
    ELSIF NOT EXISTS (
        SELECT 1 FROM timescaledb_information.jobs
        WHERE proc_name = 'policy_refresh_continuous_aggregate' AND config ->> 'buckets_per_batch' = '0'
    ) THEN
        PERFORM remove_continuous_aggregate_policy('ohlcv_1m', if_exists => true);
        PERFORM add_continuous_aggregate_policy('ohlcv_1m', start_offset => INTERVAL '3 hours',
            end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', buckets_per_batch => 0);
    END IF;
END
$$;
