-- Celery/LLM team: per-call details for `upbit-llm costs` and debugging a provider issue.
ALTER TABLE llm_calls ADD COLUMN IF NOT EXISTS window_key text;      -- the llm_results key the call worked for
ALTER TABLE llm_calls ADD COLUMN IF NOT EXISTS language text;
ALTER TABLE llm_calls ADD COLUMN IF NOT EXISTS request_id text;      -- Anthropic request-id, for support tickets
ALTER TABLE llm_calls ADD COLUMN IF NOT EXISTS context_tokens integer;  -- compact context size (offline BPE)
-- The costs report groups by day and task kind.
CREATE INDEX IF NOT EXISTS llm_calls_kind_created ON llm_calls (task_kind, created_at);
