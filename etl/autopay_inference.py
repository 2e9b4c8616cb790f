"""Autopay inferred from payment behaviour, written as dated enrollment history.

No accounting system records who is on autopay, so clients whose recurring invoices are charged
by card/ACH on their due date are marked autopay with provenance 'inferred' (the rule is
`etl.models.INFERRED_AUTOPAY`). Imported rosters and manual entries win over these rows when
the status is read (`etl.models.AUTOPAY_STATUS`), and every row keeps its provenance, so both
stay visible.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import duckdb

from etl.load import Company, load_run
from etl.models import INFERRED_AUTOPAY


def company_by_id(con: duckdb.DuckDBPyConnection, company_id: str | None = None) -> Company:
    """The company to write to: the one named, or the only one the file holds."""
    held = con.execute(
        "SELECT source, company_id, name, home_currency, data_through FROM companies ORDER BY ALL"
    ).fetchall()
    chosen = [row for row in held if company_id is None or row[1] == company_id]
    if len(chosen) == 1:
        return Company(*chosen[0])
    listed = ", ".join(row[1] for row in held) or "none"
    if not chosen and company_id is not None:
        raise ValueError(f"no company {company_id!r} in this database (companies: {listed}); pass one with --company")
    if not held:
        raise ValueError("the database holds no company yet: run `python -m etl demo` or a sync first")
    raise ValueError(f"the database holds several companies ({listed}); choose one with --company ID")


def replace_inferred_enrollments(con: duckdb.DuckDBPyConnection, company: Company, as_of: date | None = None) -> int:
    """Inside a run: replace the company's inferred autopay periods with those its payments show
    by `as_of` (default: the date its books run to). Returns the number of periods written."""
    params = {
        "source": company.source,
        "company_id": company.company_id,
        "as_of": as_of or company.data_through or date.today(),
    }
    key = [company.source, company.company_id]
    con.execute("DELETE FROM autopay_enrollments WHERE source = ? AND company_id = ? AND provenance = 'inferred'", key)
    con.execute(
        f"""
        INSERT INTO autopay_enrollments BY NAME
        SELECT $source AS source, $company_id AS company_id, *, $recorded_at AS recorded_at
        FROM ({INFERRED_AUTOPAY})
        """,
        {**params, "recorded_at": datetime.now(timezone.utc).replace(tzinfo=None)},
    )
    [(written,)] = con.execute(
        "SELECT count(*) FROM autopay_enrollments WHERE source = ? AND company_id = ? AND provenance = 'inferred'", key
    ).fetchall()
    return written


def infer_autopay(con: duckdb.DuckDBPyConnection, company_id: str | None = None, as_of: date | None = None) -> int:
    """Re-infer one company's autopay periods in a run of its own (`python -m etl infer autopay`)."""
    company = company_by_id(con, company_id)
    with load_run(con, company, "inference") as run:
        run.counts = {"inferred_autopay_periods": replace_inferred_enrollments(con, company, as_of)}
    return run.counts["inferred_autopay_periods"]
