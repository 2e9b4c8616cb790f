"""The client page's figures: one row (or a few) per account (a top-level customer with its
sub-customers, as the aging reports it), for every account at once.

Each is the book-wide metric's own rows, joined by account, so the client page and the other
pages can never disagree, and a page reads one client's rows from a figure computed (and cached)
once for the whole book."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

import models
from metrics.aging import ZERO, aging_by_customer, month_ends
from metrics.autopay import autopay_status_as_of
from metrics.behaviour import client_payment_habits

KEYS = ["source", "company_id", "customer_id"]


def _zero_where_missing(amounts: pd.Series) -> pd.Series:
    """An account with no row in a joined metric has none of that money: 0.00, not missing."""
    return amounts.map(lambda amount: ZERO if amount is None or pd.isna(amount) else amount)


def client_directory(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> pd.DataFrame:
    """Every account (top-level customer) by name: customer_id, customer, email (as_of unused)."""
    return models.frame(con, "account_directory")


def account_summary(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """One row per account: total_ar, overdue_ar, unapplied_credit, open_invoices,
    oldest_days_past_due; how it pays over 12 months (weighted_days_late_12m, share_on_time_12m,
    paid_invoices_12m, last_payment_date); on_autopay and autopay_method; mrr."""
    owed = aging_by_customer(con, as_of)[[*KEYS, "total", "unapplied_credit"]].rename(columns={"total": "total_ar"})
    overdue = aging_by_customer(con, as_of, past_due_only=True)[[*KEYS, "total"]].rename(columns={"total": "overdue_ar"})
    oldest = models.frame(con, "overdue_accounts", {"dates": [as_of]})[[*KEYS, "oldest_days_past_due"]]
    counts = models.frame(con, "account_open_invoices", {"dates": [as_of]})
    habits = client_payment_habits(con, as_of)[
        [*KEYS, "weighted_days_late_12m", "share_on_time_12m", "paid_invoices_12m", "last_payment_date"]]
    autopay = autopay_status_as_of(con, as_of)[[*KEYS, "on_autopay", "method"]].rename(columns={"method": "autopay_method"})
    mrr = models.frame(con, "invoice_mrr", {"dates": [as_of]})[[*KEYS, "mrr"]]
    summary = client_directory(con)
    for part in (owed, overdue, oldest, counts, habits, autopay, mrr):
        summary = summary.merge(part, on=KEYS, how="left")
    for money in ("total_ar", "overdue_ar", "unapplied_credit", "mrr"):
        summary[money] = _zero_where_missing(summary[money])
    summary["on_autopay"] = summary["on_autopay"].fillna(False).astype(bool)
    summary.loc[~summary["on_autopay"], "autopay_method"] = None
    summary["open_invoices"] = summary["open_invoices"].fillna(0).astype(int)
    summary["oldest_days_past_due"] = summary["oldest_days_past_due"].astype("Int64")
    summary["paid_invoices_12m"] = summary["paid_invoices_12m"].fillna(0).astype(int)
    return summary.astype(object).where(summary.notna(), None)


def account_months(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 12) -> pd.DataFrame:
    """Per account, its last `months` calendar months (the last up to `as_of`): month_end,
    billed, MRR at the month's end, and the invoices paid in full in the month with their mean
    days to pay and on-time share, oldest month first."""
    ends = month_ends(as_of, months)
    billed = models.frame(con, "account_months", {"dates": ends})
    since = billed["month_start"].min() if not billed.empty else as_of.replace(day=1)
    paid = models.frame(con, "account_paid_months", {"dates": [as_of], "invoice_kind": "all", "since": since})
    history = billed.merge(paid, on=[*KEYS, "month_start"], how="outer")
    history["month_end"] = history["month_start"].map(dict(zip(
        (day.replace(day=1) for day in ends), ends)))
    for money in ("billed", "mrr"):
        history[money] = _zero_where_missing(history[money])
    history["invoices_paid"] = history["invoices_paid"].fillna(0).astype(int)
    history = history.drop(columns="month_start").sort_values([*KEYS, "month_end"], ignore_index=True)
    return history.astype(object).where(history.notna(), None)


def account_payments(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Every payment dated by `as_of` under its account, newest first: amount, method, unapplied part."""
    return models.frame(con, "account_payments", {"dates": [as_of]})
