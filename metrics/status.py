"""What a database holds: its companies and their home currency, row counts, date ranges and
the runs that wrote them (`python -m etl info`, the Data & sync page)."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

import models
from core.errors import InputError
from core.schema import BOOK_TABLES, SCHEMA_VERSION


def companies(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """source, company_id, name, home_currency, data_through and snapshot_on of every company in the file."""
    return models.frame(con, "companies")


def snapshot_limit(con: duckdb.DuckDBPyConnection, as_of: date, history: bool = True) -> str | None:
    """Why a figure at `as_of` cannot be known from the books in the file, or None when it can.

    The one rule for books that are a snapshot (a company's `snapshot_on`: a report of the
    invoices open on one date, with no history): the aging at that date is known, nothing else.
    `history`: the figure needs the books' history (a trend, sales, payments, payment habits,
    autopay, a forecast) rather than only what was open at `as_of`."""
    snapshots = companies(con).dropna(subset=["snapshot_on"])
    if snapshots.empty:
        return None
    listed = "; ".join(f"The books of {row.name} are a snapshot of what was open on {row.snapshot_on:%d %B %Y}"
                       for row in snapshots.itertuples())
    if history:
        return (f"{listed}: ledgerlight knows the aging at that date, but not trends, sales, payment habits, "
                "autopay or forecasts, which need the full history. Import a full transaction history "
                "(docs/sources/files.md) to see them.")
    other_dates = [row for row in snapshots.itertuples() if row.snapshot_on != as_of]
    if other_dates:
        return f"{listed}: the aging is known at that date only, not at {as_of:%d %B %Y}."
    return None


def home_currency(con: duckdb.DuckDBPyConnection) -> str:
    """The one home currency every figure is in; refuses a file whose companies have several."""
    currencies = sorted(set(companies(con)["home_currency"]))
    if len(currencies) > 1:
        raise InputError(f"the database holds companies in {', '.join(currencies)}; totals across them would mix currencies")
    return currencies[0] if currencies else "USD"


def books_span(con: duckdb.DuckDBPyConnection) -> tuple[date | None, date | None]:
    """The first posted transaction's date (invoice, payment or credit memo), and the date the
    books run to (None when empty)."""
    [(first_transaction, data_through)] = models.rows(con, "books_span")
    return first_transaction, data_through


def sync_history(con: duckdb.DuckDBPyConnection, as_of: date | None = None, limit: int = 20) -> pd.DataFrame:
    """The latest runs of every source, newest first (as_of is accepted for a uniform signature, unused)."""
    return models.frame(con, "sync_history", {"limit": limit})


def database_summary(con: duckdb.DuckDBPyConnection) -> dict:
    """A JSON-ready description of every company in the file."""
    described = []
    for row in models.frame(con, "company_summary", book_tables=list(BOOK_TABLES)).to_dict("records"):
        row = {key: _plain(value) for key, value in row.items()}
        described.append(
            {
                **{key: row[key] for key in ("source", "company_id", "name", "home_currency", "data_through",
                                             "snapshot_on")},
                "counts": {table: int(row[table]) for table in BOOK_TABLES},
                "first_invoice": row["first_invoice"],
                "last_invoice": row["last_invoice"],
                "last_sync": None if row["sync_status"] is None else {
                    key: row[f"sync_{key}"] for key in ("kind", "status", "started_at", "finished_at", "error", "actor")
                },
            }
        )
    return {"schema_version": SCHEMA_VERSION, "companies": described}


def _plain(value):
    """Dates and timestamps as ISO text, missing values as None: ready for JSON."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else value
