-- Facts first, interpretation as a follow-up (issue 21): each status version of an event is delivered in two parts
-- per channel — 'alert' (the detector's facts, sent the moment the event opens) and 'reading' (the interpretation,
-- sent when it arrives; skipped when the alert already carried it). Each part is claimed and sent once.
ALTER TABLE alert_claims ADD COLUMN IF NOT EXISTS part text NOT NULL DEFAULT 'alert';
ALTER TABLE alert_claims DROP CONSTRAINT IF EXISTS alert_claims_pkey;
ALTER TABLE alert_claims ADD PRIMARY KEY (anomaly_id, channel, version, part);
ALTER TABLE alert_deliveries ADD COLUMN IF NOT EXISTS part text NOT NULL DEFAULT 'alert';
