"""Recurring revenue: invoice-based MRR per client, its movements, and the MRR forecast.

MRR (spec: "Recurring revenue") comes from recurring invoices: those a schedule made (QuickBooks
RecurringTransaction) and those recognisably recurring. Each billing stream's latest invoice,
divided by the months it covers (quarterly ÷ 3, annual ÷ 12), counts while that period lasts.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pandas as pd

import models
from core.errors import InputError
from metrics.aging import month_ends

DELINQUENT_AFTER_DAYS = 30
FORECAST_RATE_MONTHS = 6
CENT = Decimal("0.01")


def recurring_invoices(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Every invoice counted as recurring by `as_of` (models/as_of/recurring_invoices.sql): basis
    ('schedule' or 'recognised'), stream and months per invoice (1, 3, 12)."""
    recurring = models.frame(con, "recurring_invoices", {"dates": [as_of]})
    return recurring.sort_values(["customer_id", "txn_date", "invoice_id"], ignore_index=True)


def mrr_movements(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 12) -> pd.DataFrame:
    """Per month (ending at each month-end, the last at `as_of`): mrr_start, new, expansion,
    contraction, churn, reactivation, net_new, mrr_end, arr (money); clients_start,
    clients_churned; logo_churn, gross_mrr_churn, nrr, grr (fractions of the month's start).

    A client with MRR now and none a month ago is new, or reactivated if it had recurring
    invoices before; one with MRR a month ago and none now churned (spec "Recurring revenue")."""
    return _movements_as_known(con, [as_of], months)[as_of]


def recurring_revenue_summary(
    con: duckdb.DuckDBPyConnection, as_of: date, delinquent_after_days: int = DELINQUENT_AFTER_DAYS
) -> pd.DataFrame:
    """One row at `as_of`: mrr, arr, autopay_secured_mrr (clients on autopay), delinquent_mrr
    (clients with an invoice more than `delinquent_after_days` past due), and over the 12 months
    to `as_of` for the clients with MRR 12 months ago: nrr_12m (their MRR now / then) and
    grr_12m (the same with each client capped at its MRR then), logo_churn_12m (share of them
    with no MRR now)."""
    year_ago = month_ends(as_of, 13)[0]
    params = {"dates": [year_ago, as_of], "delinquent_after_days": delinquent_after_days}
    return models.frame(con, "recurring_revenue_summary", params)


def mrr_forecast(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 12, method: str = "auto") -> pd.DataFrame:
    """MRR at each of the next `months` month-ends. Columns: month_end, mrr (to the cent), method.

    Methods: *rule* — from today's MRR, each month adds the mean monthly new + reactivated MRR of
    the last FORECAST_RATE_MONTHS months and grows by their mean expansion rate less their mean
    contraction and churn rates (each a share of the month's starting MRR); *flat* — MRR stays;
    *trend* — the least-squares line through the last TREND_MONTHS months. *auto* uses the one
    with the lowest backtest MAPE on this book, averaged over the backtest horizons (the rule
    while there is too little history to backtest): a rule is only worth its complexity where it
    backtests better.

    Reads only invoices dated on or before `as_of`, recognised as recurring from those alone."""
    if method not in ("auto", *MRR_BACKTEST_METHODS):
        raise InputError(f"unknown MRR forecast method {method!r}: use auto, {', '.join(MRR_BACKTEST_METHODS)}")
    if method == "auto":
        return mrr_outlook(con, as_of, months)[0]
    return _forecast_by(con, as_of, months, method)


def mrr_outlook(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 12) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What the Forecast page shows of the MRR forecast, from one backtest: (forecast, rows,
    summary) = `mrr_forecast(method="auto")` and `mrr_forecast_backtest`'s rows and summary."""
    rows, accuracy, today = _backtest(con, as_of, MRR_BACKTEST_CUTOFFS, MRR_BACKTEST_HORIZONS)
    return _forecast_from(today, as_of, months, best_mrr_method(accuracy)), rows, accuracy


def best_mrr_method(accuracy: pd.DataFrame) -> str:
    """The method with the lowest mean backtest MAPE over the horizons; the rule without any."""
    mean_error = accuracy.groupby("method")["mape"].mean().dropna()
    return str(mean_error.idxmin()) if len(mean_error) else "rule"


def _forecast_by(con: duckdb.DuckDBPyConnection, as_of: date, months: int, method: str) -> pd.DataFrame:
    return _forecast_from(mrr_movements(con, as_of, max(FORECAST_RATE_MONTHS, TREND_MONTHS)), as_of, months, method)


def _forecast_from(movements: pd.DataFrame, as_of: date, months: int, method: str) -> pd.DataFrame:
    """The forecast by `method` from the movements of the months up to `as_of` as known then."""
    if method == "rule":
        forecast = _rule_forecast(movements, as_of, months)
    else:
        current = movements["mrr_end"].iloc[-1]
        forecast = pd.DataFrame({
            "month_end": month_ends(_months_after(as_of, months), months),
            "mrr": [current if method == "flat" else _trend_forecast(movements, h) for h in range(1, months + 1)],
        })
    return forecast.assign(method=method)


def _rule_forecast(movements: pd.DataFrame, as_of: date, months: int) -> pd.DataFrame:
    """`mrr_forecast`'s rule applied to the movements of the months up to `as_of`."""
    recent = movements.tail(FORECAST_RATE_MONTHS)
    start = recent["mrr_start"].astype(float).where(lambda values: values > 0)
    rate = ((recent["expansion"] - recent["contraction"] - recent["churn"]).astype(float) / start).mean()
    growth = Decimal(1) + Decimal(str(round(0.0 if pd.isna(rate) else rate, 6)))
    added = (sum(recent["new"] + recent["reactivation"], start=Decimal(0)) / len(recent)).quantize(CENT)
    mrr, rows = recent["mrr_end"].iloc[-1], []
    for month_end in month_ends(_months_after(as_of, months), months):
        mrr = (mrr * growth + added).quantize(CENT)
        rows.append({"month_end": month_end, "mrr": mrr})
    return pd.DataFrame(rows)


# --- MRR forecast backtest ------------------------------------------------------------------------

MRR_BACKTEST_CUTOFFS = 12
MRR_BACKTEST_HORIZONS = (1, 3, 6)
TREND_MONTHS = 6
MRR_BACKTEST_METHODS = ("rule", "flat", "trend")


def mrr_backtest_cutoffs(as_of: date, cutoffs: int = MRR_BACKTEST_CUTOFFS, horizon: int = 1) -> list[date]:
    """The last `cutoffs` month-ends t whose month-end `horizon` months later is on or before
    `as_of`, oldest first."""
    last = _months_after(as_of, -horizon)
    if _months_after(last, horizon) > as_of:
        last = _months_after(last, -1)
    return [_months_after(last, -back) for back in range(cutoffs - 1, -1, -1)]


def _trend_forecast(movements: pd.DataFrame, horizon: int) -> Decimal:
    """The least-squares line through MRR at the TREND_MONTHS + 1 month-ends ending at the
    cut-off (TREND_MONTHS months of change), extended `horizon` months past it."""
    recent = movements.tail(TREND_MONTHS)
    values = [float(recent["mrr_start"].iloc[0]), *recent["mrr_end"].astype(float)]
    mean_x, mean_y = (len(values) - 1) / 2, sum(values) / len(values)
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
             / sum((x - mean_x) ** 2 for x in range(len(values))))
    return Decimal(str(round(mean_y + slope * (len(values) - 1 + horizon - mean_x), 2)))


def mrr_forecast_backtest(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    cutoffs: int = MRR_BACKTEST_CUTOFFS,
    horizons: tuple[int, ...] = MRR_BACKTEST_HORIZONS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`mrr_forecast` replayed at past month-ends against the invoice-based MRR that followed.

    For each horizon h, the cut-offs are the last `cutoffs` month-ends t whose month-end h months
    later has passed by `as_of`. At t everything is computed as of t (invoices dated after t are
    not read, recurring invoices are recognised from those dated by t) and compared with the MRR
    at t + h as reported then (computed as of t + h). Baselines: *flat* (MRR stays at its value
    at t) and *trend* (the least-squares line through MRR at t and the TREND_MONTHS month-ends
    before it, extended to t + h).

    Returns (rows, summary). rows: cutoff, horizon, month_end, actual, rule, flat, trend (money,
    Decimal to the cent). summary: method, horizon, cutoffs, mae (float money, rounded to the
    cent), mape (float fraction of the actual MRR; month-ends without MRR left out)."""
    rows, summary, _ = _backtest(con, as_of, cutoffs, horizons)
    return rows, summary


def _backtest(con: duckdb.DuckDBPyConnection, as_of: date, cutoffs: int,
              horizons: tuple[int, ...]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """`mrr_forecast_backtest`'s rows and summary, and the movements up to `as_of` a forecast
    starts from, all from one query."""
    plan = [(t, h) for h in horizons for t in mrr_backtest_cutoffs(as_of, cutoffs, h)]
    dates = sorted({t for t, _ in plan} | {_months_after(t, h) for t, h in plan} | {as_of})
    known = _movements_as_known(con, dates, max(FORECAST_RATE_MONTHS, TREND_MONTHS))
    rows = []
    for t, h in plan:
        movements, target = known[t], _months_after(t, h)
        rule = _rule_forecast(movements, t, h)["mrr"].iloc[-1]
        rows.append({"cutoff": t, "horizon": h, "month_end": target, "actual": known[target]["mrr_end"].iloc[-1],
                     "rule": rule, "flat": movements["mrr_end"].iloc[-1], "trend": _trend_forecast(movements, h)})
    frame = pd.DataFrame(rows, columns=["cutoff", "horizon", "month_end", "actual", *MRR_BACKTEST_METHODS])
    return frame, mrr_backtest_summary(frame), known[as_of]


def _movements_as_known(con: duckdb.DuckDBPyConnection, days: list[date], months: int) -> dict[date, pd.DataFrame]:
    """`mrr_movements(con, day, months)` for each of `days`, each as that day knew it (recognition
    from the invoices dated by it), in one set-based query."""
    if not days:
        return {}
    pairs = [(day, month_end) for day in days for month_end in month_ends(day, months + 1)]
    vintages, ends = zip(*pairs)
    frame = models.frame(con, "mrr_vintage_movements", {"dates": list(days), "vintages": list(vintages),
                                                         "month_ends": list(ends)})
    return {day: group.drop(columns="vintage").reset_index(drop=True) for day, group in frame.groupby("vintage")}


def mrr_backtest_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """MAE (float money, to the cent) and MAPE (float fraction) per method and horizon."""
    summary = []
    for method in MRR_BACKTEST_METHODS:
        for horizon, group in rows.groupby("horizon", sort=True):
            actual = group["actual"].astype(float)
            error = (group[method].astype(float) - actual).abs()
            with_mrr = actual > 0
            summary.append({"method": method, "horizon": int(horizon), "cutoffs": len(group),
                            "mae": round(float(error.mean()), 2) if len(group) else float("nan"),
                            "mape": float((error[with_mrr] / actual[with_mrr]).mean())})
    return pd.DataFrame(summary, columns=["method", "horizon", "cutoffs", "mae", "mape"])


def _months_after(day: date, months: int) -> date:
    """The last day of the month `months` after `day`'s month."""
    years, month = divmod(day.month + months, 12)
    return date(day.year + years, month + 1, 1) - timedelta(days=1)
