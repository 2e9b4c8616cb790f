"""Writing a company's books: every run is all-or-nothing and leaves a sync-run record.

Source modules (demo, quickbooks, files, ...) only produce DataFrames named like the schema's
tables; this module owns transactions, idempotent replacement and the run log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

import duckdb
import pandas as pd
import pyarrow as pa

from etl.models import UNBALANCED_CREDITS
from etl.schema import BOOK_TABLES


@dataclass(frozen=True)
class Company:
    source: str
    company_id: str
    name: str
    home_currency: str = "USD"
    data_through: date | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def start_run(con: duckdb.DuckDBPyConnection, company: Company, kind: str) -> int:
    (run_id,) = con.execute(
        "INSERT INTO sync_runs (source, company_id, kind, started_at, status) "
        "VALUES (?, ?, ?, ?, 'running') RETURNING run_id",
        [company.source, company.company_id, kind, _now()],
    ).fetchone()
    return run_id


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    status: str,
    counts: dict[str, int] | None = None,
    requests: int = 0,
    error: str | None = None,
) -> None:
    con.execute(
        "UPDATE sync_runs SET finished_at = ?, status = ?, counts = ?, requests = ?, error = ? "
        "WHERE run_id = ?",
        [_now(), status, json.dumps(counts or {}), requests, error, run_id],
    )


def _with_exact_decimals(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Give columns of Decimal objects the table's DECIMAL type before DuckDB scans them.

    DuckDB would otherwise guess a width from a sample of rows: a sampled 1.00000000 makes an
    exchange-rate column DECIMAL(1,0) and silently rounds the rest.
    """
    columns = con.execute(
        "SELECT column_name, numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_name = ? AND data_type LIKE 'DECIMAL%'",
        [table],
    ).fetchall()
    typed = frame.copy()
    for name, precision, scale in columns:
        if name in typed and typed[name].dtype == object:
            try:
                typed[name] = typed[name].astype(pd.ArrowDtype(pa.decimal128(precision, scale)))
            except (pa.ArrowInvalid, TypeError) as exc:
                raise ValueError(f"{table}.{name}: not an amount with at most {scale} decimal places ({exc})") from exc
    return typed


def _insert(con: duckdb.DuckDBPyConnection, table: str, company: Company, frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    keyed = _with_exact_decimals(con, table, frame).assign(  # noqa: F841 (DuckDB scans it by name)
        source=company.source, company_id=company.company_id
    )
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM keyed")
    return len(frame)


def _check_credits_balance(con: duckdb.DuckDBPyConnection, company: Company) -> None:
    unbalanced = con.execute(
        UNBALANCED_CREDITS, {"source": company.source, "company_id": company.company_id}
    ).fetchall()
    if unbalanced:
        listed = "; ".join(
            f"{kind.replace('_', ' ')} {credit_id}: {total} ≠ {applied} applied + {unapplied} unapplied"
            for kind, credit_id, total, applied, unapplied in unbalanced
        )
        raise ValueError(
            f"amounts do not add up ({listed}). Each payment and credit memo must equal its "
            "applications plus its unapplied_amount; nothing was loaded."
        )


def replace_company_books(
    con: duckdb.DuckDBPyConnection,
    company: Company,
    books: dict[str, pd.DataFrame],
    kind: str,
) -> dict[str, int]:
    """Replace everything held for `company` with `books`, in one transaction.

    Any error rolls the whole run back: the file is exactly as before, plus a 'failed' run record.
    """
    unknown = set(books) - set(BOOK_TABLES)
    if unknown:
        raise ValueError(f"not book tables: {sorted(unknown)}")
    run_id = start_run(con, company, kind)
    con.execute("BEGIN TRANSACTION")
    try:
        key = [company.source, company.company_id]
        for table in reversed(BOOK_TABLES):
            con.execute(f"DELETE FROM {table} WHERE source = ? AND company_id = ?", key)
        counts = {table: _insert(con, table, company, books.get(table, pd.DataFrame())) for table in BOOK_TABLES}
        _check_credits_balance(con, company)
        con.execute(
            "INSERT OR REPLACE INTO companies (source, company_id, name, home_currency, data_through) "
            "VALUES (?, ?, ?, ?, ?)",
            [*key, company.name, company.home_currency, company.data_through],
        )
        con.execute("COMMIT")
    except Exception as exc:
        con.execute("ROLLBACK")
        finish_run(con, run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finish_run(con, run_id, "succeeded", counts)
    return counts
