"""Cash-in forecast: when the open invoices and the recurring invoices not yet issued will be paid,
and what may never be.

Spec "Cash-in forecast". Every invoice open at the cut-off t, and every invoice not yet issued in
the horizon (each recurring schedule's occurrences as known at t, plus billing no schedule covers
at each client's run rate of the last 91 days), gets a chance of being collected in each of the
13 weeks:

- a client not on autopay pays as invoices like it did. The portfolio's *collection curve*
  (models/forecast/portfolio_collection_curve.sql) says, for each age (days from the due date),
  what share of the money still open at the start of that day was collected in cash that day,
  learnt from every invoice's days in the 12 months before t (a Kaplan-Meier estimate, pooled in
  age bands: day by day around the due date, wider bands for old debt). Each invoice counts once
  whatever its amount, an invoice due a quarter before t half as much as one due at t (habits
  drift), and what was written off, short-paid or is still open counts as not collected. Each
  client's curve is the portfolio's paced by how the client has paid in each band of ages
  (collected + 3) / (expected + 3), so a client with little history follows the portfolio
  (client_collection_curve.sql). An invoice N days past due is collected in week k with the
  chance the curve gives from age N on: only later days count, and one older than anything the
  history shows collected gets no week at all;
- a client on autopay at t (or in the what-if) is charged on the due date, except the book's
  failure share of the 12 months before t, which follows the failed charges' mean delay; an
  autopay invoice already past due waits for that delay.

What an open, past-due invoice is not expected to bring in within the 13 weeks is **at risk**
(`invoices_at_risk`): reported apart, a bad-debt candidate, never spread over week 1.

The *model's band* is the central 80 % of each week's cash under the model's own distribution:
each item is collected in a week or not (an account's open invoices move together as often as it
paid several invoices at once; billing at a run rate is a Poisson stream), so a week's cash has a
mean and a variance, and the band is that of a log-normal with the same two
(weekly_cash_forecast.sql). It holds only the chance of each item, not the error of the learnt
curve or the run rate, so it is too narrow wherever the mean is off. The band reported (`low`,
`high`) is therefore *calibrated* from the forecast's own past errors (split-conformal): for a
forecast made at t, the forecasts made at the CALIBRATION_CUTOFFS weekly cut-offs before t, in
each of their weeks that had ended by t, give the ratios actual cash / expected cash (weeks with
nothing expected left out), per horizon group (weeks 1-4, 5-13). With n >= CALIBRATION_MIN_ERRORS
ratios, the band is expected x [the floor(0.1 (n + 1))-th, the ceil(0.9 (n + 1))-th smallest
ratio], widened to hold the expected figure itself; with fewer it is the model's band. The
backtest computes each cut-off's band the same way, from what was known at that cut-off, and
reports how often the actual cash fell inside it (and inside the model's band).

Every query reads only what was known at t, as one set-based query over any list of cut-offs:
the backtest replays 26 cut-offs in one pass. Probabilities are DOUBLE; money is rounded to the
cent once per week.

Actual cash collected on a day = payments applied to invoices that day (applications with a
payment and no credit memo), in the home currency at the invoice's rate; credit memos, including
QuickBooks' credit memos applied through a Payment, and unapplied payments are not cash in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import numpy as np
import pandas as pd

import models

BACKTEST_CUTOFFS = 26
# Invoices in view x cut-offs one set-based pass of the backtest may hold: every cut-off (39, with
# the 13 that calibrate the band) in one pass up to about 150,000 invoices in view (the demo,
# 100k-invoice books), a few passes beyond,
# so that memory stays bounded (docs/benchmarks.md).
BACKTEST_PASS_SIZE = 6_000_000
FORECAST_WEEKS = 13
BAND_LEVEL = 0.8
ZERO = Decimal("0.00")
FORECAST_MONEY = ("expected", "low", "high", "from_open", "from_not_yet_issued")
# The calibrated band: the forecasts at this many weekly cut-offs before t calibrate t's band, from
# their weeks that had ended by t; a horizon group with fewer past errors keeps the model's band.
CALIBRATION_CUTOFFS = 13
CALIBRATION_MIN_ERRORS = 20
CENT = Decimal("0.01")
BACKTEST_HORIZONS = {"1_4": (1, 4), "5_13": (5, 13)}


def _params(cutoffs: list[date], weeks: int, autopay_customer_ids: Iterable[str] | None) -> dict:
    return {"dates": cutoffs, "periods": weeks, "horizon_days": 7 * weeks, "what_if": sorted(autopay_customer_ids or [])}


def _weekly(con: duckdb.DuckDBPyConnection, cutoffs: list[date], weeks: int,
            autopay_customer_ids: Iterable[str] | None) -> pd.DataFrame:
    return models.frame(con, "weekly_cash_forecast", _params(cutoffs, weeks, autopay_customer_ids))


def _calibration_dates(cutoffs: list[date]) -> list[date]:
    """The cut-offs, and the weekly ones before each whose forecasts calibrate its band."""
    return sorted({cutoff - timedelta(weeks=back) for cutoff in cutoffs for back in range(CALIBRATION_CUTOFFS + 1)})


def _with_actual(con: duckdb.DuckDBPyConnection, forecasts: pd.DataFrame) -> pd.DataFrame:
    """`forecasts` (rows of weekly_cash_forecast) with the cash actually collected in each week."""
    collected = models.frame(con, "collected_cash")
    daily = dict(zip(collected["day"], collected["collected"]))
    forecasts["actual"] = [
        sum((daily.get(start + timedelta(days=offset), ZERO) for offset in range((end - start).days + 1)), start=ZERO)
        for start, end in zip(forecasts["period_start"], forecasts["period_end"])
    ]
    return forecasts


def _calibrated(targets: pd.DataFrame, past: pd.DataFrame) -> pd.DataFrame:
    """`targets` (forecast rows at some cut-offs) with the calibrated band in low / high, the
    model's own band kept in model_low / model_high and the rule used in `band` ("calibrated" or
    "model"). `past`: forecast rows with `actual`, at the weekly cut-offs before; only those of a
    target's CALIBRATION_CUTOFFS cut-offs before it whose week had ended by it count."""
    targets = targets.assign(model_low=targets["low"], model_high=targets["high"], band="model")
    scored = past[past["expected"] > 0]
    expected = scored["expected"].astype(float).to_numpy()
    actual = scored["actual"].astype(float).to_numpy()
    # how far outside the model's band the cash fell, as a share of the expected (negative: inside)
    scores = np.maximum(scored["low"].astype(float).to_numpy() - actual,
                        actual - scored["high"].astype(float).to_numpy()) / expected
    low, high, band = list(targets["low"]), list(targets["high"]), list(targets["band"])
    for cutoff, rows in targets.groupby("as_of").groups.items():
        earliest = cutoff - timedelta(weeks=CALIBRATION_CUTOFFS)
        known = ((scored["as_of"] >= earliest) & (scored["as_of"] < cutoff) & (scored["period_end"] <= cutoff)).to_numpy()
        for first, last in BACKTEST_HORIZONS.values():
            errors = np.sort(scores[known & scored["period"].between(first, last).to_numpy()])
            n = len(errors)
            if n < CALIBRATION_MIN_ERRORS:
                continue
            # widened only: a band the past says is wide enough stays the model's
            widen = Decimal(max(float(errors[min(math.ceil(BAND_LEVEL * (n + 1)), n) - 1]), 0.0))
            for row in rows:  # targets has a RangeIndex: a label is a position
                if first <= targets.at[row, "period"] <= last:
                    mean = targets.at[row, "expected"]
                    low[row] = min(max(targets.at[row, "low"] - widen * mean, ZERO), mean).quantize(CENT)
                    high[row] = max(targets.at[row, "high"] + widen * mean, mean).quantize(CENT)
                    band[row] = "calibrated"
    return targets.assign(low=low, high=high, band=band)


def _forecast_frame(con: duckdb.DuckDBPyConnection, as_of: date, weeks: int,
                    autopay_customer_ids: Iterable[str] | None) -> pd.DataFrame:
    """The forecast at `as_of` with its calibrated band (see `_calibrated`)."""
    past_dates = _calibration_dates([as_of])[:-1]
    if autopay_customer_ids:
        # the past is calibrated as it was forecast, without the what-if
        target, past = _weekly(con, [as_of], weeks, autopay_customer_ids), _weekly(con, past_dates, weeks, None)
    else:
        both = _weekly(con, [*past_dates, as_of], weeks, None)
        target, past = both[both["as_of"] == as_of], both[both["as_of"] < as_of]
    return _calibrated(target.reset_index(drop=True), _with_actual(con, past.reset_index(drop=True)))


def cash_forecast(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    weeks: int = FORECAST_WEEKS,
    autopay_customer_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Expected cash in each of the `weeks` weeks after `as_of` (week 1 = the 7 days after it):
    week, week_start, week_end, expected, low, high (the 80 % band), from_open, from_not_yet_issued
    (money). `autopay_customer_ids`: clients to treat as on autopay from `as_of` (a what-if)."""
    frame = _forecast_frame(con, as_of, weeks, autopay_customer_ids)
    return frame[["period", "period_start", "period_end", *FORECAST_MONEY]].rename(
        columns={"period": "week", "period_start": "week_start", "period_end": "week_end"})


def forecast_totals(weeks: pd.DataFrame) -> dict[str, Decimal]:
    """A forecast's money columns (see `cash_forecast`) summed over its weeks, exactly."""
    return {column: sum(weeks[column], start=ZERO) for column in FORECAST_MONEY}


def at_risk_total(at_risk: pd.DataFrame) -> Decimal:
    """What `invoices_at_risk` lists, summed exactly."""
    return sum(at_risk["at_risk"], start=ZERO)


def invoices_at_risk(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    weeks: int = FORECAST_WEEKS,
    autopay_customer_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Invoices past due at `as_of` whose open amount the forecast does not expect within the
    `weeks` weeks, largest at-risk amount first: customer_id, customer, invoice_id, doc_number,
    txn_date, due_date, days_past_due, home_open_amount, at_risk_share (float), at_risk (money). Their
    sum is what `cash_forecast` leaves out as at risk."""
    frame = models.frame(con, "invoices_at_risk", _params([as_of], weeks, autopay_customer_ids))
    return frame[frame["at_risk"] > 0].drop(columns=["as_of", "source", "company_id"]).reset_index(drop=True)


BACKTEST_METHODS = {"ledgerlight": "expected", "due_date": "due_date_baseline", "average_dso": "average_dso_baseline"}
BACKTEST_METHOD_NAMES = {"ledgerlight": "ledgerlight", "due_date": "paid on due date", "average_dso": "average DSO"}


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
    cutoff, week, week_start, week_end, expected, low, high (the calibrated band, from the forecasts
    before each cut-off only), due_date_baseline, average_dso_baseline, actual, model_low, model_high
    (the model's own band), band ("calibrated" or "model": the rule low / high follow). The
    forecasts at the CALIBRATION_CUTOFFS weekly cut-offs before the first are computed too. All cut-offs are one set-based query, split into a few only for
    very large books (BACKTEST_PASS_SIZE). `progress(done, total)` hears about each pass."""
    targets = backtest_cutoffs(as_of, cutoffs, weeks)
    dates = _calibration_dates(targets)
    (in_view,), = models.rows(con, "invoices_in_view", {"dates": dates})
    per_pass = max(1, min(len(dates), BACKTEST_PASS_SIZE // max(in_view, 1)))
    frames = []
    for first in range(0, len(dates), per_pass):
        frames.append(_weekly(con, dates[first:first + per_pass], weeks, None))
        progress(min(first + per_pass, len(dates)), len(dates))
    forecasts = _with_actual(con, pd.concat(frames, ignore_index=True))
    # each cut-off's band from the forecasts before it, only their weeks that had ended by then
    forecasts = _calibrated(forecasts[forecasts["as_of"].isin(set(targets))].reset_index(drop=True), forecasts)
    return forecasts.rename(columns={"as_of": "cutoff", "period": "week", "period_start": "week_start",
                                     "period_end": "week_end"})[
        ["cutoff", "week", "week_start", "week_end", "expected", "low", "high",
         "due_date_baseline", "average_dso_baseline", "actual", "model_low", "model_high", "band"]
    ]


def backtest_summary(weekly: pd.DataFrame) -> dict:
    """MAE (money) and MAPE (a fraction; weeks with no cash left out) per method and horizon, and
    for the forecast the coverage of its 80 % band: the share of weeks whose cash fell within it
    (coverage_*, the calibrated band; model_coverage_*, the model's own)."""
    summary = {"cutoffs": int(weekly["cutoff"].nunique())}
    actual = weekly["actual"].astype(float)
    inside = (weekly["low"] <= weekly["actual"]) & (weekly["actual"] <= weekly["high"])
    inside_model = (weekly["model_low"] <= weekly["actual"]) & (weekly["actual"] <= weekly["model_high"])
    for method, column in BACKTEST_METHODS.items():
        error = (weekly[column].astype(float) - actual).abs()
        figures = {}
        for horizon, (first, last) in BACKTEST_HORIZONS.items():
            in_horizon = weekly["week"].between(first, last)
            with_cash = in_horizon & (actual > 0)
            figures[f"mae_{horizon}"] = float(error[in_horizon].mean())
            figures[f"mape_{horizon}"] = float((error[with_cash] / actual[with_cash]).mean())
        if method == "ledgerlight":
            for horizon, (first, last) in BACKTEST_HORIZONS.items():
                figures[f"coverage_{horizon}"] = float(inside[weekly["week"].between(first, last)].mean())
            for horizon, (first, last) in BACKTEST_HORIZONS.items():
                figures[f"model_coverage_{horizon}"] = float(inside_model[weekly["week"].between(first, last)].mean())
        summary[method] = figures
    return summary


def backtest_table(summary: dict) -> pd.DataFrame:
    """`backtest_summary` as a row per method, named for people; a baseline's band figures are blank."""
    return pd.DataFrame([{"method": BACKTEST_METHOD_NAMES[method], **figures}
                         for method, figures in summary.items() if method != "cutoffs"])


def backtest(con: duckdb.DuckDBPyConnection, as_of: date, cutoffs: int = BACKTEST_CUTOFFS,
             progress=lambda done, total: None) -> tuple[pd.DataFrame, dict]:
    """`backtest_weeks` and its `backtest_summary`."""
    weekly = backtest_weeks(con, as_of, cutoffs, progress=progress)
    return weekly, backtest_summary(weekly)


def autopay_what_if_clients(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Clients the cash forecast could move to autopay: not on autopay at `as_of`, with an open
    invoice or a recurring schedule then. Columns: customer_id, customer."""
    return models.frame(con, "autopay_what_if_clients", {"dates": [as_of]})
