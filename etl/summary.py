"""What a database holds: companies, row counts, date ranges and the last sync (`python -m etl info`)."""

from __future__ import annotations

import duckdb
import pandas as pd

from etl.db import query_frame
from etl.schema import BOOK_TABLES, SCHEMA_VERSION

_SAME_COMPANY = "t.source = c.source AND t.company_id = c.company_id"

_SUMMARY = f"""
WITH last_run AS (
    SELECT * FROM sync_runs
    QUALIFY row_number() OVER (PARTITION BY source, company_id ORDER BY run_id DESC) = 1
)
SELECT c.source, c.company_id, c.name, c.home_currency, c.data_through,
       {", ".join(f"(SELECT count(*) FROM {table} t WHERE {_SAME_COMPANY}) AS {table}" for table in BOOK_TABLES)},
       (SELECT min(txn_date) FROM invoices t WHERE {_SAME_COMPANY}) AS first_invoice,
       (SELECT max(txn_date) FROM invoices t WHERE {_SAME_COMPANY}) AS last_invoice,
       r.kind AS sync_kind, r.status AS sync_status, r.started_at AS sync_started_at,
       r.finished_at AS sync_finished_at, r.error AS sync_error
FROM companies c
LEFT JOIN last_run r USING (source, company_id)
ORDER BY c.source, c.company_id
"""


def companies(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return query_frame(
        con,
        "SELECT source, company_id, name, home_currency, data_through FROM companies ORDER BY ALL",
    )


def database_summary(con: duckdb.DuckDBPyConnection) -> dict:
    """A JSON-ready description of every company in the file."""
    described = []
    for row in query_frame(con, _SUMMARY).to_dict("records"):
        row = {key: _plain(value) for key, value in row.items()}
        described.append(
            {
                **{key: row[key] for key in ("source", "company_id", "name", "home_currency", "data_through")},
                "counts": {table: int(row[table]) for table in BOOK_TABLES},
                "first_invoice": row["first_invoice"],
                "last_invoice": row["last_invoice"],
                "last_sync": None if row["sync_status"] is None else {
                    key: row[f"sync_{key}"] for key in ("kind", "status", "started_at", "finished_at", "error")
                },
            }
        )
    return {"schema_version": SCHEMA_VERSION, "companies": described}


def _plain(value):
    """Dates and timestamps as ISO text, missing values as None: ready for JSON."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else value
