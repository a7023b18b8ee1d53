-- Idempotent (re-applied each migrate) rather than a numbered migration so that databases already past 040 get it.
-- Analytics reads one market's 1-minute candles over a bounded range (coin brief: 25 h; candles: up to 500 hours of
-- minutes; reference closes). ohlcv_1m_store rows of one market are scattered over the heap (refresh inserts by time),
-- so a covering index turns those reads into index-only scans: ~1500 heap pages per coin brief become a few index
-- pages (bench: coin_brief p95 at 10M ticks).
CREATE INDEX IF NOT EXISTS ohlcv_1m_store_code_bucket_cover
    ON ohlcv_1m_store (code, bucket)
    INCLUDE (open, high, low, close, volume, value, fills, buy_value, sell_value);

-- Whole-market reads over the last minutes (traded value of the last hour, reference closes of every market) scan
-- by bucket; covering them avoids one scattered heap fetch per (market, minute).
CREATE INDEX IF NOT EXISTS ohlcv_1m_store_bucket_cover
    ON ohlcv_1m_store (bucket)
    INCLUDE (code, close, value, buy_value, sell_value);

-- The plain (bucket) index of migration 003 is a prefix of the covering one above, and while both exist the planner
-- picks the smaller index and fetches the heap for every (market, minute): the last hour's traded value read 6,800
-- buffers instead of 180 on the 10M-row bench database (market_overview, top_movers 1h).
DROP INDEX IF EXISTS ohlcv_1m_store_bucket;
