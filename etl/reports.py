"""`python -m etl report ...`: metric results shaped for scripts. The JSON shapes are a public
contract (docs/cli.md, checked by tests/test_docs.py); money is a decimal string with two places."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import duckdb
import pandas as pd

from core.errors import InputError
from etl import exports
from metrics import (
    aging_by_customer,
    at_risk_total,
    autopay_adoption,
    autopay_status_split,
    backtest,
    bucket_labels,
    cash_forecast,
    collections_worklist,
    forecast_totals,
    home_currency,
    invoices_at_risk,
    kpis,
    snapshot_limit,
)
from metrics.forecast import BAND_LEVEL, FORECAST_MONEY
from metrics.status import books_span

KPI_KEYS = (
    "total_ar", "overdue_ar", "pct_current", "pct_91_plus", "dso", "dso_countback", "bpdso",
    "add", "add_invoice", "cei", "ar_turnover", "bad_debt_ratio", "window_days",
    "window_months", "window_start", "window_end", "days_in_window", "notes",
)
_MONEY_KPIS = {"total_ar", "overdue_ar"}
# JSON key -> metric column where the two differ (a DataFrame column named `add` would hide `.add`).
_KPI_COLUMNS = {"add": "add_crf", "window_end": "as_of"}


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _number(value, places: int) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), places)


def report_date(con: duckdb.DuckDBPyConnection, asked: date | None, today: date) -> date:
    """The as-of date a report is for: the one asked, else the date the data runs to, else today;
    refused when the books hold nothing by then."""
    first, data_through = books_span(con)
    as_of = asked or data_through or today
    if first is None:
        raise InputError("the database holds no invoices yet: run `python -m etl demo` or a sync first")
    if as_of < first:
        raise InputError(f"as-of date {as_of} is before the first transaction ({first}); choose {first} or later")
    return as_of


def aging_report(
    con: duckdb.DuckDBPyConnection, as_of: date, basis: str = "due", period_days: int = 30, periods: int = 4
) -> dict:
    buckets = bucket_labels(basis, period_days, periods)
    frame = aging_by_customer(con, as_of, basis=basis, period_days=period_days, periods=periods)
    money_keys = [*buckets, "total", "unapplied_credit", "disputed"]
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
    """The KPIs for the window of whole months `window_days` stands for (window_start to
    window_end, days_in_window days); `notes` explains a KPI that cannot be computed or is out of
    its usual range."""
    row = kpis(con, as_of, window_days).iloc[0]
    fractions = {"pct_current", "pct_91_plus", "bad_debt_ratio"}
    value = {key: row[_KPI_COLUMNS.get(key, key)] for key in KPI_KEYS}
    return {
        key: _money(value[key]) if key in _MONEY_KPIS
        else int(value[key]) if key in ("window_days", "window_months", "days_in_window")
        else value[key].isoformat() if key in ("window_start", "window_end")
        else list(value[key]) if key == "notes"
        else _number(value[key], 4 if key in fractions else 2)
        for key in KPI_KEYS
    }


def _day(value) -> str | None:
    return None if value is None or pd.isna(value) else value.isoformat()


def _text(value) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def clients_report(con: duckdb.DuckDBPyConnection, as_of: date, include_parked: bool = True, owner: str | None = None,
                   action_due_by: date | None = None) -> dict:
    worklist = collections_worklist(con, as_of, include_parked=include_parked, owner=owner, action_due_by=action_due_by)
    money_keys = [*bucket_labels(), "overdue", "unapplied_credit", "disputed", "to_chase", "promised_amount"]
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
            "priority": _number(row["priority"], 2),
            "parked": bool(row["parked"]),
            "promised_by": _day(row["promised_by"]),
            "broken_promises": int(row["broken_promises"]),
            "next_action_on": _day(row["next_action_on"]),
            "next_action_owner": _text(row["next_action_owner"]),
            "next_action": _text(row["next_action"]),
            "last_activity_on": _day(row["last_activity_on"]),
        }
        for row in worklist.to_dict("records")
    ]
    return {"as_of": as_of.isoformat(), "currency": home_currency(con), "clients": clients}


def autopay_report(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90) -> dict:
    adoption = autopay_adoption(con, as_of).iloc[0]
    by_status = {
        row["autopay_status"]: {
            "paid_invoices": int(row["paid_invoices"]),
            "days_to_pay": _number(row["days_to_pay"], 1),
            "days_late": _number(row["days_late"], 1),
            "add": _number(row["add_invoice"], 2),
            "dso": _number(row["dso"], 2),
            "pct_current": _number(row["pct_current"], 4),
            "credit_sales": _money(row["credit_sales"]),
            "total_ar": _money(row["total_ar"]),
            "overdue_ar": _money(row["overdue_ar"]),
        }
        for row in autopay_status_split(con, as_of, window_days).to_dict("records")
    }
    return {
        "as_of": as_of.isoformat(), "currency": home_currency(con), "window_days": window_days,
        "adoption_by_clients": _number(adoption["adoption_by_clients"], 4),
        "adoption_by_mrr": _number(adoption["adoption_by_mrr"], 4),
        "autopay_clients": int(adoption["autopay_clients"]),
        "active_recurring_clients": int(adoption["active_recurring_clients"]),
        "autopay_secured_mrr": _money(adoption["autopay_secured_mrr"]),
        "total_mrr": _money(adoption["total_mrr"]),
        "by_status": by_status,
    }


def forecast_report(con: duckdb.DuckDBPyConnection, as_of: date) -> dict:
    """The 13 weeks with their 80 % band, and apart from them what is at risk: past-due money the
    forecast does not expect within the 13 weeks, in total and invoice by invoice."""
    weeks = cash_forecast(con, as_of)
    totals = forecast_totals(weeks)
    at_risk = invoices_at_risk(con, as_of)
    return {
        "as_of": as_of.isoformat(), "currency": home_currency(con),
        "weeks": [
            {"week_start": row["week_start"].isoformat(), "week_end": row["week_end"].isoformat(),
             **{k: _money(row[k]) for k in FORECAST_MONEY}}
            for row in weeks.to_dict("records")
        ],
        "totals": {k: _money(totals[k]) for k in ("expected", "from_open", "from_not_yet_issued")},
        "band_level": BAND_LEVEL,
        "at_risk": _money(at_risk_total(at_risk)),
        "at_risk_invoices": [
            {"customer_id": row["customer_id"], "customer": row["customer"], "invoice_id": row["invoice_id"],
             "doc_number": row["doc_number"], "due_date": row["due_date"].isoformat(),
             "days_past_due": int(row["days_past_due"]), "open_amount": _money(row["home_open_amount"]),
             "at_risk_share": _number(row["at_risk_share"], 4), "at_risk": _money(row["at_risk"])}
            for row in at_risk.to_dict("records")
        ],
    }


def backtest_report(con: duckdb.DuckDBPyConnection, as_of: date, progress=lambda done, total: None) -> dict:
    """The backtest's summary: MAE in money (two places), MAPE as a fraction, per method; for the
    forecast also the coverage of its 80 % band (a fraction of the weeks; model_coverage_*: of the
    model's own band, before it is widened from past errors). A figure without weeks
    to measure it on (MAPE when no week had cash) is null, never NaN."""
    known(con, as_of)
    _, summary = backtest(con, as_of, progress=progress)
    return {
        "cutoffs": summary["cutoffs"],
        **{method: {key: _number(value, 4 if key.startswith(("mape", "coverage", "model_coverage")) else 2) for key, value in figures.items()}
           for method, figures in summary.items() if method != "cutoffs"},
    }


def known(con: duckdb.DuckDBPyConnection, as_of: date, history: bool = True) -> None:
    """Refuse a report the books cannot support (books that are a snapshot: metrics.snapshot_limit)."""
    limit = snapshot_limit(con, as_of, history)
    if limit:
        raise InputError(limit)


# Reports that need the books' history, not only what is open at the as-of date.
NEEDS_HISTORY = {"kpis", "autopay", "forecast", "backtest"}

# Each report from the CLI's parsed options; `python -m etl report NAME` offers these names.
REPORTS = {
    "aging": lambda con, as_of, args: aging_report(con, as_of, args.basis, args.period_days, args.periods),
    "kpis": lambda con, as_of, args: kpi_report(con, as_of, args.window),
    "clients": lambda con, as_of, args: clients_report(con, as_of, not args.hide_parked, args.owner, args.action_due_by),
    "autopay": lambda con, as_of, args: autopay_report(con, as_of, args.window),
    "forecast": lambda con, as_of, args: forecast_report(con, as_of),
}


def report(con: duckdb.DuckDBPyConnection, name: str, as_of: date, args) -> dict:
    """The report `name` at `as_of`, refused when the books cannot support it."""
    known(con, as_of, history=name in NEEDS_HISTORY)
    return REPORTS[name](con, as_of, args)


def rows_of(report_name: str, report: dict) -> list[dict]:
    """The report as flat rows (for CSV and tables)."""
    if report_name == "aging":
        return [*report["customers"], {"customer_id": "", "customer": "TOTAL", **report["totals"]}]
    if report_name == "clients":
        return report["clients"]
    if report_name == "forecast":
        return report["weeks"]
    if report_name == "autopay":
        headline = {k: v for k, v in report.items() if k != "by_status"}
        return [{**headline, "autopay_status": status, **split} for status, split in report["by_status"].items()]
    return [report]


# Keys whose values are fractions (0.6133), shown in a table as percentages (61.3 %); CEI is
# already in percent.
_FRACTIONS = re.compile(r"^(pct_|adoption_|share_|mape|coverage)|_share$|^bad_debt_ratio$")
_AMOUNT = re.compile(r"^-?\d+\.\d{2}$")


def table_cell(key: str, value) -> str:
    """A value as a person reads it in a terminal: 12,345.60, 61.3 %, 69.9 %, blank for none."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, list):
        return "; ".join(map(str, value))
    if isinstance(value, str) and _AMOUNT.match(value):
        return f"{Decimal(value):,.2f}"
    if isinstance(value, float) and key.startswith("mae"):
        return f"{value:,.2f}"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _FRACTIONS.search(key):
        return f"{value:.1%}"
    if key == "cei" and isinstance(value, (int, float)):
        return f"{value:.1f}%"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def render(report_name: str, report: dict, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(report, indent=2)
    frame = pd.DataFrame(rows_of(report_name, report))
    if output_format == "csv":
        return exports.csv_text(frame)
    shown = _table(frame)
    if report_name == "forecast":
        at_risk = pd.DataFrame(report["at_risk_invoices"])
        return (shown + f"\n\nAt risk (past due, not expected within the 13 weeks): "
                f"{table_cell('at_risk', report['at_risk'])} in {len(at_risk)} invoices"
                + ("\n" + _table(at_risk) if len(at_risk) else ""))
    return shown


def _table(frame: pd.DataFrame) -> str:
    return pd.DataFrame({key: [table_cell(key, value) for value in frame[key]] for key in frame.columns}
                        ).to_string(index=False)
