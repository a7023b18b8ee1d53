-- TimescaleDB policies, re-applied on every migrate so settings changes take effect.
--
-- Retention: raw ticks are dropped by chunk *creation* time, not event time, so a replay of old data stays
-- queryable for the whole retention period instead of being dropped the moment it lands. The drop is our own job
-- (upbit_drop_old_ticks, migration 070) instead of add_retention_policy: the built-in policy invalidates the
-- continuous aggregates over each dropped chunk, and the next refresh that covers it would re-materialise the
-- day's candles from no ticks, i.e. delete them. Candles and summaries must outlive the ticks.
SELECT remove_retention_policy('ticker_data', if_exists => true);
SELECT delete_job(job_id) FROM timescaledb_information.jobs WHERE proc_name = 'upbit_drop_old_ticks';
SELECT add_job('upbit_drop_old_ticks', INTERVAL '1 hour',
    config => jsonb_build_object('retention_days', current_setting('upbit.retention_days')::int));

-- Compress tick chunks once they are a few days old (event time); late replays into compressed chunks still insert.
SELECT add_compression_policy('ticker_data', compress_after => INTERVAL '3 days', if_not_exists => true);

-- Refresh policies, one per level, bottom-up in effect (each level reads the one below). Windows:
-- - ohlcv_1m looks back (retention - 2) days, so replays and backfills of the retention period are materialised by
--   the policy itself; a chunk old enough to be dropped (created >= retention days ago, so its event times end
--   before now - retention + 1 day) is never inside the window. Older replays are materialised by
--   db.maintenance.refresh_aggregates (Celery beat), whose window covers every chunk that still exists.
-- - a refresh only recomputes invalidated buckets inside its window, so a long window costs nothing when quiet.
-- - end offsets stop before the open bucket: the open bucket comes from the real-time part; materialising it would
--   move the watermark past it and later fills of that bucket would wait for the next refresh.
-- - the higher levels look back further than the level below, so everything the lower level re-materialised is
--   picked up. One atomic pass per run where the server batches refreshes (2.19+): batched, a reader in the middle
--   of a run sees the newest batch materialised and the watermark above older batches that are not yet.
-- Compression of aggregate chunks starts after their refresh window (TimescaleDB requires compress_after beyond
-- the refresh start offset).
DO $$
DECLARE
    batching boolean := EXISTS (
        SELECT 1 FROM pg_proc WHERE proname = 'add_continuous_aggregate_policy' AND 'buckets_per_batch' = ANY (proargnames)
    );
    days integer := greatest(current_setting('upbit.retention_days')::int - 2, 1);
    level record;
BEGIN
    FOR level IN
        SELECT * FROM (VALUES
            ('ohlcv_1m', make_interval(days => days),     INTERVAL '1 minute',  INTERVAL '1 minute',
                         make_interval(days => days + 5)),
            ('ohlcv_5m_fills', make_interval(days => days + 1), INTERVAL '5 minutes', INTERVAL '5 minutes',
                         make_interval(days => days + 7)),
            ('ohlcv_1h_fills', make_interval(days => days + 2), INTERVAL '1 hour',    INTERVAL '15 minutes',
                         make_interval(days => days + 30)),
            ('ohlcv_1d_fills', make_interval(days => days + 3), INTERVAL '1 day',     INTERVAL '1 hour',
                         NULL::interval)
        ) AS l(view_name, start_offset, end_offset, schedule, compress_after)
    LOOP
        PERFORM remove_continuous_aggregate_policy(level.view_name::regclass, if_exists => true);
        IF batching THEN
            PERFORM add_continuous_aggregate_policy(level.view_name::regclass, start_offset => level.start_offset,
                end_offset => level.end_offset, schedule_interval => level.schedule, buckets_per_batch => 0);
        ELSE
            PERFORM add_continuous_aggregate_policy(level.view_name::regclass, start_offset => level.start_offset,
                end_offset => level.end_offset, schedule_interval => level.schedule);
        END IF;
        PERFORM remove_compression_policy(level.view_name::regclass, if_exists => true);
        IF level.compress_after IS NOT NULL THEN
            PERFORM add_compression_policy(level.view_name::regclass, compress_after => level.compress_after);
        END IF;
    END LOOP;
END
$$;
