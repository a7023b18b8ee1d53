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
-- Celery aggregate-refresh task through db.aggregates.refresh_aggregates().
SELECT add_continuous_aggregate_policy(
    'ohlcv_1m',
    start_offset => INTERVAL '3 hours',
    end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute',
    if_not_exists => true
);
