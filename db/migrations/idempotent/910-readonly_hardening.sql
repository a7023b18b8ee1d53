-- What the read-only role (Settings.readonly_user) must not do beyond writing (900 covers writes), as far as
-- PostgreSQL lets a database owner decide. Re-applied on every migrate.
--  * temporary tables: TEMPORARY on a database is granted to PUBLIC by default, so any role could fill temp space
--    (and a read-only transaction does not stop it once the session turns read-only off). PUBLIC loses it here;
--    the role running migrate (the writer, whose consumer uses a temp staging table) keeps it explicitly.
-- What PostgreSQL cannot prevent (docs/security.md): statement_timeout, default_transaction_read_only and
-- idle_in_transaction_session_timeout are user-settable, so a session of this role can SET them; the role's
-- defaults apply to every new session and our readers (MCP, dashboard) never run SQL they did not write.
-- Connecting to other databases of the cluster (CONNECT is granted to PUBLIC on each) is closed by pg_hba.conf
-- (db/docker/10-reader-hba.sh in compose), not by grants.
DO $$
DECLARE
    reader text := current_setting('upbit.readonly_user');
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM %I', current_database(), reader);
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
EXCEPTION WHEN internal_error OR unique_violation THEN
    RAISE NOTICE 'role % hardening updated concurrently', reader;  -- a parallel migrate did the same
END;
$$;
