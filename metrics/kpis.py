"""The DSO family, CEI, turnover and bad debt for a window of whole months ending at the as-of date.

Formulas follow ../shared/spec/metrics.md (CRF definitions). An MSP bills on a fixed day each
month, so a window of N days would hold that billing day in some months and not in others (a
30-day window ending on the 31st misses the 1st, and DSO leaps to thousands of days). The window
is therefore whole months: 30 days means the last month, 90 the last 3 months, 365 the last 12,
counted back from the as-of date, (as_of - N months, as_of] (whole calendar months when the as-of
date is a month-end): every day of the month up to the 28th falls in it exactly once per month
(the 29th-31st when the months have them). Its length D
in days (28-31, 89-92, 365-366) is what DSO scales by, N the months CEI divides sales by, and the
countback DSO walks back the same months. "Credit sales" are the home-currency totals of invoices
dated in it. Money is summed as DECIMAL; only ratios become floats.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pandas as pd

import models
from core.errors import InputError
from metrics.aging import ZERO, ar_summaries, month_ends

COUNTBACK_MONTHS = 24
# The spec's reference medians (CRF national summaries, 2020–21) as (low, high), in each KPI's own
# unit (days, CEI in points, shares as fractions): what a month's figures are read beside.
CRF_MEDIANS = {
    "dso": (38.0, 42.0), "bpdso": (32.0, 32.0), "add_crf": (3.0, 6.0), "cei": (81.0, 87.0),
    "pct_current": (0.85, 0.91), "pct_91_plus": (0.006, 0.012),
}
WINDOW_MONTHS = {30: 1, 90: 3, 365: 12}


def window_months(window_days: int) -> int:
    """The whole months a window of `window_days` days stands for: 30 -> 1, 90 -> 3, 365 -> 12."""
    if window_days < 1:
        raise InputError("the window must be at least 1 day")
    return WINDOW_MONTHS.get(window_days, max(1, round(window_days / 30.4375)))


def _month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier (a month's last day goes to that month's
    last day, so a window ending on a month-end is whole calendar months)."""
    years, month = divmod(day.month - 1 - months, 12)
    last = _month_end(date(day.year + years, month + 1, 1))
    return last if day == _month_end(day) else last.replace(day=min(day.day, last.day))


def kpi_window(as_of: date, window_days: int) -> tuple[date, date]:
    """The window (starts_after, as_of] the KPIs at `as_of` use: `window_months` months back."""
    return months_before(as_of, window_months(window_days)), as_of


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
    """The KPIs at each of `dates` for the window of whole months ending there, from three
    set-based queries whatever the number of dates."""
    months = window_months(window_days)
    starts = {day: months_before(day, months) for day in dates}
    ar = ar_summaries(con, sorted(set(dates) | set(starts.values()))).set_index("as_of")
    window = models.frame(con, "kpi_window", {"dates": dates, "starts": [starts[day] for day in dates]}).set_index("as_of")
    # the 24 months back from each date, the latest one ending there: (day - k months, day - (k - 1) months]
    countback = {day: [(months_before(day, k), months_before(day, k - 1)) for k in range(1, COUNTBACK_MONTHS + 1)]
                 for day in dates}
    sales = _window_sales(con, {(starts[day], day) for day in dates} | {w for ws in countback.values() for w in ws})
    return pd.DataFrame([
        _kpis_at(day, window_days, months, starts[day], ar.loc[day], ar.loc[starts[day]].total_ar,
                 sales[(starts[day], day)], [(sales[w], (w[1] - w[0]).days) for w in countback[day]], window.loc[day])
        for day in dates
    ])


def _kpis_at(as_of: date, window_days: int, months: int, starts_after: date, ar, begin_ar: Decimal, sales: Decimal,
             countback_months: list[tuple[Decimal, int]], window) -> dict:
    end_ar, current_ar = ar.total_ar, ar.current_ar
    days = (as_of - starts_after).days
    dso = _ratio(end_ar, sales, days)
    bpdso = _ratio(current_ar, sales, days)
    row = {
        "as_of": as_of,
        "window_days": window_days,
        "window_months": months,
        "window_start": starts_after + timedelta(days=1),
        "days_in_window": days,
        "credit_sales": sales,
        "begin_ar": begin_ar,
        "total_ar": end_ar,
        "overdue_ar": ar.overdue_ar,
        "pct_current": ar.pct_current,
        "pct_91_plus": _ratio(ar.ar_91_plus, end_ar),
        "dso": dso,
        "dso_countback": dso_countback(end_ar, countback_months),
        "bpdso": bpdso,
        "add_crf": None if dso is None else dso - bpdso,
        "add_invoice": _ratio(window.weighted_days_late or ZERO, window.paid_amount or ZERO),
        "cei": collection_effectiveness(begin_ar, sales, end_ar, current_ar, months),
        "ar_turnover": _ratio(sales, (begin_ar + end_ar) / 2),
        "bad_debt_ratio": _ratio(window.written_off, sales),
    }
    return {**row, "notes": kpi_notes(row)}


def kpi_notes(row: dict) -> list[str]:
    """Plain-words explanations for KPIs a reader would take for errors: one that cannot be
    computed, or one outside the range it normally has (a percentage beyond 0-100 %, a DSO of
    more than a year)."""
    notes = []
    if not row["credit_sales"]:
        notes.append("No credit sales in the window: DSO, best possible DSO and the bad-debt ratio cannot be "
                     "computed.")
    if row["cei"] is not None and row["cei"] < 0:
        notes.append(f"CEI is {row['cei']:.1f} %, below 0 %: A/R grew by more than a month's credit sales over the "
                     "window, as little was collected while billing went on.")
    if row["cei"] is not None and row["cei"] > 100:
        notes.append(f"CEI is {row['cei']:.1f} %, above 100 %: the A/R not yet due at the end exceeds what was "
                     "collectible (A/R at the start plus a month's credit sales), which happens when credits or "
                     "overpayments leave negative balances.")
    if row["dso"] is not None and row["dso"] > 365:
        notes.append(f"DSO is {row['dso']:,.0f} days, over a year: A/R is more than twelve months of this window's "
                     "sales, because sales were low or old debt dominates; the countback DSO is "
                     + (f"{row['dso_countback']:,.1f} days." if row["dso_countback"] is not None else "not available."))
    for column, label in (("pct_current", "% current"), ("pct_91_plus", "% 91+ days")):
        if row[column] is not None and not 0 <= row[column] <= 1:
            notes.append(f"{label} is outside 0-100 % because some invoices are overpaid (negative open balances).")
    if row["bad_debt_ratio"] is not None and row["bad_debt_ratio"] > 1:
        notes.append("The bad-debt ratio is above 100 %: more was written off in the window than was invoiced in it.")
    return notes


def kpis(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90) -> pd.DataFrame:
    """One row: total_ar, overdue_ar, pct_current, pct_91_plus, dso, dso_countback, bpdso, add_crf
    (ADD, CRF form: DSO - BPDSO), add_invoice, cei, ar_turnover, bad_debt_ratio, window_days, and
    the window itself: window_months, window_start (its first day; it ends at `as_of`),
    days_in_window; notes (explanations for KPIs out of their usual range); plus credit_sales and
    begin_ar."""
    return _kpi_frame(con, [as_of], window_days)


def kpi_series(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90, months: int = 12) -> pd.DataFrame:
    """`kpis` at each of the last `months` month-ends (the last is `as_of`), for trend charts: the
    same whole-month windows as the tiles, so the trend and the tiles agree."""
    return _kpi_frame(con, month_ends(as_of, months), window_days)
