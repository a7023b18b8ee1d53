-- The Upbit market catalog (GET /v1/market/all?is_details=true), refreshed by the ingest producer.
CREATE TABLE IF NOT EXISTS markets (
    code          text PRIMARY KEY,               -- e.g. KRW-BTC
    quote         text NOT NULL,                  -- KRW / BTC / USDT
    base          text NOT NULL,                  -- BTC
    korean_name   text NOT NULL DEFAULT '',
    english_name  text NOT NULL DEFAULT '',
    warning       boolean NOT NULL DEFAULT false, -- market_event.warning (투자유의)
    caution       jsonb NOT NULL DEFAULT '{}'::jsonb, -- market_event.caution flags
    listed        boolean NOT NULL DEFAULT true,  -- false once it left the catalog (delisted)
    first_seen    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    delisted_at   timestamptz
);
CREATE INDEX IF NOT EXISTS markets_quote ON markets (quote) WHERE listed;

-- Periods with no data: every WebSocket disconnect (and known outages) recorded with its scope, from the
-- last event before to the first event after, so analytics can say when data is missing.
CREATE TABLE IF NOT EXISTS ingest_gaps (
    id          bigserial PRIMARY KEY,
    code        text,                       -- NULL = every subscribed market
    gap_start   timestamptz NOT NULL,       -- last event time seen before the gap
    gap_end     timestamptz,                -- first event time after it (NULL while still open)
    reason      text NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ingest_gaps_period ON ingest_gaps (gap_start, gap_end);

-- Messages we could not use, with the raw payload and the reason: nothing is dropped silently.
CREATE TABLE IF NOT EXISTS dead_letters (
    id          bigserial PRIMARY KEY,
    stage       text NOT NULL,              -- ws (producer side) / consumer
    reason      text NOT NULL,
    raw         text NOT NULL,              -- as received (may not be valid JSON)
    source      text,                       -- e.g. kafka topic/partition/offset
    dedup_key   text UNIQUE,                -- makes re-processing after a crash idempotent
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dead_letters_created ON dead_letters (created_at);
