#!/bin/sh
# Runs once, when the timescaledb container initialises its data directory (/docker-entrypoint-initdb.d).
# The read-only role may connect to the platform's database only, with its password: pg_hba.conf is read top-down,
# so these lines go first. (Grants cannot do this: CONNECT on every database is granted to PUBLIC.)
set -eu
reader="${READONLY_USER:-upbit_reader}"
db="${POSTGRES_DB:-coin}"
hba="${PGDATA:?PGDATA not set}/pg_hba.conf"
{
    printf '# upbit-llm: the read-only role reaches %s only\n' "$db"
    printf 'local  %s  %s  scram-sha-256\n' "$db" "$reader"
    printf 'host   %s  %s  all  scram-sha-256\n' "$db" "$reader"
    printf 'local  all  %s  reject\n' "$reader"
    printf 'host   all  %s  all  reject\n' "$reader"
    cat "$hba"
} > "$hba.new"
mv "$hba.new" "$hba"
