-- The read-only role the MCP server and the dashboard connect as (Settings.readonly_user). Re-applied on every
-- migrate, so tables and views added later are covered and a changed password or timeout takes effect.
-- SELECT only, default_transaction_read_only on, and a statement timeout so one slow query cannot hold the database.
-- Roles are cluster-wide and several databases may migrate at once: creation tolerates a concurrent creator.
DO $$
DECLARE
    reader   text := current_setting('upbit.readonly_user');
    password text := current_setting('upbit.readonly_password', true);
    timeout  text := current_setting('upbit.readonly_statement_timeout_ms');
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = reader) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', reader);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another migrate created it a moment ago
        END;
    END IF;
    BEGIN
        IF coalesce(password, '') <> '' THEN
            EXECUTE format('ALTER ROLE %I WITH LOGIN PASSWORD %L', reader, password);
        END IF;
        EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', reader, timeout || 'ms');
        EXECUTE format('ALTER ROLE %I SET default_transaction_read_only = on', reader);
        EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', reader, '60s');
        -- Analytics queries are small; JIT compilation would cost more than it saves (tens of ms per query).
        EXECUTE format('ALTER ROLE %I SET jit = off', reader);
    EXCEPTION WHEN internal_error OR unique_violation THEN
        -- "tuple concurrently updated": a parallel migrate is setting the same values right now.
        RAISE NOTICE 'role % settings updated concurrently', reader;
    END;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), reader);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', reader);
    EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I', reader);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', reader);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM %I',
                   reader);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO %I', reader);
END;
$$;
