"""Opening the DuckDB file: where it lives, schema upgrades, and refusing files that are not ours.

DuckDB allows one writer per file. Readers (the dashboard, reports) open short read-only
connections per query so a sync or `demo` in another process is never locked out for long.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from core import file_checks
from core.errors import DatabaseError
from core.schema import MIGRATIONS, SCHEMA_VERSION
from core.settings import settings


def database_path(explicit: str | os.PathLike | None = None) -> Path:
    """The file to use: an explicit path, else $LEDGERLIGHT_DB, else data/ledgerlight.duckdb."""
    return settings().database_path(explicit)


LOCK_WAIT_SECONDS = 10.0  # a sync writes in one short transaction; readers wait that out
# A ledgerlight database needs no extension: DuckDB must never fetch one (it would, over plain
# HTTP, for a SQLite file).
_NO_EXTENSIONS = {"autoload_known_extensions": False, "autoinstall_known_extensions": False}


def _open(path: Path, read_only: bool, lock_wait: float = LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    file_checks.inspect(path, for_write=not read_only)
    lock_wait = settings().lock_wait(lock_wait)
    deadline = time.monotonic() + lock_wait
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=_NO_EXTENSIONS)
        except duckdb.Error as exc:
            locked = file_checks.is_lock_conflict(exc)
            if locked and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise file_checks.explain(exc, path, lock_wait if locked else None) from exc


def _user_objects(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every table, view, sequence and macro the file holds (another program's, or ours)."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
        "AND NOT internal AND NOT temporary "
        "UNION ALL SELECT sequence_name FROM duckdb_sequences() WHERE database_name = current_database() "
        "AND NOT temporary "
        "UNION ALL SELECT function_name FROM duckdb_functions() WHERE database_name = current_database() "
        "AND function_type IN ('macro', 'table_macro') AND NOT internal "
        "ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def _user_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND NOT temporary ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in rows]


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The file's schema version; None for a file with no ledgerlight schema at all."""
    if "schema_version" not in _user_tables(con):
        return None
    [(version,)] = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()
    return version


def _check_is_ours(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    version = schema_version(con)
    # Listing every object reads the whole catalog (about 30 ms, on every read): only a file
    # without our schema needs it, to tell an empty file from another program's.
    objects = _user_objects(con) if version is None else []
    if objects:
        shown = ", ".join(objects[:5]) + (", ..." if len(objects) > 5 else "")
        raise DatabaseError(
            f"{path} is a DuckDB file from something else (it holds {shown}), not a ledgerlight "
            "database. Point LEDGERLIGHT_DB (or --db) at another file; this one was left untouched."
        )
    version = version or 0
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"{path} was written by a newer ledgerlight (schema {version}, this one knows "
            f"{SCHEMA_VERSION}). Upgrade ledgerlight to read it."
        )
    return version


def migrate(con: duckdb.DuckDBPyConnection, path: Path, upto: int = SCHEMA_VERSION) -> int:
    """Apply pending migrations in order, each in its own transaction; returns the new version."""
    version = _check_is_ours(con, path)
    if version == 0 and upto > 0:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
    for number in range(version + 1, upto + 1):
        description, sql = MIGRATIONS[number - 1]
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                [number, description, settings().now()],
            )
            con.execute("COMMIT")
        except Exception:
            rollback_quietly(con)
            raise
    return max(version, upto)


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back, if there is still a transaction to roll back: after a fatal write error (a full
    disk) DuckDB has already ended it, and that must not hide the error that ended it."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def connect_for_write(path: str | os.PathLike | None = None, verify: bool = False,
                      lock_wait: float = LOCK_WAIT_SECONDS, create: bool = True) -> duckdb.DuckDBPyConnection:
    """A read-write connection to an up-to-date ledgerlight database (created if missing, when
    `create`; else a missing file is refused, as a mistyped name would be).

    `verify`: first read every block of an existing file on a read-only connection (0.85 s at 1M
    invoices), so a corrupt or foreign file is refused before anything is written to it."""
    resolved = database_path(path)
    if not create:
        _must_exist(resolved)
    if verify and resolved.exists():
        with _read_only_connection(resolved, lock_wait) as con:
            _check_is_ours(con, resolved)
            _read_every_block(con, resolved)
    resolved.parent.mkdir(parents=True, exist_ok=True)
    con = _open(resolved, read_only=False, lock_wait=lock_wait)
    try:
        migrate(con, resolved)
    except duckdb.Error as exc:
        con.close()
        raise file_checks.explain(exc, resolved) from exc
    except BaseException:
        con.close()
        raise
    return con


def _read_every_block(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """DuckDB checks a block's checksum when it reads it: read them all."""
    try:
        for table in _user_tables(con):
            con.execute(f'SELECT max(length(COLUMNS(*)::VARCHAR)) FROM "{table}"').fetchall()
    except duckdb.Error as exc:
        raise file_checks.explain(exc, path) from exc


@contextmanager
def _read_only_connection(path: Path, lock_wait: float = LOCK_WAIT_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection whose file faults (corrupt block, lost disk) are said as such."""
    con = _open(path, read_only=True, lock_wait=lock_wait)
    try:
        yield con
    except duckdb.Error as exc:
        if file_checks.is_file_fault(exc):
            raise file_checks.explain(exc, path) from exc
        raise
    finally:
        con.close()


@contextmanager
def read_only(path: str | os.PathLike | None = None,
              company: tuple[str, str] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection; refuses missing, foreign or out-of-date files.
    `company` (source, company_id): the connection sees that company's rows only."""
    resolved = database_path(path)
    _must_exist(resolved)
    with _read_only_connection(resolved) as con:
        version = _check_is_ours(con, resolved)
        if version < SCHEMA_VERSION:
            raise DatabaseError(
                f"{resolved} has schema {version}; this ledgerlight needs {SCHEMA_VERSION}. "
                f"Run `python -m etl info --db {resolved}` once to upgrade it in place."
            )
        if company is not None:
            _see_one_company(con, company)
        yield con


def _see_one_company(con: duckdb.DuckDBPyConnection, company: tuple[str, str]) -> None:
    """Shadow every table of company rows with a temporary view of one company's, so every model
    and metric answers for that company alone, unchanged. The views read the file's own tables
    by their catalog name (a bare name would now mean the view); the company is a variable, never
    SQL text."""
    con.execute("SET VARIABLE ledgerlight_company = ?", [list(company)])
    [(catalog,)] = con.execute("SELECT current_database()").fetchall()
    tables = con.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND column_name IN ('source', 'company_id') GROUP BY table_name HAVING count(*) = 2").fetchall()
    for (table,) in tables:
        con.execute(
            f'CREATE TEMP VIEW "{table}" AS SELECT * FROM "{catalog}".main."{table}" '
            "WHERE [source, company_id] = getvariable('ledgerlight_company')")


def _must_exist(path: Path) -> None:
    if not path.exists():
        raise DatabaseError(f"{path} does not exist (check the name). Build the demo company with "
                            f"`python -m etl demo --db {path}` or connect a source.")


def data_version(path: str | os.PathLike | None = None) -> tuple[int, int]:
    """Changes whenever the file's contents may have: a cheap cache key for the dashboard."""
    resolved = database_path(path)
    stamps = [resolved.stat()] + [p.stat() for p in [Path(f"{resolved}.wal")] if p.exists()]
    return (max(s.st_mtime_ns for s in stamps), sum(s.st_size for s in stamps))


def query_frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pd.DataFrame:
    """Run a query into a DataFrame keeping DECIMAL as decimal.Decimal (`.df()` would make floats)."""
    return con.sql(sql, params=params or {}).to_arrow_table().to_pandas()
