-- The detector's carry-over between scans (per-market minute history and last buckets, as JSON text), valid for
-- the watermark it was saved at. A scan restores it instead of re-reading 30 minutes of stored buckets; when it is
-- missing or belongs to another watermark, the scan rebuilds it from anomaly_buckets (same result, slower).
ALTER TABLE anomaly_scan_state ADD COLUMN IF NOT EXISTS engine text;
ALTER TABLE anomaly_scan_state ADD COLUMN IF NOT EXISTS engine_at timestamptz;
