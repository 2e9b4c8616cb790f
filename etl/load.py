"""Writing a company's books: every run is all-or-nothing and leaves a sync-run record.

Source modules (demo, quickbooks, files, ...) only produce DataFrames named like the schema's
tables; this module owns transactions, idempotent writes and the run log. A run either
replaces a company's books whole (`replace_company_books`) or applies changes inside
`load_run` with `upsert_rows` and `mark_deleted`.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Iterator

import duckdb
import pandas as pd
import pyarrow as pa

from etl.models import UNBALANCED_CREDITS
from etl.schema import BOOK_TABLES

# The natural key column of each book table, after (source, company_id).
KEYS = {
    "customers": "customer_id",
    "invoices": "invoice_id",
    "payments": "payment_id",
    "credit_memos": "credit_memo_id",
    "applications": "application_id",
    "recurring_schedules": "schedule_id",
}


@dataclass(frozen=True)
class Company:
    source: str
    company_id: str
    name: str
    home_currency: str = "USD"
    data_through: date | None = None


@dataclass
class Run:
    """What a run did, filled in while it works and recorded when it ends."""

    run_id: int
    counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    cursor: str | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def start_run(con: duckdb.DuckDBPyConnection, company: Company, kind: str) -> int:
    (run_id,) = con.execute(
        "INSERT INTO sync_runs (source, company_id, kind, started_at, status) "
        "VALUES (?, ?, ?, ?, 'running') RETURNING run_id",
        [company.source, company.company_id, kind, _now()],
    ).fetchone()
    return run_id


def finish_run(con: duckdb.DuckDBPyConnection, run: Run, status: str, error: str | None = None) -> None:
    con.execute(
        "UPDATE sync_runs SET finished_at = ?, status = ?, counts = ?, requests = ?, error = ?, cursor = ? "
        "WHERE run_id = ?",
        [_now(), status, json.dumps(run.counts), run.requests, error,
         run.cursor if status == "succeeded" else None, run.run_id],
    )


def record_failed_run(con: duckdb.DuckDBPyConnection, company: Company, kind: str, error: str, requests: int = 0) -> None:
    """A run that failed before it could write anything (e.g. while fetching)."""
    finish_run(con, Run(start_run(con, company, kind), requests=requests), "failed", error)


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


def upsert_rows(con: duckdb.DuckDBPyConnection, company: Company, table: str, frame: pd.DataFrame) -> int:
    """Insert rows, replacing any with the same natural key."""
    if frame.empty:
        return 0
    keyed = _with_exact_decimals(con, table, frame).assign(  # noqa: F841 (DuckDB scans it by name)
        source=company.source, company_id=company.company_id
    )
    con.execute(f"INSERT OR REPLACE INTO {table} BY NAME SELECT * FROM keyed")
    return len(frame)


def mark_deleted(con: duckdb.DuckDBPyConnection, company: Company, table: str, ids: list[str]) -> int:
    """Records deleted at the source: transactions stay, marked 'deleted' (they count nowhere);
    applications and schedules go."""
    if not ids:
        return 0
    key = [company.source, company.company_id, ids]
    if table in ("applications", "recurring_schedules"):
        con.execute(f"DELETE FROM {table} WHERE source = ? AND company_id = ? AND list_contains(?, {KEYS[table]})", key)
    else:
        con.execute(f"UPDATE {table} SET status = 'deleted' WHERE source = ? AND company_id = ? AND list_contains(?, {KEYS[table]})", key)
    return len(ids)


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


@contextmanager
def load_run(con: duckdb.DuckDBPyConnection, company: Company, kind: str) -> Iterator[Run]:
    """One all-or-nothing run: writes inside the block commit together, after the books are
    checked to balance, or not at all; either way the run is recorded in sync_runs."""
    run = Run(start_run(con, company, kind))
    con.execute("BEGIN TRANSACTION")
    try:
        yield run
        con.execute(
            "INSERT OR REPLACE INTO companies (source, company_id, name, home_currency, data_through) "
            "VALUES (?, ?, ?, ?, ?)",
            [company.source, company.company_id, company.name, company.home_currency, company.data_through],
        )
        _check_credits_balance(con, company)
        con.execute("COMMIT")
    except BaseException as exc:
        con.execute("ROLLBACK")
        finish_run(con, run, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finish_run(con, run, "succeeded")


def replace_books(con: duckdb.DuckDBPyConnection, company: Company, books: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Inside a run: replace everything held for `company` with `books`."""
    unknown = set(books) - set(BOOK_TABLES)
    if unknown:
        raise ValueError(f"not book tables: {sorted(unknown)}")
    for table in reversed(BOOK_TABLES):
        con.execute(f"DELETE FROM {table} WHERE source = ? AND company_id = ?", [company.source, company.company_id])
    return {table: upsert_rows(con, company, table, books.get(table, pd.DataFrame())) for table in BOOK_TABLES}


def remove_demo_company(con: duckdb.DuckDBPyConnection) -> None:
    """Inside a run loading real books: the demo company is a placeholder and must not be
    summed with them."""
    for table in reversed(BOOK_TABLES):
        con.execute(f"DELETE FROM {table} WHERE source = 'demo'")
    con.execute("DELETE FROM companies WHERE source = 'demo'")


def replace_company_books(
    con: duckdb.DuckDBPyConnection,
    company: Company,
    books: dict[str, pd.DataFrame],
    kind: str,
) -> dict[str, int]:
    """Replace everything held for `company` with `books`, in one run.

    Any error rolls the whole run back: the file is exactly as before, plus a 'failed' run record.
    """
    with load_run(con, company, kind) as run:
        run.counts = replace_books(con, company, books)
    return run.counts
