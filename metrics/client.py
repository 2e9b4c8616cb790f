"""One client's page: an account (a top-level customer with its sub-customers, as the aging
reports it) at a date: what it owes and since when, how it pays, autopay, MRR, its history.

Each figure is the book-wide metric's row for the account, so the client page and the other
pages can never disagree."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb
import pandas as pd

import models
from core.errors import InputError
from metrics.aging import aging_by_customer, month_ends, open_invoices_as_of
from metrics.autopay import autopay_enrollment_history, autopay_status_as_of
from metrics.behaviour import client_payment_habits, invoice_payment_days


def client_directory(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> pd.DataFrame:
    """Every account (top-level customer) by name: customer_id, customer, email (as_of unused)."""
    return models.frame(con, "account_directory")


def _account(con: duckdb.DuckDBPyConnection, customer_id: str) -> pd.Series:
    found = client_directory(con)
    found = found[found["customer_id"] == customer_id]
    if found.empty:
        raise InputError(f"no client with id {customer_id!r} in these books: choose one by name in the sidebar")
    return found.iloc[0]


def client_summary(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str) -> pd.DataFrame:
    """One row: the account's name, email, total and overdue A/R, unapplied credit, oldest days
    past due, how it pays (12 months), last payment, autopay status and method, MRR."""
    account = _account(con, customer_id)
    aging = aging_by_customer(con, as_of)
    aging = aging[aging["customer_id"] == customer_id]
    overdue = aging_by_customer(con, as_of, past_due_only=True)
    overdue = overdue[overdue["customer_id"] == customer_id]
    habits = client_payment_habits(con, as_of)
    habits = habits[habits["customer_id"] == customer_id]
    autopay = autopay_status_as_of(con, as_of)
    autopay = autopay[autopay["customer_id"] == customer_id]
    invoices = open_invoices_as_of(con, as_of, customer_id=customer_id)
    mrr = client_months(con, as_of, customer_id, months=1)["mrr"]
    zero = Decimal("0.00")
    return pd.DataFrame([{
        "customer_id": customer_id, "customer": account["customer"], "email": account["email"],
        "total_ar": _first(aging, "total", zero), "overdue_ar": _first(overdue, "total", zero),
        "unapplied_credit": _first(aging, "unapplied_credit", zero),
        "open_invoices": len(invoices),
        "oldest_days_past_due": int(invoices["days_past_due"].max()) if not invoices.empty else None,
        "weighted_days_late_12m": _first(habits, "weighted_days_late_12m"),
        "share_on_time_12m": _first(habits, "share_on_time_12m"),
        "paid_invoices_12m": _first(habits, "paid_invoices_12m", 0),
        "last_payment_date": _first(habits, "last_payment_date"),
        "on_autopay": bool(_first(autopay, "on_autopay", False)),
        "autopay_method": _first(autopay, "method") if _first(autopay, "on_autopay", False) else None,
        "mrr": mrr.iloc[-1] if not mrr.empty else zero,
    }])


def _first(frame: pd.DataFrame, column: str, empty=None):
    """The account's value in a book-wide metric's frame already narrowed to it, or `empty`."""
    return frame[column].iloc[0] if not frame.empty else empty


def client_months(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str, months: int = 12) -> pd.DataFrame:
    """The account's last `months` months (the last ends at `as_of`): billed, MRR at the month's
    end, invoices paid in the month with their mean days to pay and on-time share."""
    return models.frame(con, "account_months", {"dates": month_ends(as_of, months + 1), "customer_id": customer_id})


def client_invoices_paid(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str) -> pd.DataFrame:
    """The account's invoices paid in full by `as_of`, newest payment first, with days to pay and late."""
    paid = invoice_payment_days(con, as_of)
    return paid[paid["account_id"] == customer_id].sort_values("settled_on", ascending=False, ignore_index=True)


def client_payments(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str) -> pd.DataFrame:
    """The account's payments dated by `as_of`, newest first: amount, method, unapplied part."""
    return models.frame(con, "account_payments", {"dates": [as_of], "customer_id": customer_id})


def client_autopay_history(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str) -> pd.DataFrame:
    """The account's autopay enrollment periods (imported, manual, inferred)."""
    history = autopay_enrollment_history(con, as_of)
    return history[history["customer_id"] == customer_id].reset_index(drop=True)
