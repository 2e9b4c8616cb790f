"""The DSO family, CEI, turnover and bad debt for a window of D days ending at the as-of date.

Formulas follow ../shared/spec/metrics.md (CRF definitions). The window is the D days
(as_of - D, as_of]; "credit sales" are the home-currency totals of invoices dated in it.
Money is summed as DECIMAL; only ratios become floats.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pandas as pd

from etl.db import query_frame
from etl.models import SETTLED_INVOICES
from metrics.aging import ZERO, aging_buckets, month_ends

WINDOWS = (30, 90, 365)

_SALES_IN_WINDOWS = """
WITH windows AS (
    SELECT unnest($starts::DATE[]) AS starts_after, unnest($ends::DATE[]) AS ends_on
)
SELECT w.starts_after, w.ends_on, coalesce(sum(i.home_total), 0)::DECIMAL(18,2) AS sales
FROM windows w
LEFT JOIN invoices i
  ON i.status = 'posted' AND i.txn_date > w.starts_after AND i.txn_date <= w.ends_on
GROUP BY ALL ORDER BY w.ends_on DESC
"""

_WRITE_OFFS = """
SELECT coalesce(sum(round(a.amount * i.exchange_rate, 2)), 0)::DECIMAL(18,2)
FROM applications a
JOIN credit_memos m USING (source, company_id, credit_memo_id)
JOIN invoices i USING (source, company_id, invoice_id)
WHERE m.is_write_off AND a.applied_on > $starts_after AND a.applied_on <= $as_of
"""

_LATENESS_OF_PAID = f"""
SELECT sum(home_total * greatest(days_late, 0)) AS weighted_days, sum(home_total) AS amount
FROM ({SETTLED_INVOICES})
WHERE NOT written_off AND settled_on > $starts_after
"""


def dso_countback(receivables: Decimal, monthly_sales: list[tuple[Decimal, int]]) -> float | None:
    """Countback DSO: walk back month by month (latest first, each `(sales, days)`), consuming
    receivables; the month that sales outrun contributes its share of days."""
    remaining, days = receivables, Decimal(0)
    for sales, month_days in monthly_sales:
        if remaining <= 0:
            break
        if remaining >= sales:
            remaining -= sales
            days += month_days
        else:
            days += remaining / sales * month_days
            remaining = ZERO
    return float(days) if monthly_sales else None


def collection_effectiveness(
    begin_ar: Decimal, sales: Decimal, end_ar: Decimal, current_end_ar: Decimal, months: int
) -> float | None:
    """CEI (CRF) in percent: (begin + sales/N - end) / (begin + sales/N - current end) x 100."""
    collectible = begin_ar + sales / months
    denominator = collectible - current_end_ar
    return float((collectible - end_ar) / denominator * 100) if denominator else None


def _ratio(numerator: Decimal, denominator: Decimal, scale: float = 1.0) -> float | None:
    return float(numerator / denominator) * scale if denominator else None


def _sales_by_window(con, bounds: list[tuple[date, date]]) -> pd.DataFrame:
    starts, ends = zip(*bounds)
    return query_frame(con, _SALES_IN_WINDOWS, {"starts": list(starts), "ends": list(ends)})


def kpis(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90) -> pd.DataFrame:
    """One row: total_ar, overdue_ar, pct_current, pct_91_plus, dso, dso_countback, bpdso, add,
    add_invoice, cei, ar_turnover, bad_debt_ratio, window_days (plus credit_sales and begin_ar)."""
    if window_days < 1:
        raise ValueError("the window must be at least 1 day")
    starts_after = as_of - timedelta(days=window_days)
    buckets = aging_buckets(con, as_of)["amount"].tolist()
    end_ar, current_ar, over_91 = sum(buckets, start=ZERO), buckets[0], buckets[-1]
    begin_ar = sum(aging_buckets(con, starts_after)["amount"], start=ZERO)

    ends = month_ends(as_of, 25)  # 24 calendar months back, the latest one ending at as_of
    countback_months = _sales_by_window(con, list(zip(ends[:-1], ends[1:])))
    (sales,) = _sales_by_window(con, [(starts_after, as_of)])["sales"]
    window = {"starts_after": starts_after, "as_of": as_of}
    [(written_off,)] = con.execute(_WRITE_OFFS, window).fetchall()
    [(weighted_days, paid_amount)] = con.execute(_LATENESS_OF_PAID, window).fetchall()

    dso = _ratio(end_ar, sales, window_days)
    bpdso = _ratio(current_ar, sales, window_days)
    months_in_window = max(1, round(window_days / 30.4375))
    return pd.DataFrame(
        [
            {
                "as_of": as_of,
                "window_days": window_days,
                "credit_sales": sales,
                "begin_ar": begin_ar,
                "total_ar": end_ar,
                "overdue_ar": end_ar - current_ar,
                "pct_current": _ratio(current_ar, end_ar),
                "pct_91_plus": _ratio(over_91, end_ar),
                "dso": dso,
                "dso_countback": dso_countback(
                    end_ar,
                    [(row.sales, (row.ends_on - row.starts_after).days) for row in countback_months.itertuples()],
                ),
                "bpdso": bpdso,
                "add": None if dso is None else dso - bpdso,
                "add_invoice": _ratio(weighted_days or ZERO, paid_amount or ZERO),
                "cei": collection_effectiveness(begin_ar, sales, end_ar, current_ar, months_in_window),
                "ar_turnover": _ratio(sales, (begin_ar + end_ar) / 2),
                "bad_debt_ratio": _ratio(written_off, sales),
            }
        ]
    )


def kpi_series(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90, months: int = 12) -> pd.DataFrame:
    """`kpis` at each of the last `months` month-ends (the last is `as_of`), for trend charts."""
    return pd.concat([kpis(con, day, window_days) for day in month_ends(as_of, months)], ignore_index=True)
