-- TimescaleDB mode: ohlcv_1m is a continuous aggregate whose (code, bucket DESC) index (003) already serves the
-- analytics range reads; nothing to add. The file exists so both modes record migration 020.
SELECT 1;
