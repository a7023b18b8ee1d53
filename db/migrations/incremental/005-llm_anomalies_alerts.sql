-- Tables shared by the Celery workers, the anomaly detector, MCP and the dashboard. Owners may add columns in
-- their own numbered migrations; these columns are the contract between them.

-- Every call to Claude (or the offline analyst): usage and cost, for `upbit-llm costs`.
CREATE TABLE IF NOT EXISTS llm_calls (
    id                     bigserial PRIMARY KEY,
    task_kind              text        NOT NULL,          -- market_summary / coin_qa / anomaly_interpretation
    model                  text        NOT NULL,          -- e.g. claude-haiku-4-5, or 'offline-analyst'
    offline                boolean     NOT NULL DEFAULT false,
    status                 text        NOT NULL,          -- ok / error / regenerated
    input_tokens           integer     NOT NULL DEFAULT 0,
    output_tokens          integer     NOT NULL DEFAULT 0,
    cache_creation_tokens  integer     NOT NULL DEFAULT 0,
    cache_read_tokens      integer     NOT NULL DEFAULT 0,
    cost_usd               numeric(12, 6) NOT NULL DEFAULT 0,
    latency_ms             integer,
    attempt                integer     NOT NULL DEFAULT 1,
    error                  text,
    result_id              bigint,                        -- llm_results.id when the call produced a stored result
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS llm_calls_created ON llm_calls (created_at);

-- Stored LLM outputs: market summaries, coin answers, anomaly interpretations. One row per kind and window.
CREATE TABLE IF NOT EXISTS llm_results (
    id                bigserial PRIMARY KEY,
    kind              text        NOT NULL,               -- market_summary / coin_qa / anomaly_interpretation
    window_key        text        NOT NULL,               -- idempotency key within the kind (e.g. the 5-min window)
    window_start      timestamptz,
    window_end        timestamptz,
    as_of             timestamptz NOT NULL,               -- event time of the newest data in the context
    language          text        NOT NULL DEFAULT 'ko',
    model             text        NOT NULL,
    offline           boolean     NOT NULL DEFAULT false,
    question          text,                               -- coin_qa: the user's question
    markets           text[]      NOT NULL DEFAULT '{}',  -- markets the result is about
    context           jsonb       NOT NULL,               -- the compact facts the model was given
    context_tokens    integer,
    text              text        NOT NULL,               -- the answer / summary
    payload           jsonb,                              -- structured output (e.g. interpretation fields)
    grounded          boolean     NOT NULL DEFAULT true,  -- every number matched the context
    grounding_issues  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    changes           jsonb,                              -- what changed since the previous summary
    input_tokens      integer     NOT NULL DEFAULT 0,
    output_tokens     integer     NOT NULL DEFAULT 0,
    cost_usd          numeric(12, 6) NOT NULL DEFAULT 0,
    latency_ms        integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, window_key)
);
CREATE INDEX IF NOT EXISTS llm_results_kind_created ON llm_results (kind, created_at DESC);

-- Anomaly events with their lifecycle (open → escalated → resolved).
CREATE TABLE IF NOT EXISTS anomalies (
    id              bigserial PRIMARY KEY,
    market          text        NOT NULL,                 -- market code, or 'MARKET' for a market-wide event
    kind            text        NOT NULL,                 -- value_spike / price_jump / buy_burst / caution_flag /
                                                          -- market_move / data_stale / ...
    severity        text        NOT NULL,                 -- info / low / medium / high / critical
    status          text        NOT NULL DEFAULT 'open',  -- open / escalated / resolved
    started_at      timestamptz NOT NULL,                 -- event time the anomaly began
    detected_at     timestamptz NOT NULL,                 -- event time at detection
    updated_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolution      text,                                 -- e.g. reversed / faded / data_resumed
    metrics         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    interpretation  jsonb,                                -- cause category, confidence, what to watch, text
    interpreted_at  timestamptz,
    dedup_key       text        NOT NULL UNIQUE           -- makes a re-run scan idempotent
);
CREATE INDEX IF NOT EXISTS anomalies_started ON anomalies (started_at DESC);
CREATE INDEX IF NOT EXISTS anomalies_market ON anomalies (market, started_at DESC);

-- Alert delivery log: one row per attempt; a (anomaly, channel, event) is delivered once.
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id               bigserial PRIMARY KEY,
    anomaly_id       bigint      NOT NULL REFERENCES anomalies (id) ON DELETE CASCADE,
    channel          text        NOT NULL,                -- slack / webhook
    idempotency_key  text        NOT NULL,
    attempt          integer     NOT NULL,
    status           text        NOT NULL,                -- sent / failed / retrying / skipped
    http_status      integer,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_deliveries_key ON alert_deliveries (idempotency_key);
