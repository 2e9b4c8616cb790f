"""Open balances and aging as of any date (report-date method, home currency).

Buckets follow QuickBooks' A/R Aging Summary: by due date, Current (not yet past due) then
periods of `period_days`, the last one open-ended ("91+" with the default 30 x 4). By invoice
date (QuickBooks Desktop, Xero) there is no Current bucket: 0-30, 31-60, 61-90, 91+.
Sums run in DuckDB on DECIMAL, so every total is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pandas as pd

from etl.db import query_frame
from etl.models import CUSTOMER_CREDITS, CUSTOMER_ROOTS, OPEN_INVOICES

BASES = ("due", "invoice")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class AgingOptions:
    basis: str = "due"
    period_days: int = 30
    periods: int = 4

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise ValueError(f"unknown basis {self.basis!r}: use 'due' or 'invoice'")
        if self.period_days < 1 or self.periods < 2:
            raise ValueError("aging needs a period of at least 1 day and at least 2 periods")

    @property
    def labels(self) -> list[str]:
        """The bucket names in order, e.g. ['current', '1-30', '31-60', '61-90', '91+']."""
        p = self.period_days
        ranges = [f"{(n - 1) * p + 1}-{n * p}" for n in range(1, self.periods)]
        over = f"{(self.periods - 1) * p + 1}+"
        if self.basis == "due":
            return ["current", *ranges, over]
        return [f"0-{p}", *ranges[1:], over]

    @property
    def params(self) -> dict:
        return {"basis": self.basis, "period_days": self.period_days, "periods": self.periods}


def bucket_labels(basis: str = "due", period_days: int = 30, periods: int = 4) -> list[str]:
    return AgingOptions(basis, period_days, periods).labels


# Index into AgingOptions.labels. Due basis: 0 = current, then one per period, the last open-ended.
_BUCKET_INDEX = """
CASE WHEN $basis = 'due'
     THEN CASE WHEN days_past_due <= 0 THEN 0
               ELSE least(ceil(days_past_due / $period_days), $periods) END
     ELSE least(greatest(ceil(days_since_invoice / $period_days), 1), $periods) - 1
END::INTEGER
"""

# Open invoices with their bucket and the account they are reported under (the customer, or
# its top-level parent when rolling up).
_AGED_ITEMS = f"""
SELECT o.*, {_BUCKET_INDEX} AS bucket_index,
       CASE WHEN $roll_up THEN r.root_id ELSE o.customer_id END AS account_id
FROM ({OPEN_INVOICES}) o
JOIN ({CUSTOMER_ROOTS}) r USING (source, company_id, customer_id)
"""


def _bucket_sums(labels: list[str]) -> str:
    # Column names come from AgingOptions.labels (built from integers), never from user input.
    return ", ".join(
        f'coalesce(sum(home_open_amount) FILTER (WHERE bucket_index = {i}), 0)::DECIMAL(18,2) AS "{label}"'
        for i, label in enumerate(labels)
    )


def _with_categorical_bucket(frame: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    frame["bucket"] = pd.Categorical.from_codes(frame.pop("bucket_index"), categories=labels, ordered=True)
    return frame


def open_invoices_as_of(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    basis: str = "due",
    period_days: int = 30,
    periods: int = 4,
    customer_id: str | None = None,
    roll_up: bool = True,
) -> pd.DataFrame:
    """Every invoice open at `as_of` with its open amount, days past due and aging bucket.

    `customer_id` limits it to one account (with its sub-customers when `roll_up`).
    """
    options = AgingOptions(basis, period_days, periods)
    sql = f"""
        SELECT i.source, i.company_id, i.account_id, i.customer_id, c.name AS customer,
               i.invoice_id, i.doc_number, i.kind, i.txn_date, i.due_date, i.currency,
               i.total, i.open_amount, i.home_open_amount, i.days_past_due, i.bucket_index
        FROM ({_AGED_ITEMS}) i
        JOIN customers c USING (source, company_id, customer_id)
        WHERE $customer_id IS NULL OR i.account_id = $customer_id
        ORDER BY c.name, i.due_date, i.doc_number
    """
    params = {"dates": [as_of], "roll_up": roll_up, "customer_id": customer_id, **options.params}
    return _with_categorical_bucket(query_frame(con, sql, params), options.labels)


def aging_buckets(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    basis: str = "due",
    period_days: int = 30,
    periods: int = 4,
) -> pd.DataFrame:
    """Open A/R per bucket at `as_of`: one row per bucket (empty ones too) with `amount` and `invoices`."""
    options = AgingOptions(basis, period_days, periods)
    sql = f"""
        WITH buckets AS (SELECT unnest(range($bucket_count::BIGINT))::INTEGER AS bucket_index)
        SELECT b.bucket_index, coalesce(sum(i.home_open_amount), 0)::DECIMAL(18,2) AS amount,
               count(i.invoice_id) AS invoices
        FROM buckets b LEFT JOIN ({_AGED_ITEMS}) i USING (bucket_index)
        GROUP BY b.bucket_index ORDER BY b.bucket_index
    """
    params = {"dates": [as_of], "roll_up": False, "bucket_count": len(options.labels), **options.params}
    frame = _with_categorical_bucket(query_frame(con, sql, params), options.labels)
    return frame[["bucket", "amount", "invoices"]]


def aging_by_customer(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    basis: str = "due",
    period_days: int = 30,
    periods: int = 4,
    roll_up: bool = True,
    past_due_only: bool = False,
    min_amount: Decimal | int = 0,
) -> pd.DataFrame:
    """One row per customer: open A/R per bucket, `total` (the buckets' sum) and `unapplied_credit`.

    Credits are listed beside the buckets, never netted into them; a customer with only a credit
    appears with zero buckets. `past_due_only` counts only invoices past their due date;
    `min_amount` keeps customers whose total is at least that much.
    """
    options = AgingOptions(basis, period_days, periods)
    account = "CASE WHEN $roll_up THEN r.root_id ELSE k.customer_id END"
    sql = f"""
        WITH open_by_account AS (
            SELECT source, company_id, account_id, {_bucket_sums(options.labels)},
                   sum(home_open_amount)::DECIMAL(18,2) AS total
            FROM ({_AGED_ITEMS})
            WHERE NOT $past_due_only OR days_past_due > 0
            GROUP BY ALL
        ),
        credit_by_account AS (
            SELECT k.source, k.company_id, {account} AS account_id,
                   sum(k.home_unapplied_amount)::DECIMAL(18,2) AS unapplied_credit
            FROM ({CUSTOMER_CREDITS}) k
            JOIN ({CUSTOMER_ROOTS}) r USING (source, company_id, customer_id)
            GROUP BY ALL
        ),
        accounts AS (
            SELECT * FROM open_by_account FULL JOIN credit_by_account USING (source, company_id, account_id)
        )
        SELECT a.source, a.company_id, a.account_id AS customer_id, c.name AS customer, c.email,
               {", ".join(f'coalesce(a."{label}", 0)::DECIMAL(18,2) AS "{label}"' for label in options.labels)},
               coalesce(a.total, 0)::DECIMAL(18,2) AS total,
               coalesce(a.unapplied_credit, 0)::DECIMAL(18,2) AS unapplied_credit
        FROM accounts a
        JOIN customers c
          ON c.source = a.source AND c.company_id = a.company_id AND c.customer_id = a.account_id
        WHERE coalesce(a.total, 0) >= $min_amount
          AND (NOT $past_due_only OR a.total IS NOT NULL)
        ORDER BY total DESC, customer
    """
    params = {
        "dates": [as_of], "roll_up": roll_up, "past_due_only": past_due_only,
        "min_amount": Decimal(min_amount), **options.params,
    }
    return query_frame(con, sql, params)


def month_ends(as_of: date, months: int) -> list[date]:
    """`as_of` and the ends of the `months - 1` months before it, oldest first."""
    dates = [as_of]
    cursor = as_of.replace(day=1) - timedelta(days=1)
    while len(dates) < months:
        dates.append(cursor)
        cursor = cursor.replace(day=1) - timedelta(days=1)
    return sorted(dates)


def ar_trend(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    months: int = 12,
    basis: str = "due",
    period_days: int = 30,
    periods: int = 4,
) -> pd.DataFrame:
    """Open A/R per bucket and in total at each of the last `months` month-ends (the last is `as_of`)."""
    options = AgingOptions(basis, period_days, periods)
    sql = f"""
        WITH dates AS (SELECT unnest($dates::DATE[]) AS as_of)
        SELECT d.as_of, {_bucket_sums(options.labels)},
               coalesce(sum(home_open_amount), 0)::DECIMAL(18,2) AS total
        FROM dates d LEFT JOIN ({_AGED_ITEMS}) i USING (as_of)
        GROUP BY d.as_of ORDER BY d.as_of
    """
    return query_frame(con, sql, {"dates": month_ends(as_of, months), "roll_up": False, **options.params})


def ar_summary(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Headline figures at `as_of`: total, current and overdue A/R, % current, open invoices."""
    buckets = aging_buckets(con, as_of)
    total = sum(buckets["amount"], start=ZERO)
    current = buckets["amount"].iloc[0]
    return pd.DataFrame(
        [
            {
                "as_of": as_of,
                "total_ar": total,
                "current_ar": current,
                "overdue_ar": total - current,
                "pct_current": float(current / total) if total else None,
                "open_invoices": int(buckets["invoices"].sum()),
            }
        ]
    )
