"""Cash-in forecast: when the open invoices and the recurring invoices not yet issued will be paid.

Spec "Cash-in forecast". Every invoice open at the cut-off t, and every invoice not yet issued
in the horizon (each recurring schedule's occurrences as known at t, plus billing no schedule
covers at each client's run rate of the last 91 days), gets expected payments:

- a client on autopay at t (or named in the what-if) is charged on the due date, except the share
  of autopay money whose charge failed in the 12 months before t, expected that failed money's
  amount-weighted mean days late after the due date (the retry);
- any other client pays like its own invoices paid in full in the 12 months before t (not on
  autopay): its amount-weighted distribution of days late, mixed with the portfolio's with
  weights n / (n + K) and K / (n + K), K = 3, so a client with few invoices, or
  none (a new client), leans on the portfolio. An open invoice can only be paid after t, so only
  the outcomes after t count; one later than anything on record is expected on t + 1 (never in
  the past, cash on t being known).

The band: the same forecast with every client at the 20th and at the 80th percentile of its days
late (shrunk the same way); low and high per period are the least and greatest of the three.

The constants live beside the SQL that uses them (models/marts/payment_pieces.sql), which reads
only as-of models at t (open_invoices, settled_invoices, known_schedules, autopay_on_days): one
query forecasts any number of cut-offs, and the backtest cannot see anything after its cut-off.

Actual cash collected on a day = payments applied to invoices that day (applications with a
payment and no credit memo), in the home currency at the invoice's rate; credit memos, including
QuickBooks' credit memos applied through a Payment, and unapplied payments are not cash in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pandas as pd

import models

BACKTEST_CUTOFFS = 26
# Cut-offs replayed per query: one set-based query each, few enough to report progress.
BACKTEST_BATCH = 7
FORECAST_WEEKS = 13
ZERO = Decimal("0.00")
FORECAST_MONEY = ("expected", "low", "high", "from_open", "from_not_yet_issued")


def _weekly(con: duckdb.DuckDBPyConnection, cutoffs: list[date], weeks: int,
            autopay_customer_ids: Iterable[str] | None) -> pd.DataFrame:
    params = {"dates": cutoffs, "periods": weeks, "horizon_days": 7 * weeks,
              "what_if": sorted(autopay_customer_ids or [])}
    return models.frame(con, "weekly_cash_forecast", params)


def cash_forecast(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    weeks: int = FORECAST_WEEKS,
    autopay_customer_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Expected cash in each of the `weeks` weeks after `as_of` (week 1 = the 7 days after it):
    week, week_start, week_end, expected, low, high, from_open, from_not_yet_issued (money).
    `autopay_customer_ids`: clients to treat as on autopay from `as_of` (a what-if)."""
    frame = _weekly(con, [as_of], weeks, autopay_customer_ids)
    return frame[["period", "period_start", "period_end", *FORECAST_MONEY]].rename(
        columns={"period": "week", "period_start": "week_start", "period_end": "week_end"})


def forecast_totals(weeks: pd.DataFrame) -> dict[str, Decimal]:
    """A forecast's money columns (see `cash_forecast`) summed over its weeks, exactly."""
    return {column: sum(weeks[column], start=ZERO) for column in FORECAST_MONEY}


BACKTEST_METHODS = {"ledgerlight": "expected", "due_date": "due_date_baseline", "average_dso": "average_dso_baseline"}
BACKTEST_HORIZONS = {"1_4": (1, 4), "5_13": (5, 13)}


def backtest_cutoffs(as_of: date, cutoffs: int = BACKTEST_CUTOFFS, weeks: int = FORECAST_WEEKS) -> list[date]:
    """The last `cutoffs` weekly cut-offs whose `weeks` following weeks have all ended by `as_of`."""
    last = as_of - timedelta(weeks=weeks)
    return [last - timedelta(weeks=back) for back in range(cutoffs - 1, -1, -1)]


def backtest_weeks(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    cutoffs: int = BACKTEST_CUTOFFS,
    weeks: int = FORECAST_WEEKS,
    progress=lambda done, total: None,
) -> pd.DataFrame:
    """The forecast replayed at each cut-off from data known then, beside the cash collected:
    cutoff, week, week_start, week_end, expected, low, high, due_date_baseline,
    average_dso_baseline, actual. `progress(done, total)` hears about each cut-off."""
    dates = backtest_cutoffs(as_of, cutoffs, weeks)
    frames = []
    for first in range(0, len(dates), BACKTEST_BATCH):
        batch = dates[first:first + BACKTEST_BATCH]
        frames.append(_weekly(con, batch, weeks, None))
        progress(first + len(batch), len(dates))
    forecasts = pd.concat(frames, ignore_index=True)
    collected = models.frame(con, "collected_cash")
    daily = dict(zip(collected["day"], collected["collected"]))
    forecasts["actual"] = [
        sum((daily.get(start + timedelta(days=offset), ZERO) for offset in range((end - start).days + 1)), start=ZERO)
        for start, end in zip(forecasts["period_start"], forecasts["period_end"])
    ]
    return forecasts.rename(columns={"as_of": "cutoff", "period": "week", "period_start": "week_start",
                                     "period_end": "week_end"})[
        ["cutoff", "week", "week_start", "week_end", "expected", "low", "high",
         "due_date_baseline", "average_dso_baseline", "actual"]
    ]


def backtest_summary(weekly: pd.DataFrame) -> dict:
    """MAE (money) and MAPE (a fraction; weeks with no cash left out) per method and horizon."""
    summary = {"cutoffs": int(weekly["cutoff"].nunique())}
    actual = weekly["actual"].astype(float)
    for method, column in BACKTEST_METHODS.items():
        error = (weekly[column].astype(float) - actual).abs()
        figures = {}
        for horizon, (first, last) in BACKTEST_HORIZONS.items():
            in_horizon = weekly["week"].between(first, last)
            with_cash = in_horizon & (actual > 0)
            figures[f"mae_{horizon}"] = float(error[in_horizon].mean())
            figures[f"mape_{horizon}"] = float((error[with_cash] / actual[with_cash]).mean())
        summary[method] = figures
    return summary


def backtest(con: duckdb.DuckDBPyConnection, as_of: date, cutoffs: int = BACKTEST_CUTOFFS,
             progress=lambda done, total: None) -> tuple[pd.DataFrame, dict]:
    """`backtest_weeks` and its `backtest_summary`."""
    weekly = backtest_weeks(con, as_of, cutoffs, progress=progress)
    return weekly, backtest_summary(weekly)



def autopay_what_if_clients(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Clients the cash forecast could move to autopay: not on autopay at `as_of`, with an open
    invoice or a recurring schedule then. Columns: customer_id, customer."""
    return models.frame(con, "autopay_what_if_clients", {"dates": [as_of]})
