"""The owner's reading of the collection KPIs: each headline KPI in plain words, its change since
the last month-end, and how it compares with the Credit Research Foundation's national medians
(../shared/spec/metrics.md, "Reference medians", CRF national summaries 2020-21)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd

from metrics.aging import ar_summaries
from metrics.kpis import kpi_series


@dataclass(frozen=True)
class Benchmark:
    kpi: str
    label: str
    meaning: str
    low: float
    high: float
    lower_is_better: bool
    unit: str  # "days" or "fraction"


BENCHMARKS = (
    Benchmark("dso", "Days to collect (DSO)", "How many days of sales are still unpaid.", 38, 42, True, "days"),
    Benchmark("add_crf", "Days late on average", "How far past the due date clients pay, on average (DSO − best "
              "possible DSO).", 3, 6, True, "days"),
    Benchmark("cei", "Collected of what was due (CEI)", "Of what could have been collected in the window, the "
              "share that was.", 0.81, 0.87, False, "fraction"),
    Benchmark("pct_91_plus", "More than 90 days late", "Share of A/R over 90 days past due: the hardest to "
              "collect.", 0.006, 0.012, True, "fraction"),
)


def previous_month_end(as_of: date) -> date:
    """The month-end before `as_of` (the last day of the month before, when `as_of` is a month-end)."""
    return as_of.replace(day=1) - timedelta(days=1)


def _value(row: pd.Series, benchmark: Benchmark) -> float | None:
    value = row[benchmark.kpi]
    if value is None or pd.isna(value):
        return None
    return float(value) / 100 if benchmark.kpi == "cei" else float(value)  # CEI is stored in percent points


def _verdict(value: float | None, benchmark: Benchmark) -> str | None:
    if value is None:
        return None
    if benchmark.low <= value <= benchmark.high:
        return "typical"
    return "better" if (value < benchmark.low) == benchmark.lower_is_better else "worse"


def kpi_review(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90) -> pd.DataFrame:
    """One row per headline KPI: kpi, label, meaning, unit, value, previous (at the month-end
    before), change, median_low, median_high, lower_is_better, and verdict against the medians
    ('better', 'typical', 'worse'; None when the KPI has no value)."""
    before, now = (row for _, row in kpi_series(con, as_of, window_days, months=2).iterrows())  # the month-end before, as_of
    rows = []
    for benchmark in BENCHMARKS:
        value, previous = _value(now, benchmark), _value(before, benchmark)
        rows.append({
            "kpi": benchmark.kpi, "label": benchmark.label, "meaning": benchmark.meaning, "unit": benchmark.unit,
            "value": value, "previous": previous,
            "change": None if value is None or previous is None else value - previous,
            "median_low": benchmark.low, "median_high": benchmark.high,
            "lower_is_better": benchmark.lower_is_better, "verdict": _verdict(value, benchmark),
        })
    return pd.DataFrame(rows)


def ar_change(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """One row: total and overdue A/R, % current and open invoices at `as_of`, at the month-end
    before it (`…_previous`, `previous_as_of`) and the change (`…_change`), for the headline tiles."""
    before, now = (row for _, row in ar_summaries(con, [previous_month_end(as_of), as_of]).iterrows())
    row = {"previous_as_of": previous_month_end(as_of)}
    for column in ("total_ar", "overdue_ar", "pct_current", "open_invoices"):
        missing = now[column] is None or before[column] is None
        row |= {column: now[column], f"{column}_previous": before[column],
                f"{column}_change": None if missing else now[column] - before[column]}
    return pd.DataFrame([row])
