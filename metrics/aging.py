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

import models
from core.errors import InputError

BASES = ("due", "invoice")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class AgingOptions:
    basis: str = "due"
    period_days: int = 30
    periods: int = 4

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise InputError(f"unknown basis {self.basis!r}: use 'due' or 'invoice'")
        if self.period_days < 1 or self.periods < 2:
            raise InputError("aging needs a period of at least 1 day and at least 2 periods")

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
    bucket: str | None = None,
    past_due_only: bool = False,
) -> pd.DataFrame:
    """Every invoice open at `as_of` with its open amount, days past due and aging bucket.

    `customer_id` limits it to one account (with its sub-customers when `roll_up`), `bucket` to
    the invoices in one bucket (a label of `bucket_labels`), `past_due_only` to those past due.
    """
    options = AgingOptions(basis, period_days, periods)
    if bucket is not None and bucket not in options.labels:
        raise InputError(f"unknown bucket {bucket!r}: use one of {', '.join(options.labels)}")
    params = {"dates": [as_of], "roll_up": roll_up, "customer_id": customer_id, "past_due_only": past_due_only,
              "bucket_index": None if bucket is None else options.labels.index(bucket), **options.params}
    return _with_categorical_bucket(models.frame(con, "open_invoices_as_of", params), options.labels)


def aging_buckets(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    basis: str = "due",
    period_days: int = 30,
    periods: int = 4,
    past_due_only: bool = False,
) -> pd.DataFrame:
    """Open A/R per bucket at `as_of`: one row per bucket (empty ones too) with `amount` and
    `invoices`; `past_due_only` counts only invoices past their due date."""
    options = AgingOptions(basis, period_days, periods)
    params = {"dates": [as_of], "roll_up": False, "bucket_count": len(options.labels),
              "past_due_only": past_due_only, **options.params}
    frame = _with_categorical_bucket(models.frame(con, "aging_buckets", params), options.labels)
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
    params = {
        "dates": [as_of], "roll_up": roll_up, "past_due_only": past_due_only,
        "min_amount": Decimal(min_amount), **options.params,
    }
    return models.frame(con, "aging_by_customer", params, labels=options.labels)


def credit_aging_by_customer(
    con: duckdb.DuckDBPyConnection, as_of: date, period_days: int = 30, periods: int = 4
) -> pd.DataFrame:
    """Each customer's unapplied credit at `as_of` by the bucket of the credit's own date (how
    QuickBooks' aging report places credits), a column per due-basis label and `total`; unrolled."""
    options = AgingOptions("due", period_days, periods)
    params = {"dates": [as_of], "period_days": period_days, "periods": periods}
    return models.frame(con, "credit_aging_by_customer", params, labels=options.labels)


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
    params = {"dates": month_ends(as_of, months), "roll_up": False, **options.params}
    return models.frame(con, "ar_trend", params, labels=options.labels)


def ar_summaries(con: duckdb.DuckDBPyConnection, dates: list[date]) -> pd.DataFrame:
    """The headline figures at each of `dates`, oldest first, in one query: as_of, total_ar,
    current_ar, overdue_ar (past due: total - current), pct_current, ar_91_plus, open_invoices."""
    frame = models.frame(con, "ar_totals", {"dates": sorted(dates)})
    frame["overdue_ar"] = [total - current for total, current in zip(frame["total_ar"], frame["current_ar"])]
    frame["pct_current"] = [float(current / total) if total else None
                            for total, current in zip(frame["total_ar"], frame["current_ar"])]
    return frame[["as_of", "total_ar", "current_ar", "overdue_ar", "pct_current", "ar_91_plus", "open_invoices"]]


def ar_summary(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Headline figures at `as_of`: total, current and overdue A/R, % current, open invoices."""
    return ar_summaries(con, [as_of])
