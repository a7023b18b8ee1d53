"""The migration runner's pure parts: file discovery per mode and SQL statement splitting."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.migrate import MIGRATIONS_DIR, MigrationError, discover, split_statements


def test_mode_variants_replace_the_generic_file(tmp_path: Path) -> None:
    for name in ("001-a.sql", "002-b.sql", "002-b.timescaledb.sql", "003-c.postgres.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    ts = [f.path.name for f in discover(tmp_path, "timescaledb")]
    pg = [f.path.name for f in discover(tmp_path, "postgres")]
    assert ts == ["001-a.sql", "002-b.timescaledb.sql"]
    assert pg == ["001-a.sql", "002-b.sql", "003-c.postgres.sql"]


def test_two_different_migrations_with_one_number_are_refused(tmp_path: Path) -> None:
    (tmp_path / "001-a.sql").write_text("SELECT 1;")
    (tmp_path / "001-b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share number"):
        discover(tmp_path, "postgres")


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1-a.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNN-name"):
        discover(tmp_path, "postgres")


def test_statement_splitter_respects_dollar_quotes_strings_and_comments() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;
    SELECT 'a;b', "we;ird";
    /* block; comment */
    SELECT $tag$ x; y $tag$;
    """
    stmts = split_statements(sql)
    assert len(stmts) == 3
    assert stmts[0].rstrip().endswith("$$")
    assert "'a;b'" in stmts[1]
    assert "$tag$ x; y $tag$" in stmts[2]


def test_shipped_migrations_are_well_formed_in_both_modes() -> None:
    for mode in ("postgres", "timescaledb"):
        files = discover(MIGRATIONS_DIR / "incremental", mode)  # type: ignore[arg-type]
        numbers = [f.number for f in files]
        assert numbers == sorted(numbers) and numbers[0] == 1
        discover(MIGRATIONS_DIR / "idempotent", mode)  # type: ignore[arg-type]
