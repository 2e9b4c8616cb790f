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

from core.errors import DatabaseError
from core.schema import MIGRATIONS, SCHEMA_VERSION
from core.settings import settings


def database_path(explicit: str | os.PathLike | None = None) -> Path:
    """The file to use: an explicit path, else $LEDGERLIGHT_DB, else data/ledgerlight.duckdb."""
    return settings().database_path(explicit)


LOCK_WAIT_SECONDS = 10.0  # a sync writes in one short transaction; readers wait that out


def _open(path: Path, read_only: bool, lock_wait: float = LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + lock_wait
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise DatabaseError(
                    f"{path} is not a DuckDB database ledgerlight can read ({text.splitlines()[0]}). "
                    "Point LEDGERLIGHT_DB (or --db) at another file; this one was left untouched."
                ) from exc
            if time.monotonic() > deadline:
                raise DatabaseError(
                    f"{path} is being written by another process (a sync or demo build) for more than "
                    f"{lock_wait:.0f} s; try again when it has finished."
                ) from exc
            time.sleep(0.1)
        except duckdb.Error as exc:
            raise DatabaseError(f"{path} could not be opened: {exc}. It was left untouched.") from exc


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
    (version,) = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return version


def _check_is_ours(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    version = schema_version(con)
    tables = _user_tables(con)
    if version is None and tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise DatabaseError(
            f"{path} is a DuckDB file from something else (tables: {shown}), not a ledgerlight "
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
            con.execute("ROLLBACK")
            raise
    return max(version, upto)


def connect_for_write(path: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """A read-write connection to an up-to-date ledgerlight database (created if missing)."""
    resolved = database_path(path)
    resolved.parent.mkdir(parents=True, exist_ok=True)
    con = _open(resolved, read_only=False)
    try:
        migrate(con, resolved)
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def read_only(path: str | os.PathLike | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection; refuses missing, foreign or out-of-date files."""
    resolved = database_path(path)
    if not resolved.exists():
        raise DatabaseError(
            f"{resolved} does not exist. Build the demo company with "
            f"`python -m etl demo --db {resolved}` or connect a source."
        )
    con = _open(resolved, read_only=True)
    try:
        version = _check_is_ours(con, resolved)
        if version < SCHEMA_VERSION:
            raise DatabaseError(
                f"{resolved} has schema {version}; this ledgerlight needs {SCHEMA_VERSION}. "
                f"Run `python -m etl info --db {resolved}` once to upgrade it in place."
            )
        yield con
    finally:
        con.close()


def data_version(path: str | os.PathLike | None = None) -> tuple[int, int]:
    """Changes whenever the file's contents may have: a cheap cache key for the dashboard."""
    resolved = database_path(path)
    stamps = [resolved.stat()] + [p.stat() for p in [Path(f"{resolved}.wal")] if p.exists()]
    return (max(s.st_mtime_ns for s in stamps), sum(s.st_size for s in stamps))


def query_frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pd.DataFrame:
    """Run a query into a DataFrame keeping DECIMAL as decimal.Decimal (`.df()` would make floats)."""
    return con.sql(sql, params=params or {}).to_arrow_table().to_pandas()
