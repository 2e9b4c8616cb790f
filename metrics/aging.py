"""Open balances and aging as of any date (report-date method, home currency).

Buckets follow QuickBooks' A/R Aging Summary: by due date, Current (not yet past due) then
periods of `period_days`, the last one open-ended ("91+" with the default 30 x 4). By invoice
date (QuickBooks Desktop, Xero) there is no Current bucket: 0-30, 31-60, 61-90, 91+.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pandas as pd

from etl.db import query_frame
from etl.models import OPEN_INVOICES

BASES = ("due", "invoice")
_ZERO = Decimal("0.00")


def bucket_labels(basis: str = "due", period_days: int = 30, periods: int = 4) -> list[str]:
    """The bucket names in order, e.g. ['current', '1-30', '31-60', '61-90', '91+']."""
    check_aging_options(basis, period_days, periods)
    ranges = [f"{(n - 1) * period_days + 1}-{n * period_days}" for n in range(1, periods)]
    over = f"{(periods - 1) * period_days + 1}+"
    if basis == "due":
        return ["current", *ranges, over]
    return [f"0-{period_days}", *ranges[1:], over]


def check_aging_options(basis: str, period_days: int, periods: int) -> None:
    if basis not in BASES:
        raise ValueError(f"unknown basis {basis!r}: use 'due' or 'invoice'")
    if period_days < 1 or periods < 2:
        raise ValueError("aging needs period_days >= 1 and at least 2 periods")


# Index into bucket_labels(). Due basis: 0 = current, then one per period, the last open-ended.
_BUCKET_INDEX = """
CASE WHEN $basis = 'due'
     THEN CASE WHEN days_past_due <= 0 THEN 0
               ELSE least(ceil(days_past_due / $period_days), $periods) END
     ELSE least(greatest(ceil(days_since_invoice / $period_days), 1), $periods) - 1
END::INTEGER
"""


def _open_invoices(con, dates: list[date], basis: str, period_days: int, periods: int) -> pd.DataFrame:
    check_aging_options(basis, period_days, periods)
    sql = f"""
        SELECT o.*, c.name AS customer, c.parent_id, {_BUCKET_INDEX} AS bucket_index
        FROM ({OPEN_INVOICES}) o
        JOIN customers c USING (source, company_id, customer_id)
    """
    params = {"dates": dates, "basis": basis, "period_days": period_days, "periods": periods}
    frame = query_frame(con, sql, params)
    labels = bucket_labels(basis, period_days, periods)
    frame["bucket"] = pd.Categorical.from_codes(frame["bucket_index"], categories=labels, ordered=True)
    return frame.drop(columns="bucket_index")


def open_invoices_as_of(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    basis: str = "due",
    period_days: int = 30,
    periods: int = 4,
) -> pd.DataFrame:
    """Every invoice open at `as_of`, with its open amount, days past due and aging bucket."""
    frame = _open_invoices(con, [as_of], basis, period_days, periods)
    return frame.sort_values(["customer", "due_date", "doc_number"], ignore_index=True)


def _sum_by_bucket(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    # Decimal sums stay exact; observed=False keeps empty buckets as explicit zeros.
    return (
        frame.groupby(keys + ["bucket"], observed=False)["home_open_amount"]
        .apply(lambda amounts: sum(amounts, start=_ZERO))
        .unstack("bucket")
    )


def aging_buckets(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    basis: str = "due",
    period_days: int = 30,
    periods: int = 4,
) -> pd.DataFrame:
    """Open A/R per bucket at `as_of`: one row per bucket with `amount` and `invoices`."""
    frame = _open_invoices(con, [as_of], basis, period_days, periods)
    grouped = frame.groupby("bucket", observed=False)["home_open_amount"]
    return pd.DataFrame(
        {
            "amount": grouped.apply(lambda amounts: sum(amounts, start=_ZERO)),
            "invoices": grouped.size(),
        }
    ).rename_axis("bucket").reset_index()


def month_ends(as_of: date, months: int) -> list[date]:
    """`as_of` and the ends of the `months - 1` months before it, oldest first."""
    dates = [as_of]
    cursor = as_of.replace(day=1) - timedelta(days=1)
    while len(dates) < months:
        dates.append(cursor)
        cursor = cursor.replace(day=1) - timedelta(days=1)
    return sorted(dates)


def ar_trend(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 12) -> pd.DataFrame:
    """Open A/R per bucket at each of the last `months` month-ends (the last point is `as_of`)."""
    dates = month_ends(as_of, months)
    frame = _open_invoices(con, dates, "due", 30, 4)
    table = _sum_by_bucket(frame, ["as_of"]).reindex(dates, fill_value=_ZERO)
    table["total"] = table.sum(axis=1)
    table.columns = [str(column) for column in table.columns]
    return table.rename_axis("as_of").reset_index()


def ar_summary(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Headline figures at `as_of`: total, current and overdue A/R, % current, open invoices."""
    buckets = aging_buckets(con, as_of)
    total = sum(buckets["amount"], start=_ZERO)
    current = buckets.loc[buckets["bucket"] == "current", "amount"].iloc[0]
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
