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

from etl.db import query_frame
from etl.models import AUTOPAY_STATUS, CUSTOMER_ROOTS, OPEN_INVOICES
from metrics.aging import month_ends

# --- invoice-based MRR (spec: "Label it invoice-based MRR") -------------------------------------

# Recognition of recurring invoices no schedule generated: same client, amount within
# RECOGNITION_TOLERANCE of the neighbour's, dated one cadence (1, 3 or 12 months) apart within
# RECOGNITION_SLACK_DAYS; an invoice is recurring when it belongs to a run of at least three.
RECOGNITION_TOLERANCE = 0.10
RECOGNITION_SLACK_DAYS = 5
CADENCE_MONTHS = (1, 3, 12)
# A stream still counts this many days after its last invoice's period ends: a run posted a few
# days late is not a churn and a reactivation.
COVERAGE_GRACE_DAYS = 10
DELINQUENT_AFTER_DAYS = 30
FORECAST_RATE_MONTHS = 6
CENT = Decimal("0.01")

_LINKS = f"""
WITH candidates AS (
    SELECT source, company_id, customer_id, invoice_id, txn_date, home_total
    FROM invoices
    WHERE status = 'posted' AND recurring_template_id IS NULL AND total > 0 AND txn_date <= $as_of
),
links AS (
    SELECT a.source, a.company_id, a.invoice_id AS earlier_id, b.invoice_id AS later_id, c.months
    FROM candidates a
    JOIN candidates b
      ON a.source = b.source AND a.company_id = b.company_id AND a.customer_id = b.customer_id
    CROSS JOIN (SELECT unnest({list(CADENCE_MONTHS)}) AS months) c
    WHERE abs(datediff('day', CAST(a.txn_date + to_months(c.months) AS DATE), b.txn_date)) <= {RECOGNITION_SLACK_DAYS}
      AND abs(b.home_total - a.home_total) <= {RECOGNITION_TOLERANCE} * a.home_total
),
middles AS (
    SELECT DISTINCT l.source, l.company_id, l.later_id AS invoice_id, l.months
    FROM links l
    JOIN links n ON n.source = l.source AND n.company_id = l.company_id
                AND n.earlier_id = l.later_id AND n.months = l.months
)
SELECT source, company_id, invoice_id, months FROM middles
UNION
SELECT l.source, l.company_id, CASE WHEN l.earlier_id = m.invoice_id THEN l.later_id ELSE l.earlier_id END, l.months
FROM links l
JOIN middles m ON m.source = l.source AND m.company_id = l.company_id AND m.months = l.months
              AND m.invoice_id IN (l.earlier_id, l.later_id)
"""

# Every recurring invoice by $as_of: from a schedule (its cadence) or recognised (the shortest
# cadence it recurs at); `stream` identifies the billing it belongs to.
RECURRING_INVOICES = f"""
WITH recognised AS (
    SELECT source, company_id, invoice_id, min(months) AS months FROM ({_LINKS}) GROUP BY ALL
)
SELECT i.source, i.company_id, i.customer_id, i.invoice_id, i.txn_date, i.home_total,
       'schedule' AS basis, i.recurring_template_id AS stream,
       coalesce(CASE s.interval_unit WHEN 'month' THEN s.interval_count WHEN 'year' THEN 12 * s.interval_count END,
                1) AS months
FROM invoices i
LEFT JOIN recurring_schedules s
  ON s.source = i.source AND s.company_id = i.company_id AND s.schedule_id = i.recurring_template_id
WHERE i.status = 'posted' AND i.recurring_template_id IS NOT NULL AND i.total > 0 AND i.txn_date <= $as_of
UNION ALL
SELECT i.source, i.company_id, i.customer_id, i.invoice_id, i.txn_date, i.home_total,
       'recognised', 'recognised every ' || r.months || ' months', r.months
FROM invoices i
JOIN recognised r USING (source, company_id, invoice_id)
"""

# Invoice-based MRR per client (top-level parent) at each date in $dates (all <= $as_of): each
# stream's latest invoice by the date, while its period (plus grace) covers the date,
# normalised to a month. Normalising divides, so it is rounded to the cent.
INVOICE_MRR_AT_DATES = f"""
WITH as_of_dates AS (
    SELECT unnest($dates::DATE[]) AS as_of
),
latest AS (
    SELECT d.as_of, r.source, r.company_id, r.customer_id, r.stream,
           arg_max(r.home_total, r.txn_date) AS home_total, arg_max(r.months, r.txn_date) AS months,
           max(r.txn_date) AS billed_on
    FROM ({RECURRING_INVOICES}) r
    JOIN as_of_dates d ON r.txn_date <= d.as_of
    GROUP BY ALL
)
SELECT l.as_of, l.source, l.company_id, c.root_id AS customer_id,
       sum(CAST(round(l.home_total / l.months, 2) AS DECIMAL(18,2))) AS mrr
FROM latest l
JOIN ({CUSTOMER_ROOTS}) c USING (source, company_id, customer_id)
WHERE l.as_of < l.billed_on + to_months(l.months) + INTERVAL {COVERAGE_GRACE_DAYS} DAY
GROUP BY ALL
"""


def recurring_invoices(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Every invoice counted as recurring by `as_of`: basis ('schedule' or 'recognised'), stream
    and months per invoice (1, 3, 12)."""
    return query_frame(con, f"{RECURRING_INVOICES} ORDER BY customer_id, txn_date, invoice_id", {"as_of": as_of})


def invoice_mrr_by_client(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 13) -> pd.DataFrame:
    """Invoice-based MRR per client at `as_of` and the ends of the months before it: as_of (the
    date), customer_id, customer, mrr. Clients without MRR at a date have no row for it."""
    sql = f"""
        SELECT m.as_of, m.source, m.company_id, m.customer_id, c.name AS customer, m.mrr
        FROM ({INVOICE_MRR_AT_DATES}) m
        JOIN customers c USING (source, company_id, customer_id)
        ORDER BY m.as_of, m.mrr DESC, c.name
    """
    return query_frame(con, sql, {"as_of": as_of, "dates": month_ends(as_of, months)})


def mrr_movements(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 12) -> pd.DataFrame:
    """Per month (ending at each month-end, the last at `as_of`): mrr_start, new, expansion,
    contraction, churn, reactivation, net_new, mrr_end, arr (money); clients_start,
    clients_churned; logo_churn, gross_mrr_churn, nrr, grr (fractions of the month's start).

    A client with MRR now and none a month ago is new, or reactivated if it had recurring
    invoices before; one with MRR a month ago and none now churned (spec "Recurring revenue")."""
    dates = month_ends(as_of, months + 1)
    sql = f"""
        WITH mrr AS ({INVOICE_MRR_AT_DATES}),
        periods AS (
            SELECT unnest($dates[1:-2]) AS start_date, unnest($dates[2:]) AS end_date
        ),
        first_billed AS (
            SELECT r.source, r.company_id, c.root_id AS customer_id, min(r.txn_date) AS first_billed
            FROM ({RECURRING_INVOICES}) r
            JOIN ({CUSTOMER_ROOTS}) c USING (source, company_id, customer_id)
            GROUP BY ALL
        ),
        clients AS (
            SELECT DISTINCT p.start_date, p.end_date, m.source, m.company_id, m.customer_id
            FROM periods p
            JOIN mrr m ON m.as_of IN (p.start_date, p.end_date)
        ),
        changes AS (
            SELECT k.start_date, k.end_date, coalesce(s.mrr, 0) AS before, coalesce(e.mrr, 0) AS after,
                   f.first_billed <= k.start_date AS billed_before
            FROM clients k
            LEFT JOIN mrr s ON s.as_of = k.start_date AND s.source = k.source AND s.company_id = k.company_id
                           AND s.customer_id = k.customer_id
            LEFT JOIN mrr e ON e.as_of = k.end_date AND e.source = k.source AND e.company_id = k.company_id
                           AND e.customer_id = k.customer_id
            JOIN first_billed f ON f.source = k.source AND f.company_id = k.company_id AND f.customer_id = k.customer_id
        ),
        sums AS (
            SELECT p.start_date, p.end_date,
                   coalesce(sum(before), 0) AS mrr_start,
                   coalesce(sum(after) FILTER (WHERE before = 0 AND NOT billed_before), 0) AS new,
                   coalesce(sum(after - before) FILTER (WHERE before > 0 AND after > before), 0) AS expansion,
                   coalesce(sum(before - after) FILTER (WHERE after > 0 AND after < before), 0) AS contraction,
                   coalesce(sum(before) FILTER (WHERE before > 0 AND after = 0), 0) AS churn,
                   coalesce(sum(after) FILTER (WHERE before = 0 AND billed_before), 0) AS reactivation,
                   coalesce(sum(after), 0) AS mrr_end,
                   count(*) FILTER (WHERE before > 0) AS clients_start,
                   count(*) FILTER (WHERE before > 0 AND after = 0) AS clients_churned
            FROM periods p
            LEFT JOIN changes c USING (start_date, end_date)
            GROUP BY ALL
        )
        SELECT end_date AS month_end, mrr_start, new, expansion, contraction, churn, reactivation,
               new + expansion + reactivation - contraction - churn AS net_new, mrr_end, 12 * mrr_end AS arr,
               clients_start, clients_churned,
               clients_churned / nullif(clients_start, 0) AS logo_churn,
               (churn + contraction) / nullif(mrr_start, 0) AS gross_mrr_churn,
               (mrr_start + expansion - contraction - churn) / nullif(mrr_start, 0) AS nrr,
               (mrr_start - contraction - churn) / nullif(mrr_start, 0) AS grr
        FROM sums
        ORDER BY month_end
    """
    return query_frame(con, sql, {"as_of": as_of, "dates": dates})


def recurring_revenue_summary(
    con: duckdb.DuckDBPyConnection, as_of: date, delinquent_after_days: int = DELINQUENT_AFTER_DAYS
) -> pd.DataFrame:
    """One row at `as_of`: mrr, arr, autopay_secured_mrr (clients on autopay), delinquent_mrr
    (clients with an invoice more than `delinquent_after_days` past due), and over the 12 months
    to `as_of` for the clients with MRR 12 months ago: nrr_12m (their MRR now / then) and
    grr_12m (the same with each client capped at its MRR then), logo_churn_12m (share of them
    with no MRR now)."""
    year_ago = month_ends(as_of, 13)[0]
    sql = f"""
        WITH mrr AS ({INVOICE_MRR_AT_DATES}),
        now AS (SELECT * FROM mrr WHERE as_of = $as_of),
        year_ago AS (SELECT * FROM mrr WHERE as_of = $year_ago),
        cohort AS (
            SELECT t.mrr AS before, coalesce(n.mrr, 0) AS after
            FROM year_ago t
            LEFT JOIN now n USING (source, company_id, customer_id)
        ),
        roots AS ({CUSTOMER_ROOTS}),
        autopay AS (
            SELECT DISTINCT r.source, r.company_id, r.root_id AS customer_id
            FROM ({AUTOPAY_STATUS}) a
            JOIN roots r USING (source, company_id, customer_id)
            WHERE a.on_autopay
        ),
        delinquent AS (
            SELECT DISTINCT r.source, r.company_id, r.root_id AS customer_id
            FROM ({OPEN_INVOICES}) o
            JOIN roots r USING (source, company_id, customer_id)
            WHERE o.days_past_due > $delinquent_after_days
        )
        SELECT coalesce((SELECT sum(mrr) FROM now), 0) AS mrr,
               12 * coalesce((SELECT sum(mrr) FROM now), 0) AS arr,
               coalesce((SELECT sum(mrr) FROM now SEMI JOIN autopay USING (source, company_id, customer_id)), 0)
                   AS autopay_secured_mrr,
               coalesce((SELECT sum(mrr) FROM now SEMI JOIN delinquent USING (source, company_id, customer_id)), 0)
                   AS delinquent_mrr,
               (SELECT sum(after) / nullif(sum(before), 0) FROM cohort) AS nrr_12m,
               (SELECT sum(least(after, before)) / nullif(sum(before), 0) FROM cohort) AS grr_12m,
               (SELECT avg((after = 0)::INTEGER) FROM cohort) AS logo_churn_12m
    """
    params = {"as_of": as_of, "year_ago": year_ago, "dates": [year_ago, as_of],
              "delinquent_after_days": delinquent_after_days}
    return query_frame(con, sql, params)


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
        raise ValueError(f"unknown MRR forecast method {method!r}: use auto, {', '.join(MRR_BACKTEST_METHODS)}")
    if method == "auto":
        _, accuracy = mrr_forecast_backtest(con, as_of)
        mean_error = accuracy.groupby("method")["mape"].mean().dropna()
        method = str(mean_error.idxmin()) if len(mean_error) else "rule"
    movements = mrr_movements(con, as_of, max(FORECAST_RATE_MONTHS, TREND_MONTHS))
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
    plan = [(t, h) for h in horizons for t in mrr_backtest_cutoffs(as_of, cutoffs, h)]
    dates = sorted({t for t, _ in plan} | {_months_after(t, h) for t, h in plan})
    known = {day: mrr_movements(con, day, max(FORECAST_RATE_MONTHS, TREND_MONTHS)) for day in dates}
    rows = []
    for t, h in plan:
        movements, target = known[t], _months_after(t, h)
        rule = _rule_forecast(movements, t, h)["mrr"].iloc[-1]
        rows.append({"cutoff": t, "horizon": h, "month_end": target, "actual": known[target]["mrr_end"].iloc[-1],
                     "rule": rule, "flat": movements["mrr_end"].iloc[-1], "trend": _trend_forecast(movements, h)})
    frame = pd.DataFrame(rows, columns=["cutoff", "horizon", "month_end", "actual", *MRR_BACKTEST_METHODS])
    return frame, mrr_backtest_summary(frame)


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
