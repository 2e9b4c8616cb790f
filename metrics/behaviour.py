"""How clients pay: days to pay and days late per invoice, habits per client, drift (the worklist,
which reads them, is in metrics/collections.py).

Days to pay = settlement date - invoice date; days late = settlement date - due date (negative
means early). Settlement is the application that brought the invoice to zero, dated by the
as-of date (report-date method). Invoices closed by a write-off are bad debt, not payments.
Clients are reported under their top-level parent, as in the aging.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

import models
from core.errors import InputError

HABIT_MONTHS = (3, 6, 12)
INVOICE_KINDS = ("all", "recurring", "one-off")
DRIFT_MARGIN_DAYS = 10


def _check_kind(invoice_kind: str) -> None:
    if invoice_kind not in INVOICE_KINDS:
        raise InputError(f"unknown invoice kind {invoice_kind!r}: use one of {', '.join(INVOICE_KINDS)}")


def invoice_payment_days(
    con: duckdb.DuckDBPyConnection, as_of: date, invoice_kind: str = "all"
) -> pd.DataFrame:
    """Every invoice paid in full by `as_of`: settled_on, days_to_pay, days_late, amount."""
    _check_kind(invoice_kind)
    return models.frame(con, "invoice_payment_days", {"dates": [as_of], "invoice_kind": invoice_kind})


def client_payment_habits(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    invoice_kind: str = "all",
    drift_margin_days: int = DRIFT_MARGIN_DAYS,
) -> pd.DataFrame:
    """Per client: mean and amount-weighted days to pay and days late over 3, 6 and 12 months,
    share paid on time (12 months), last payment date, and a drift flag.

    Drift: each of the client's 3 latest invoices (by due date, paid or already past due, an
    unpaid one counting its days past due so far) is later than the client's 12-month median
    days late by more than `drift_margin_days`.
    """
    _check_kind(invoice_kind)
    params = {"dates": [as_of], "invoice_kind": invoice_kind, "margin": drift_margin_days}
    return models.frame(con, "client_payment_habits", params, habit_months=list(HABIT_MONTHS))
