-- Celery/LLM team: LLM usage and estimated cost per UTC day and task kind (read by `upbit-llm costs`, dashboard).
CREATE OR REPLACE VIEW llm_costs_daily AS
SELECT
    (created_at AT TIME ZONE 'UTC')::date                          AS day,
    task_kind,
    count(*)                                                       AS calls,
    count(*) FILTER (WHERE status = 'error')                       AS errors,
    count(*) FILTER (WHERE offline)                                AS offline_calls,
    coalesce(sum(input_tokens), 0)::bigint                         AS input_tokens,
    coalesce(sum(output_tokens), 0)::bigint                        AS output_tokens,
    coalesce(sum(cache_creation_tokens), 0)::bigint                AS cache_creation_tokens,
    coalesce(sum(cache_read_tokens), 0)::bigint                    AS cache_read_tokens,
    coalesce(sum(cost_usd), 0)::numeric(14, 6)                     AS cost_usd,
    round(avg(latency_ms) FILTER (WHERE status <> 'error'))::integer AS avg_latency_ms
FROM llm_calls
GROUP BY 1, 2;
