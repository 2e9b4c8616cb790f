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

import models
from core.errors import InputError
from metrics.aging import ZERO, month_ends

COUNTBACK_MONTHS = 24
# The spec's reference medians (CRF national summaries, 2020–21) as (low, high), in each KPI's own
# unit (days, CEI in points, shares as fractions): what a month's figures are read beside.
CRF_MEDIANS = {
    "dso": (38.0, 42.0), "bpdso": (32.0, 32.0), "add_crf": (3.0, 6.0), "cei": (81.0, 87.0),
    "pct_current": (0.85, 0.91), "pct_91_plus": (0.006, 0.012),
}


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


def _window_sales(con, windows: set[tuple[date, date]]) -> dict[tuple[date, date], Decimal]:
    starts, ends = zip(*sorted(windows))
    sales = models.frame(con, "credit_sales", {"starts": list(starts), "ends": list(ends)})
    return {(row.starts_after, row.ends_on): row.sales for row in sales.itertuples()}


def _kpi_frame(con: duckdb.DuckDBPyConnection, dates: list[date], window_days: int) -> pd.DataFrame:
    """The KPIs at each of `dates` for the window of `window_days` days ending there, from three
    set-based queries whatever the number of dates."""
    if window_days < 1:
        raise InputError("the window must be at least 1 day")
    starts = {day: day - timedelta(days=window_days) for day in dates}
    ar = models.frame(con, "ar_totals", {"dates": sorted(set(dates) | set(starts.values()))}).set_index("as_of")
    window = models.frame(con, "kpi_window", {"dates": dates, "window_days": window_days}).set_index("as_of")
    # 24 calendar months back from each date, the latest one ending there
    months = {day: list(zip(month_ends(day, COUNTBACK_MONTHS + 1)[:-1], month_ends(day, COUNTBACK_MONTHS + 1)[1:]))
              for day in dates}
    sales = _window_sales(con, {(starts[day], day) for day in dates} | {w for ws in months.values() for w in ws})
    return pd.DataFrame([
        _kpis_at(day, window_days, ar.loc[day], ar.loc[starts[day]].total_ar, sales[(starts[day], day)],
                 [(sales[w], (w[1] - w[0]).days) for w in reversed(months[day])], window.loc[day])
        for day in dates
    ])


def _kpis_at(as_of: date, window_days: int, ar, begin_ar: Decimal, sales: Decimal,
             countback_months: list[tuple[Decimal, int]], window) -> dict:
    end_ar, current_ar = ar.total_ar, ar.current_ar
    dso = _ratio(end_ar, sales, window_days)
    bpdso = _ratio(current_ar, sales, window_days)
    months_in_window = max(1, round(window_days / 30.4375))
    return {
        "as_of": as_of,
        "window_days": window_days,
        "credit_sales": sales,
        "begin_ar": begin_ar,
        "total_ar": end_ar,
        "overdue_ar": end_ar - current_ar,
        "pct_current": _ratio(current_ar, end_ar),
        "pct_91_plus": _ratio(ar.ar_91_plus, end_ar),
        "dso": dso,
        "dso_countback": dso_countback(end_ar, countback_months),
        "bpdso": bpdso,
        "add_crf": None if dso is None else dso - bpdso,
        "add_invoice": _ratio(window.weighted_days_late or ZERO, window.paid_amount or ZERO),
        "cei": collection_effectiveness(begin_ar, sales, end_ar, current_ar, months_in_window),
        "ar_turnover": _ratio(sales, (begin_ar + end_ar) / 2),
        "bad_debt_ratio": _ratio(window.written_off, sales),
    }


def kpis(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90) -> pd.DataFrame:
    """One row: total_ar, overdue_ar, pct_current, pct_91_plus, dso, dso_countback, bpdso, add_crf
    (ADD, CRF form: DSO - BPDSO), add_invoice, cei, ar_turnover, bad_debt_ratio, window_days (plus
    credit_sales and begin_ar)."""
    return _kpi_frame(con, [as_of], window_days)


def kpi_series(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90, months: int = 12) -> pd.DataFrame:
    """`kpis` at each of the last `months` month-ends (the last is `as_of`), for trend charts."""
    return _kpi_frame(con, month_ends(as_of, months), window_days)
