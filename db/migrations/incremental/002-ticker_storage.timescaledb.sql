-- TimescaleDB mode: ticker_data becomes a hypertable (1-day chunks on event time) with compression.
-- Retention and compression policies are (re)applied by idempotent/010-policies.timescaledb.sql.
SELECT create_hypertable('ticker_data', by_range('time', INTERVAL '1 day'), if_not_exists => true, migrate_data => true);
ALTER TABLE ticker_data SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'code',
    timescaledb.compress_orderby = 'time DESC, msg_id'
);
