"""How clients pay: days to pay and days late per invoice, habits per client, drift, the worklist.

Days to pay = settlement date - invoice date; days late = settlement date - due date (negative
means early). Settlement is the application that brought the invoice to zero, dated by the
as-of date (report-date method). Invoices closed by a write-off are bad debt, not payments.
Clients are reported under their top-level parent, as in the aging.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from etl.db import query_frame
from etl.models import CUSTOMER_ROOTS, OPEN_INVOICES, SETTLED_INVOICES
from metrics.aging import aging_by_customer

HABIT_MONTHS = (3, 6, 12)
INVOICE_KINDS = ("all", "recurring", "one-off")
DRIFT_MARGIN_DAYS = 10

_KIND_FILTER = "($invoice_kind = 'all' OR (kind = 'recurring') = ($invoice_kind = 'recurring'))"

_PAID = f"""
SELECT s.*, r.root_id AS account_id
FROM ({SETTLED_INVOICES}) s
JOIN ({CUSTOMER_ROOTS}) r USING (source, company_id, customer_id)
WHERE NOT s.written_off AND {_KIND_FILTER}
"""


def _check_kind(invoice_kind: str) -> None:
    if invoice_kind not in INVOICE_KINDS:
        raise ValueError(f"unknown invoice kind {invoice_kind!r}: use one of {', '.join(INVOICE_KINDS)}")


def invoice_payment_days(
    con: duckdb.DuckDBPyConnection, as_of: date, invoice_kind: str = "all"
) -> pd.DataFrame:
    """Every invoice paid in full by `as_of`: settled_on, days_to_pay, days_late, amount."""
    _check_kind(invoice_kind)
    sql = f"""
        SELECT p.source, p.company_id, p.account_id, p.customer_id, c.name AS customer, p.invoice_id,
               p.doc_number, p.kind, p.txn_date, p.due_date, p.settled_on, p.home_total,
               p.days_to_pay, p.days_late
        FROM ({_PAID}) p
        JOIN customers c USING (source, company_id, customer_id)
        ORDER BY p.settled_on, p.invoice_id
    """
    return query_frame(con, sql, {"as_of": as_of, "invoice_kind": invoice_kind})


def _habit_columns() -> str:
    columns = []
    for months in HABIT_MONTHS:
        recent = f"settled_on > $as_of::DATE - INTERVAL {months} MONTH"
        for measure in ("days_to_pay", "days_late"):
            columns.append(f"avg({measure}) FILTER (WHERE {recent}) AS mean_{measure}_{months}m")
            columns.append(
                f"sum(home_total * {measure}) FILTER (WHERE {recent}) / "
                f"sum(home_total) FILTER (WHERE {recent}) AS weighted_{measure}_{months}m"
            )
    return ",\n".join(columns)


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
    sql = f"""
        WITH paid AS ({_PAID}),
        habits AS (
            SELECT source, company_id, account_id,
                   {_habit_columns()},
                   avg((days_late <= 0)::INTEGER) FILTER (
                       WHERE settled_on > $as_of::DATE - INTERVAL 12 MONTH) AS share_on_time_12m,
                   median(days_late) FILTER (
                       WHERE settled_on > $as_of::DATE - INTERVAL 12 MONTH) AS median_days_late_12m,
                   count(*) FILTER (WHERE settled_on > $as_of::DATE - INTERVAL 12 MONTH) AS paid_invoices_12m
            FROM paid
            GROUP BY ALL
        ),
        latest AS (
            SELECT source, company_id, account_id, due_date, days_late FROM paid
            UNION ALL
            SELECT o.source, o.company_id, r.root_id, o.due_date, o.days_past_due
            FROM ({OPEN_INVOICES}) o
            JOIN ({CUSTOMER_ROOTS}) r USING (source, company_id, customer_id)
            WHERE o.days_past_due > 0 AND {_KIND_FILTER}
        ),
        latest_three AS (
            SELECT source, company_id, account_id, count(*) AS n, min(days_late) AS least_late
            FROM (
                SELECT *, row_number() OVER (
                    PARTITION BY source, company_id, account_id ORDER BY due_date DESC) AS recency
                FROM latest
            )
            WHERE recency <= 3
            GROUP BY ALL
        ),
        last_payment AS (
            SELECT p.source, p.company_id, r.root_id AS account_id, max(p.txn_date) AS last_payment_date
            FROM payments p
            JOIN ({CUSTOMER_ROOTS}) r USING (source, company_id, customer_id)
            WHERE p.status = 'posted' AND p.amount > 0 AND p.txn_date <= $as_of
            GROUP BY ALL
        ),
        accounts AS (
            SELECT source, company_id, account_id FROM habits
            UNION SELECT source, company_id, account_id FROM latest_three
        )
        SELECT source, company_id, account_id AS customer_id, c.name AS customer,
               h.* EXCLUDE (source, company_id, account_id), l.last_payment_date,
               coalesce(t.n = 3 AND t.least_late > h.median_days_late_12m + $margin, false) AS drift
        FROM accounts a
        LEFT JOIN habits h USING (source, company_id, account_id)
        LEFT JOIN latest_three t USING (source, company_id, account_id)
        LEFT JOIN last_payment l USING (source, company_id, account_id)
        JOIN customers c
          ON c.source = a.source AND c.company_id = a.company_id AND c.customer_id = a.account_id
        ORDER BY c.name
    """
    params = {"as_of": as_of, "dates": [as_of], "invoice_kind": invoice_kind, "margin": drift_margin_days}
    return query_frame(con, sql, params)


def collections_worklist(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Clients with overdue A/R, most overdue money first (then the oldest debt): who owes what,
    since when, how they usually pay, and how to reach them."""
    aging = aging_by_customer(con, as_of, past_due_only=True)
    oldest = query_frame(
        con,
        f"""
        SELECT o.source, o.company_id, r.root_id AS customer_id,
               max(o.days_past_due) AS oldest_days_past_due, min(o.due_date) AS overdue_since,
               count(*) AS overdue_invoices
        FROM ({OPEN_INVOICES}) o
        JOIN ({CUSTOMER_ROOTS}) r USING (source, company_id, customer_id)
        WHERE o.days_past_due > 0
        GROUP BY ALL
        """,
        {"dates": [as_of]},
    )
    habits = client_payment_habits(con, as_of)[
        ["source", "company_id", "customer_id", "weighted_days_late_12m", "share_on_time_12m", "last_payment_date", "drift"]
    ]
    keys = ["source", "company_id", "customer_id"]
    worklist = (
        aging[aging["total"] > 0]
        .rename(columns={"total": "overdue"})
        .merge(oldest, on=keys)
        .merge(habits, on=keys, how="left")
        .sort_values(["overdue", "oldest_days_past_due"], ascending=False, ignore_index=True)
    )
    worklist["drift"] = worklist["drift"].fillna(False).astype(bool)
    worklist["email"] = worklist["email"].fillna("")
    return worklist
