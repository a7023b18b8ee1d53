-- Plain PostgreSQL mode: an invalidation log that tells the incremental refresh (and the real-time view)
-- which (market, minute) buckets received rows since they were last materialised. It is written by a
-- statement-level trigger in the same transaction as the rows, so a refresh can never miss committed data.
CREATE TABLE IF NOT EXISTS agg_invalidations (
    code   text        NOT NULL,
    bucket timestamptz NOT NULL,
    PRIMARY KEY (code, bucket)
);

CREATE OR REPLACE FUNCTION ticker_data_invalidate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO agg_invalidations (code, bucket)
    SELECT DISTINCT code, date_trunc('minute', time) FROM new_rows
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS ticker_data_invalidate ON ticker_data;
CREATE TRIGGER ticker_data_invalidate
    AFTER INSERT ON ticker_data
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ticker_data_invalidate();
