-- Upbit REST minute candles (backfill on first start, `upbit-llm backfill`, gap healing), kept apart from the
-- fills: ohlcv_1m stays what the stored fills say, and the combined view (idempotent/015) lets a REST minute fill
-- in only where no fills are stored. Same table in both modes (a few hundred thousand rows a day at most).
CREATE TABLE IF NOT EXISTS rest_candles_1m (
    code        text             NOT NULL,
    bucket      timestamptz      NOT NULL,            -- candle_date_time_utc (minute start)
    open        double precision NOT NULL,
    high        double precision NOT NULL,
    low         double precision NOT NULL,
    close       double precision NOT NULL,            -- trade_price
    volume      double precision NOT NULL,            -- candle_acc_trade_volume
    value       double precision NOT NULL,            -- candle_acc_trade_price (quote currency)
    last_time   timestamptz,                          -- timestamp: the candle's last fill
    fetched_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (code, bucket)
);
CREATE INDEX IF NOT EXISTS rest_candles_1m_bucket ON rest_candles_1m (bucket);

-- One backfill run (CLI, first start of ingest, or a gap heal) and its per-market cursor, committed with every
-- page of candles: an interrupted run resumes where it stopped and stores exactly the same rows.
CREATE TABLE IF NOT EXISTS rest_backfill_jobs (
    id           bigserial PRIMARY KEY,
    kind         text        NOT NULL,               -- backfill / startup / heal
    since        timestamptz NOT NULL,               -- oldest minute wanted (inclusive)
    until        timestamptz NOT NULL,               -- exclusive end (a minute boundary)
    markets      text[]      NOT NULL,
    status       text        NOT NULL DEFAULT 'running',  -- running / done
    requests     integer     NOT NULL DEFAULT 0,
    candles      integer     NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE TABLE IF NOT EXISTS rest_backfill_progress (
    job_id      bigint      NOT NULL REFERENCES rest_backfill_jobs (id) ON DELETE CASCADE,
    code        text        NOT NULL,
    cursor_to   timestamptz NOT NULL,                -- the next request's `to` (exclusive)
    done        boolean     NOT NULL DEFAULT false,
    requests    integer     NOT NULL DEFAULT 0,
    candles     integer     NOT NULL DEFAULT 0,
    oldest      timestamptz,                         -- oldest candle Upbit returned (NULL: none)
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, code)
);

-- Gap healing outcome: healed (REST minutes stored for the gap), not_healable (older than Upbit keeps minute
-- candles), failed (REST unreachable; retried by the next heal run). NULL = not tried yet.
ALTER TABLE ingest_gaps ADD COLUMN IF NOT EXISTS heal_status text;
ALTER TABLE ingest_gaps ADD COLUMN IF NOT EXISTS healed_at timestamptz;
ALTER TABLE ingest_gaps ADD COLUMN IF NOT EXISTS heal_minutes integer;
ALTER TABLE ingest_gaps ADD COLUMN IF NOT EXISTS heal_attempts integer NOT NULL DEFAULT 0;
