"""`python -m etl report ...`: metric results shaped for scripts. The JSON shapes are a public
contract (documented in the README); money is a decimal string with two places."""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal

import duckdb
import pandas as pd

from etl.db import query_frame
from metrics import aging_by_customer, bucket_labels, collections_worklist, kpis

KPI_KEYS = (
    "total_ar", "overdue_ar", "pct_current", "pct_91_plus", "dso", "dso_countback", "bpdso",
    "add", "add_invoice", "cei", "ar_turnover", "bad_debt_ratio", "window_days",
)
_MONEY_KPIS = {"total_ar", "overdue_ar"}


class ReportError(ValueError):
    """A request that cannot be answered as asked; the message says what to change."""


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _number(value, places: int) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), places)


def home_currency(con: duckdb.DuckDBPyConnection) -> str:
    currencies = query_frame(con, "SELECT DISTINCT home_currency FROM companies ORDER BY 1")["home_currency"].tolist()
    if len(currencies) > 1:
        raise ReportError(f"the database holds companies in {', '.join(currencies)}; totals across them would mix currencies")
    return currencies[0] if currencies else "USD"


def check_as_of(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    [(first,)] = con.execute("SELECT min(txn_date) FROM invoices WHERE status = 'posted'").fetchall()
    if first is None:
        raise ReportError("the database holds no invoices yet: run `python -m etl demo` or a sync first")
    if as_of < first:
        raise ReportError(f"as-of date {as_of} is before the first invoice ({first}); choose {first} or later")


def aging_report(
    con: duckdb.DuckDBPyConnection, as_of: date, basis: str = "due", period_days: int = 30, periods: int = 4
) -> dict:
    buckets = bucket_labels(basis, period_days, periods)
    frame = aging_by_customer(con, as_of, basis=basis, period_days=period_days, periods=periods)
    money_keys = [*buckets, "total", "unapplied_credit"]
    customers = [
        {"customer_id": row["customer_id"], "customer": row["customer"], **{k: _money(row[k]) for k in money_keys}}
        for row in frame.to_dict("records")
    ]
    totals = {k: _money(sum(frame[k], start=Decimal("0.00"))) for k in money_keys}
    return {
        "as_of": as_of.isoformat(), "basis": basis, "currency": home_currency(con),
        "buckets": buckets, "customers": customers, "totals": totals,
    }


def kpi_report(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90) -> dict:
    row = kpis(con, as_of, window_days).iloc[0]
    fractions = {"pct_current", "pct_91_plus", "bad_debt_ratio"}
    return {
        key: _money(row[key]) if key in _MONEY_KPIS
        else int(row[key]) if key == "window_days"
        else _number(row[key], 4 if key in fractions else 2)
        for key in KPI_KEYS
    }


def clients_report(con: duckdb.DuckDBPyConnection, as_of: date) -> dict:
    worklist = collections_worklist(con, as_of)
    money_keys = [*bucket_labels(), "overdue", "unapplied_credit"]
    clients = [
        {
            "customer_id": row["customer_id"], "customer": row["customer"], "email": row["email"],
            **{k: _money(row[k]) for k in money_keys},
            "overdue_invoices": int(row["overdue_invoices"]),
            "oldest_days_past_due": int(row["oldest_days_past_due"]),
            "overdue_since": row["overdue_since"].isoformat(),
            "last_payment_date": None if pd.isna(row["last_payment_date"]) else row["last_payment_date"].isoformat(),
            "weighted_days_late_12m": _number(row["weighted_days_late_12m"], 1),
            "share_on_time_12m": _number(row["share_on_time_12m"], 4),
            "drift": bool(row["drift"]),
        }
        for row in worklist.to_dict("records")
    ]
    return {"as_of": as_of.isoformat(), "currency": home_currency(con), "clients": clients}


# Each report from the CLI's parsed options; `python -m etl report NAME` offers these names.
REPORTS = {
    "aging": lambda con, as_of, args: aging_report(con, as_of, args.basis, args.period_days, args.periods),
    "kpis": lambda con, as_of, args: kpi_report(con, as_of, args.window),
    "clients": lambda con, as_of, args: clients_report(con, as_of),
}


def rows_of(report_name: str, report: dict) -> list[dict]:
    """The report as flat rows (for CSV and tables)."""
    if report_name == "aging":
        return [*report["customers"], {"customer_id": "", "customer": "TOTAL", **report["totals"]}]
    if report_name == "clients":
        return report["clients"]
    return [report]


def render(report_name: str, report: dict, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(report, indent=2)
    frame = pd.DataFrame(rows_of(report_name, report))
    if output_format == "csv":
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        return buffer.getvalue()
    return frame.to_string(index=False)
