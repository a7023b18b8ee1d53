-- Anomaly detector and alert delivery state (anomaly/ and alerts/ packages own these tables).

-- The scan watermark: every 10-second bucket up to `watermark` (exclusive, event time) has been evaluated.
-- Updated in the same transaction as the anomalies it produced, so each bucket is evaluated exactly once.
CREATE TABLE IF NOT EXISTS anomaly_scan_state (
    name        text PRIMARY KEY,                 -- 'default'
    watermark   timestamptz NOT NULL,             -- event time: buckets before it are done
    state       jsonb NOT NULL DEFAULT '{}'::jsonb, -- detector carry-over (open stale event, flag baseline taken)
    scans       bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Fine buckets per market, written once when evaluated: the trailing baseline of later scans reads these instead
-- of re-aggregating 30 minutes of raw ticks every scan. value is in the market's quote currency (KRW).
CREATE TABLE IF NOT EXISTS anomaly_buckets (
    code        text             NOT NULL,
    bucket      timestamptz      NOT NULL,        -- bucket start (event time)
    open        double precision NOT NULL,
    high        double precision NOT NULL,
    low         double precision NOT NULL,
    close       double precision NOT NULL,
    value       double precision NOT NULL,        -- sum(price × volume) of fills
    buy_value   double precision NOT NULL,        -- BID (buyer-initiated) fills
    fills       integer          NOT NULL,
    buy_fills   integer          NOT NULL,
    orders      integer          NOT NULL,        -- distinct trade timestamps ≈ taker orders (a sweep is one)
    PRIMARY KEY (code, bucket)
);
CREATE INDEX IF NOT EXISTS anomaly_buckets_bucket ON anomaly_buckets (bucket);

-- Open episodes (one row per open/escalated anomaly) and per-market cooldowns, in event time.
CREATE TABLE IF NOT EXISTS anomaly_market_state (
    market          text PRIMARY KEY,             -- market code or 'MARKET'
    open_anomaly_id bigint REFERENCES anomalies (id) ON DELETE SET NULL,
    episode         jsonb NOT NULL DEFAULT '{}'::jsonb, -- reference/peak prices, last active bucket, peak severity
    cooldown_until  timestamptz,                  -- event time before which a new episode is not opened
    cooldown_severity text,                       -- peak severity of the episode that set the cooldown
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Last seen Upbit caution flags per market (markets.warning / markets.caution), to alert on changes only.
CREATE TABLE IF NOT EXISTS anomaly_flag_state (
    code        text PRIMARY KEY,
    warning     boolean NOT NULL,
    caution     jsonb NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now()
);

-- Alert claims: one row per (anomaly, channel, status version), inserted before the first send. The row is the
-- "delivered once" guarantee across workers and restarts: a claimed version is never sent by anyone else, and a
-- claim left 'in_flight' by a worker that died mid-request is never re-sent (outcome unknown beats a duplicate).
CREATE TABLE IF NOT EXISTS alert_claims (
    anomaly_id      bigint  NOT NULL REFERENCES anomalies (id) ON DELETE CASCADE,
    channel         text    NOT NULL,             -- slack / webhook
    version         integer NOT NULL,             -- 1 open, 2 escalated, 3 resolved
    idempotency_key text    NOT NULL UNIQUE,
    state           text    NOT NULL,             -- pending / in_flight / backoff / sent / failed / unknown / skipped
    attempts        integer NOT NULL DEFAULT 0,
    claimed_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (anomaly_id, channel, version)
);

ALTER TABLE alert_deliveries ADD COLUMN IF NOT EXISTS version integer;
ALTER TABLE alert_deliveries ADD COLUMN IF NOT EXISTS duration_ms integer;
CREATE INDEX IF NOT EXISTS alert_deliveries_anomaly ON alert_deliveries (anomaly_id, channel);
CREATE INDEX IF NOT EXISTS anomalies_open ON anomalies (status) WHERE status <> 'resolved';
