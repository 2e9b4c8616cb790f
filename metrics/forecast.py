"""Cash-in forecast: when the open invoices and the recurring invoices not yet issued will be paid.

Spec "Cash-in forecast". Every invoice open at the cut-off t, and every invoice not yet issued
in the horizon (each recurring schedule's occurrences as known at t, plus billing no schedule
covers at each client's run rate of the last RUN_RATE_DAYS days), gets expected payments:

- a client on autopay at t (or named in the what-if) is charged on the due date, except the share
  of autopay money whose charge failed in the 12 months before t, expected that failed money's
  amount-weighted mean days late after the due date (the retry);
- any other client pays like its own invoices paid in full in the 12 months before t (not on
  autopay): its amount-weighted distribution of days late, mixed with the portfolio's with
  weights n / (n + K) and K / (n + K), K = SHRINKAGE_INVOICES, so a client with few invoices, or
  none (a new client), leans on the portfolio. An open invoice can only be paid after t, so only
  the outcomes after t count; one later than anything on record is expected on t + 1 (the spec's
  `as_of + max(0, usual lateness - days overdue)`: never in the past, cash on t being known).

The band: the same forecast with every client at the 20th and at the 80th percentile of its days
late (shrunk the same way); low and high per period are the least and greatest of the three.

Everything is read through as-of models at t (OPEN_INVOICES, SETTLED_INVOICES_ON_DATES,
SCHEDULES_ON_DATES, AUTOPAY_ON_DAYS), so one query forecasts any number of cut-offs and the
backtest cannot see anything dated after its cut-off.

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

from etl.db import query_frame
from etl.models import (
    AUTOPAY_ON_DAYS,
    CUSTOMER_ROOTS,
    OPEN_INVOICES,
    SCHEDULES_ON_DATES,
    SETTLED_INVOICES_ON_DATES,
)

SHRINKAGE_INVOICES = 3
BAND_QUANTILES = (0.2, 0.8)
# An autopay charge settled more than this many days after the due date failed first.
AUTOPAY_FAILED_AFTER_DAYS = 2
HISTORY_MONTHS = 12
BACKTEST_CUTOFFS = 26
# Cut-offs replayed per query: one set-based query each, few enough to report progress.
BACKTEST_BATCH = 7
FORECAST_WEEKS = 13
FORECAST_MONTHS = 12
DSO_WINDOW_DAYS = 365
RUN_RATE_DAYS = 91
ZERO = Decimal("0.00")

_HISTORY = f"""
SELECT s.as_of, s.source, s.company_id, r.root_id AS account_id, s.customer_id, s.txn_date,
       s.home_total, s.days_late
FROM ({SETTLED_INVOICES_ON_DATES}) s
JOIN roots r USING (source, company_id, customer_id)
WHERE NOT s.written_off AND s.settled_on > s.as_of - INTERVAL {HISTORY_MONTHS} MONTH
"""

# Each customer's latest due-date gap by t: terms for a schedule that has not billed yet.
_CUSTOMER_TERMS = """
SELECT d.as_of, i.source, i.company_id, i.customer_id,
       arg_max(datediff('day', i.txn_date, coalesce(i.due_date, i.txn_date)), i.txn_date) AS terms_days
FROM invoices i
JOIN (SELECT unnest($dates::DATE[]) AS as_of) d ON i.txn_date <= d.as_of
WHERE i.status = 'posted'
GROUP BY ALL
"""

def _shrunk(column: str) -> str:
    """A client's figure pulled toward the portfolio's: (n x client + K x portfolio) / (n + K)."""
    return (f"(coalesce(h.invoices, 0) * coalesce(h.{column}, 0) + {SHRINKAGE_INVOICES} * coalesce(p.{column}, 0))"
            f" / (coalesce(h.invoices, 0) + {SHRINKAGE_INVOICES})")


def _same_book(alias: str, other: str = "i") -> str:
    return f"{alias}.as_of = {other}.as_of AND {alias}.source = {other}.source AND {alias}.company_id = {other}.company_id"


def _not_before_tomorrow(day: str) -> str:
    return f"greatest({day}, as_of + 1)"


# One row per (invoice, measure, date) with the amount expected that day. Measures: 'expected'
# (the forecast), 'early' and 'late' (the band's scenarios), 'due_date' and 'average_dso' (the
# baselines). Columns: as_of, customer_id, origin ('open' or 'not_yet_issued'), measure, on_date,
# amount (exact DECIMAL for whole invoices, probability-weighted to 1e-6 for spread ones).
PAYMENT_PIECES = f"""
WITH cutoffs AS (
    SELECT unnest($dates::DATE[]) AS as_of
),
roots AS ({CUSTOMER_ROOTS}),
history AS ({_HISTORY}),
open_items AS (
    SELECT as_of, source, company_id, customer_id, 'open' AS origin, txn_date, due_date,
           home_open_amount AS amount
    FROM ({OPEN_INVOICES})
    WHERE home_open_amount > 0
),
future_items AS (
    SELECT s.as_of, s.source, s.company_id, s.customer_id, 'not_yet_issued' AS origin,
           o.occurrence AS txn_date,
           o.occurrence + CAST(coalesce(s.terms_days, t.terms_days, 0) AS INTEGER) AS due_date,
           CAST(round(s.amount * s.exchange_rate, 2) AS DECIMAL(18,2)) AS amount
    FROM ({SCHEDULES_ON_DATES}) s
    LEFT JOIN ({_CUSTOMER_TERMS}) t USING (as_of, source, company_id, customer_id)
    CROSS JOIN LATERAL (
        SELECT CAST(unnest(generate_series(s.next_date::TIMESTAMP,
                                           (s.as_of + $horizon_days::INTEGER)::TIMESTAMP, s.step)) AS DATE) AS occurrence
    ) o
    WHERE o.occurrence > s.as_of AND (s.end_date IS NULL OR o.occurrence <= s.end_date) AND s.amount > 0
),
unscheduled_billing AS (
    SELECT c.as_of, i.source, i.company_id, i.customer_id, sum(i.home_total) AS billed
    FROM cutoffs c
    JOIN invoices i ON i.txn_date <= c.as_of AND i.txn_date > c.as_of - {RUN_RATE_DAYS}
    WHERE i.status = 'posted' AND i.recurring_template_id IS NULL AND i.total > 0
    GROUP BY ALL
),
run_rate_items AS (
    -- billing no schedule covers (projects, hardware; a book without schedules) at each client's
    -- recent run rate: one expected invoice per client and week, dated mid-week
    SELECT b.as_of, b.source, b.company_id, b.customer_id, 'not_yet_issued' AS origin,
           b.as_of + 7 * w.k - 3 AS txn_date,
           b.as_of + 7 * w.k - 3 + CAST(coalesce(t.terms_days, 0) AS INTEGER) AS due_date,
           CAST(b.billed * 7 / {RUN_RATE_DAYS} AS DECIMAL(24,6)) AS amount
    FROM unscheduled_billing b
    LEFT JOIN ({_CUSTOMER_TERMS}) t USING (as_of, source, company_id, customer_id)
    CROSS JOIN (SELECT CAST(range AS INTEGER) AS k FROM range(1, $horizon_days::INTEGER // 7 + 1)) w
),
items AS (
    SELECT row_number() OVER () AS item_id, *
    FROM (SELECT * FROM open_items UNION ALL SELECT * FROM future_items UNION ALL SELECT * FROM run_rate_items)
),
customer_days AS (
    SELECT DISTINCT source, company_id, customer_id, txn_date AS day FROM history
    UNION
    SELECT DISTINCT source, company_id, customer_id, as_of FROM items
),
autopay_days AS ({AUTOPAY_ON_DAYS}),
classified_history AS (
    SELECT h.*, a.on_autopay
    FROM history h
    JOIN autopay_days a
      ON a.source = h.source AND a.company_id = h.company_id AND a.customer_id = h.customer_id AND a.day = h.txn_date
),
manual_history AS (
    SELECT * FROM classified_history WHERE NOT on_autopay
),
client_habits AS (
    SELECT as_of, source, company_id, account_id, count(*) AS invoices, sum(home_total) AS weight,
           quantile_cont(days_late, {BAND_QUANTILES[0]}) AS early_days_late,
           quantile_cont(days_late, {BAND_QUANTILES[1]}) AS late_days_late
    FROM manual_history
    GROUP BY ALL
),
portfolio_habits AS (
    SELECT as_of, source, company_id, sum(home_total) AS weight,
           quantile_cont(days_late, {BAND_QUANTILES[0]}) AS early_days_late,
           quantile_cont(days_late, {BAND_QUANTILES[1]}) AS late_days_late
    FROM manual_history
    GROUP BY ALL
),
client_days_late AS (
    SELECT as_of, source, company_id, account_id, days_late, sum(home_total) AS weight
    FROM manual_history
    GROUP BY ALL
),
portfolio_days_late AS (
    SELECT as_of, source, company_id, days_late, sum(home_total) AS weight
    FROM manual_history
    GROUP BY ALL
),
autopay_habits AS (
    SELECT as_of, source, company_id,
           coalesce(sum(home_total) FILTER (WHERE days_late > {AUTOPAY_FAILED_AFTER_DAYS}) / sum(home_total), 0)
               AS failure_share,
           coalesce(sum(home_total * days_late) FILTER (WHERE days_late > {AUTOPAY_FAILED_AFTER_DAYS})
                    / sum(home_total) FILTER (WHERE days_late > {AUTOPAY_FAILED_AFTER_DAYS}), 0) AS retry_days
    FROM classified_history
    WHERE on_autopay
    GROUP BY ALL
),
credit_sales AS (
    SELECT c.as_of, i.source, i.company_id, sum(i.home_total) AS sales
    FROM cutoffs c
    JOIN invoices i ON i.txn_date <= c.as_of AND i.txn_date > c.as_of - {DSO_WINDOW_DAYS}
    WHERE i.status = 'posted'
    GROUP BY ALL
),
book_dso AS (
    -- spec DSO (simple) over the window: A/R at t / credit sales x days
    SELECT s.as_of, s.source, s.company_id, coalesce(sum(o.amount), 0) / s.sales * {DSO_WINDOW_DAYS} AS dso
    FROM credit_sales s
    LEFT JOIN open_items o USING (as_of, source, company_id)
    GROUP BY s.as_of, s.source, s.company_id, s.sales
),
rated AS (
    SELECT i.*, r.root_id AS account_id,
           coalesce(a.on_autopay, false) OR list_contains($what_if::VARCHAR[], i.customer_id) AS on_autopay,
           coalesce(h.invoices, 0) / (coalesce(h.invoices, 0) + {SHRINKAGE_INVOICES}) AS client_share,
           h.weight AS client_weight, p.weight AS portfolio_weight,
           {_shrunk("early_days_late")} AS early_days_late,
           {_shrunk("late_days_late")} AS late_days_late,
           coalesce(ah.failure_share, 0) AS failure_share, coalesce(ah.retry_days, 0) AS retry_days,
           i.txn_date + CAST(round(coalesce(b.dso, 0)) AS INTEGER) AS dso_on
    FROM items i
    JOIN roots r USING (source, company_id, customer_id)
    LEFT JOIN client_habits h ON {_same_book("h")} AND h.account_id = r.root_id
    LEFT JOIN portfolio_habits p ON {_same_book("p")}
    LEFT JOIN autopay_habits ah ON {_same_book("ah")}
    LEFT JOIN book_dso b ON {_same_book("b")}
    LEFT JOIN autopay_days a
      ON a.source = i.source AND a.company_id = i.company_id AND a.customer_id = i.customer_id AND a.day = i.as_of
),
-- A manual client's invoice is paid the way its past invoices were, relative to their due dates:
-- the client's amount-weighted days-late distribution with weight n / (n + K), the portfolio's
-- with K / (n + K). Only outcomes after t remain possible for an invoice still open at t.
outcomes AS (
    SELECT m.item_id, c.days_late, m.client_share * c.weight / m.client_weight AS probability
    FROM rated m
    JOIN client_days_late c ON {_same_book("c", "m")} AND c.account_id = m.account_id
    WHERE NOT m.on_autopay
    UNION ALL
    SELECT m.item_id, c.days_late, (1 - m.client_share) * c.weight / m.portfolio_weight
    FROM rated m
    JOIN portfolio_days_late c ON {_same_book("c", "m")}
    WHERE NOT m.on_autopay
),
possible AS (
    SELECT m.item_id, greatest(m.due_date + CAST(o.days_late AS INTEGER), m.txn_date) AS on_date, o.probability
    FROM outcomes o
    JOIN rated m USING (item_id)
    WHERE greatest(m.due_date + CAST(o.days_late AS INTEGER), m.txn_date) > m.as_of
),
spread AS (
    SELECT item_id, on_date,
           CAST(probability / sum(probability) OVER (PARTITION BY item_id) AS DECIMAL(18,9)) AS share
    FROM possible
),
manual_expected AS (
    SELECT m.item_id, s.on_date, CAST(m.amount * s.share AS DECIMAL(24,6)) AS amount
    FROM rated m
    JOIN spread s USING (item_id)
    UNION ALL
    -- later than any outcome on record: the spec's `as_of + max(0, usual lateness - days overdue)`
    SELECT item_id, as_of + 1, amount
    FROM rated
    WHERE NOT on_autopay AND item_id NOT IN (SELECT item_id FROM spread)
),
autopay_expected AS (
    -- already past due at t: the charge failed, so it waits for the retry
    SELECT item_id, {_not_before_tomorrow("due_date + CAST(round(retry_days) AS INTEGER)")} AS on_date, amount
    FROM rated WHERE on_autopay AND due_date <= as_of
    UNION ALL
    SELECT item_id, due_date, amount - CAST(round(amount * failure_share, 2) AS DECIMAL(18,2))
    FROM rated WHERE on_autopay AND due_date > as_of
    UNION ALL
    SELECT item_id, due_date + CAST(round(retry_days) AS INTEGER), CAST(round(amount * failure_share, 2) AS DECIMAL(18,2))
    FROM rated WHERE on_autopay AND due_date > as_of AND failure_share > 0
),
measured AS (
    SELECT item_id, 'expected' AS measure, on_date, amount FROM manual_expected
    UNION ALL
    SELECT item_id, 'expected', on_date, amount FROM autopay_expected
    UNION ALL
    SELECT item_id, 'early', on_date, amount FROM autopay_expected
    UNION ALL
    SELECT item_id, 'late', on_date, amount FROM autopay_expected
    UNION ALL
    SELECT item_id, 'early', {_not_before_tomorrow("due_date + CAST(round(early_days_late) AS INTEGER)")}, amount
    FROM rated WHERE NOT on_autopay
    UNION ALL
    SELECT item_id, 'late', {_not_before_tomorrow("due_date + CAST(round(late_days_late) AS INTEGER)")}, amount
    FROM rated WHERE NOT on_autopay
    UNION ALL
    SELECT item_id, 'due_date', due_date, amount FROM rated
    UNION ALL
    SELECT item_id, 'average_dso', dso_on, amount FROM rated
)
SELECT r.as_of, r.source, r.company_id, r.customer_id, r.origin, m.measure, m.on_date, m.amount
FROM measured m
JOIN rated r USING (item_id)
"""

# Cash actually collected per day (see the module docstring).
_COLLECTED = """
SELECT a.applied_on AS day, sum(CAST(round(a.amount * i.exchange_rate, 2) AS DECIMAL(18,2))) AS collected
FROM applications a
JOIN invoices i USING (source, company_id, invoice_id)
WHERE a.payment_id IS NOT NULL AND a.credit_memo_id IS NULL AND i.status = 'posted'
GROUP BY ALL
"""


def _periods(unit: str) -> str:
    """Periods after each cut-off: `period` 1..$periods, each (start, end] by day."""
    if unit == "week":
        bounds = "c.as_of + 7 * (k - 1) + 1 AS period_start, c.as_of + 7 * k AS period_end"
    else:
        bounds = ("CAST(date_trunc('month', c.as_of) + to_months(k - 1) AS DATE) AS period_start, "
                  "CAST(date_trunc('month', c.as_of) + to_months(k) AS DATE) - 1 AS period_end")
    return f"""
        SELECT c.as_of, k AS period, {bounds}
        FROM (SELECT unnest($dates::DATE[]) AS as_of) c,
             (SELECT CAST(range AS INTEGER) AS k FROM range(1, $periods + 1))
    """


def _cash_by_period(unit: str) -> str:
    def total(measure: str, where: str = "true") -> str:
        return (f"CAST(round(coalesce(sum(p.amount) FILTER (WHERE p.measure = '{measure}' AND {where}), 0), 2) "
                "AS DECIMAL(18,2))")

    return f"""
        WITH pieces AS ({PAYMENT_PIECES}),
        periods AS ({_periods(unit)}),
        sums AS (
            SELECT w.as_of, w.period, w.period_start, w.period_end,
                   {total("expected")} AS expected,
                   {total("early")} AS if_early,
                   {total("late")} AS if_late,
                   {total("expected", "p.origin = 'open'")} AS from_open,
                   {total("expected", "p.origin = 'not_yet_issued'")} AS from_not_yet_issued,
                   {total("due_date")} AS due_date_baseline,
                   {total("average_dso")} AS average_dso_baseline
            FROM periods w
            LEFT JOIN pieces p ON p.as_of = w.as_of AND p.on_date BETWEEN w.period_start AND w.period_end
            GROUP BY ALL
        )
        SELECT as_of, period, period_start, period_end, expected,
               least(expected, if_early, if_late) AS low, greatest(expected, if_early, if_late) AS high,
               from_open, from_not_yet_issued, due_date_baseline, average_dso_baseline
        FROM sums
    """


def _run(con: duckdb.DuckDBPyConnection, unit: str, cutoffs: list[date], periods: int,
         autopay_customer_ids: Iterable[str] | None) -> pd.DataFrame:
    horizon_days = 7 * periods if unit == "week" else 31 * (periods + 1)
    params = {"dates": cutoffs, "periods": periods, "horizon_days": horizon_days,
              "what_if": sorted(autopay_customer_ids or [])}
    return query_frame(con, f"{_cash_by_period(unit)} ORDER BY as_of, period", params)


_FORECAST_COLUMNS = ["period_start", "period_end", "expected", "low", "high", "from_open", "from_not_yet_issued"]


def cash_forecast(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    weeks: int = FORECAST_WEEKS,
    autopay_customer_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Expected cash in each of the `weeks` weeks after `as_of` (week 1 = the 7 days after it):
    week, week_start, week_end, expected, low, high, from_open, from_not_yet_issued (money).
    `autopay_customer_ids`: clients to treat as on autopay from `as_of` (a what-if)."""
    frame = _run(con, "week", [as_of], weeks, autopay_customer_ids)
    return frame[["period", *_FORECAST_COLUMNS]].rename(
        columns={"period": "week", "period_start": "week_start", "period_end": "week_end"})


def cash_forecast_by_month(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    months: int = FORECAST_MONTHS,
    autopay_customer_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The same forecast by calendar month, from `as_of`'s month (its rest) for `months` months."""
    frame = _run(con, "month", [as_of], months, autopay_customer_ids)
    return frame[["period_start", *_FORECAST_COLUMNS[1:]]].rename(
        columns={"period_start": "month", "period_end": "month_end"})


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
        frames.append(_run(con, "week", batch, weeks, None))
        progress(first + len(batch), len(dates))
    forecasts = pd.concat(frames, ignore_index=True)
    collected = query_frame(con, _COLLECTED)
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
    sql = f"""
        WITH billed AS (
            SELECT source, company_id, customer_id FROM ({OPEN_INVOICES})
            UNION
            SELECT source, company_id, customer_id FROM ({SCHEDULES_ON_DATES})
        ),
        customer_days AS (
            SELECT source, company_id, customer_id, $as_of::DATE AS day FROM billed
        )
        SELECT a.customer_id, c.name AS customer
        FROM ({AUTOPAY_ON_DAYS}) a
        JOIN customers c USING (source, company_id, customer_id)
        WHERE NOT a.on_autopay
        ORDER BY c.name
    """
    return query_frame(con, sql, {"as_of": as_of, "dates": [as_of]})
