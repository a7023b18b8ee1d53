-- Raw Upbit ticker messages: every field Upbit sends (33 keys), one row per message (= per fill).
--
-- Types: Upbit sends JSON doubles, so prices and volumes are `double precision`: it holds exactly the value
-- sent (1e-8 .. 1e9 prices, volumes above 1e12 for SHIB/PEPE/BONK/BTT) with no overflow, unlike DECIMAL(20,8).
-- Enum-like fields are `text` with no CHECK, so a value Upbit adds tomorrow never makes an insert fail.
-- Identity: `msg_id` is a 128-bit hash of the whole canonical message. Fills that share a millisecond differ in
-- volume/price/cumulative fields and so get distinct ids; a re-delivered message has the same id and is stored once.
-- Event time `time` is `trade_timestamp`; `received_at` is when our producer read it off the socket.
CREATE TABLE IF NOT EXISTS ticker_data (
    time                  timestamptz      NOT NULL,
    code                  text             NOT NULL,
    msg_id                uuid             NOT NULL,
    type                  text             NOT NULL DEFAULT 'ticker',
    opening_price         double precision,
    high_price            double precision,
    low_price             double precision,
    trade_price           double precision NOT NULL,
    prev_closing_price    double precision,
    change                text,
    change_price          double precision,
    signed_change_price   double precision,
    change_rate           double precision,
    signed_change_rate    double precision,
    trade_volume          double precision,
    acc_trade_volume      double precision,
    acc_trade_volume_24h  double precision,
    acc_trade_price       double precision,
    acc_trade_price_24h   double precision,
    trade_date            text,
    trade_time            text,
    trade_timestamp       bigint           NOT NULL,
    ask_bid               text,
    acc_ask_volume        double precision,
    acc_bid_volume        double precision,
    highest_52_week_price double precision,
    highest_52_week_date  date,
    lowest_52_week_price  double precision,
    lowest_52_week_date   date,
    market_state          text,
    is_trading_suspended  boolean,
    delisting_date        date,
    market_warning        text,
    "timestamp"           bigint,
    stream_type           text,
    received_at           timestamptz      NOT NULL DEFAULT now(),
    ingested_at           timestamptz      NOT NULL DEFAULT now(),
    -- Keys Upbit sends that this schema does not know yet: kept, never dropped.
    extra                 jsonb
);

-- The de-duplication key. It includes `time` because TimescaleDB requires the partitioning column in every
-- unique index; it also serves (code, time) range scans in both directions.
CREATE UNIQUE INDEX IF NOT EXISTS ticker_data_identity ON ticker_data (code, time, msg_id);
CREATE INDEX IF NOT EXISTS ticker_data_time ON ticker_data (time DESC);

-- The newest message per market, maintained by the consumer (upsert guarded by event time), so "latest
-- price of every market" is one small scan instead of a DISTINCT ON over the raw table.
CREATE TABLE IF NOT EXISTS ticker_latest (LIKE ticker_data INCLUDING DEFAULTS);
ALTER TABLE ticker_latest ADD PRIMARY KEY (code);
