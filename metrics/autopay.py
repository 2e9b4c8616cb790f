"""Autopay: who is on it at a date (imported rosters win over manual entries over inferences),
adoption by clients and by MRR, payment speed by status, the uplift of enrolling, failed
charges, which clients to convert first and what converting them would release.

Definitions follow ../shared/spec/metrics.md ("Autopay"), which has no industry standard.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pandas as pd

from etl.db import query_frame
from etl.models import AUTOPAY_ON_DAYS, AUTOPAY_STATUS, OPEN_INVOICES, SETTLED_INVOICES
from metrics.aging import ZERO, month_ends
from metrics.kpis import kpis
from metrics.recurring import INVOICE_MRR_AT_DATES


def autopay_status_as_of(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """One row per customer with an enrollment period covering `as_of`: on_autopay, method,
    provenance ('imported', 'manual', 'inferred') and since (start of that period)."""
    return query_frame(con, f"{AUTOPAY_STATUS} ORDER BY ALL", {"as_of": as_of})


def autopay_enrollment_history(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Every enrollment period started by `as_of`, imported, manual and inferred side by side,
    with `counts` marking the one that sets the client's status at `as_of` (precedence)."""
    sql = f"""
        SELECT e.source, e.company_id, e.customer_id, c.name AS customer, e.provenance, e.status, e.method,
               e.valid_from, e.valid_to,
               coalesce(s.provenance = e.provenance AND s.since = e.valid_from, false) AS counts
        FROM autopay_enrollments e
        JOIN customers c USING (source, company_id, customer_id)
        LEFT JOIN ({AUTOPAY_STATUS}) s USING (source, company_id, customer_id)
        WHERE e.valid_from <= $as_of
        ORDER BY c.name, e.valid_from, e.provenance
    """
    return query_frame(con, sql, {"as_of": as_of})


# ------------------------------------------------------------------------------------------------
# Adoption, payment speed by status, uplift, failed charges, the conversion list and the what-if.
# An invoice counts as autopay when its client was on autopay on the invoice date (that is when
# the portal would charge it); a client counts as autopay when on it at the as-of date.

AUTOPAY_LATE_DAYS = 2  # an autopay charge settled later than this after the due date failed
ACTIVE_DAYS = 45  # spec: an active recurring client has a recurring invoice in the last 45 days
STATUSES = ("autopay", "manual")
_DAYS_PER_MONTH = Decimal(365) / 12

_INVOICE_STATUS = f"""
WITH customer_days AS (
    SELECT DISTINCT source, company_id, customer_id, txn_date AS day
    FROM invoices WHERE status = 'posted' AND txn_date <= $as_of
),
on_days AS ({AUTOPAY_ON_DAYS})
SELECT i.source, i.company_id, i.invoice_id,
       CASE WHEN s.on_autopay THEN 'autopay' ELSE 'manual' END AS autopay_status
FROM invoices i
JOIN on_days s
  ON s.source = i.source AND s.company_id = i.company_id AND s.customer_id = i.customer_id AND s.day = i.txn_date
"""

# Paid invoices (write-offs are bad debt, not payments) settled after $starts_after, by status.
_PAID_BY_STATUS = f"""
SELECT p.*, st.autopay_status
FROM ({SETTLED_INVOICES}) p
JOIN ({_INVOICE_STATUS}) st USING (source, company_id, invoice_id)
WHERE NOT p.written_off AND p.settled_on > $starts_after
"""


def _window(as_of: date, days: int) -> dict:
    if days < 1:
        raise ValueError("the window must be at least 1 day")
    return {"as_of": as_of, "starts_after": as_of - timedelta(days=days)}


def autopay_adoption_trend(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 12) -> pd.DataFrame:
    """Adoption at each of the last `months` month-ends (the last is `as_of`): active_recurring_clients,
    autopay_clients, adoption_by_clients, total_mrr, autopay_secured_mrr, adoption_by_mrr.

    Active recurring client: a recurring invoice dated in the 45 days up to the date. MRR is the
    invoice-based MRR of metrics/recurring.py; autopay-secured MRR is that of clients on autopay.
    """
    sql = f"""
        WITH as_of_dates AS (SELECT unnest($dates::DATE[]) AS as_of),
        active AS (
            SELECT DISTINCT d.as_of, i.source, i.company_id, i.customer_id
            FROM invoices i
            JOIN as_of_dates d ON i.txn_date <= d.as_of AND i.txn_date > d.as_of - {ACTIVE_DAYS}
            WHERE i.status = 'posted' AND i.kind = 'recurring'
        ),
        mrr AS ({INVOICE_MRR_AT_DATES}),
        clients AS (
            SELECT as_of, source, company_id, customer_id, true AS active, m.mrr
            FROM active a LEFT JOIN mrr m USING (as_of, source, company_id, customer_id)
            UNION ALL BY NAME
            SELECT as_of, source, company_id, customer_id, false AS active, mrr
            FROM mrr m ANTI JOIN active a USING (as_of, source, company_id, customer_id)
        ),
        customer_days AS (SELECT source, company_id, customer_id, as_of AS day FROM clients),
        on_days AS ({AUTOPAY_ON_DAYS}),
        adoption AS (
            SELECT c.as_of,
                   count(*) FILTER (WHERE c.active) AS active_recurring_clients,
                   count(*) FILTER (WHERE c.active AND s.on_autopay) AS autopay_clients,
                   coalesce(sum(c.mrr), 0)::DECIMAL(18,2) AS total_mrr,
                   coalesce(sum(c.mrr) FILTER (WHERE s.on_autopay), 0)::DECIMAL(18,2) AS autopay_secured_mrr
            FROM clients c
            JOIN on_days s
              ON s.source = c.source AND s.company_id = c.company_id AND s.customer_id = c.customer_id AND s.day = c.as_of
            GROUP BY c.as_of
        )
        SELECT d.as_of,
               coalesce(a.active_recurring_clients, 0) AS active_recurring_clients,
               coalesce(a.autopay_clients, 0) AS autopay_clients,
               a.autopay_clients / nullif(a.active_recurring_clients, 0) AS adoption_by_clients,
               coalesce(a.total_mrr, 0)::DECIMAL(18,2) AS total_mrr,
               coalesce(a.autopay_secured_mrr, 0)::DECIMAL(18,2) AS autopay_secured_mrr,
               a.autopay_secured_mrr / nullif(a.total_mrr, 0) AS adoption_by_mrr
        FROM as_of_dates d
        LEFT JOIN adoption a USING (as_of)
        ORDER BY d.as_of
    """
    return query_frame(con, sql, {"dates": month_ends(as_of, months), "as_of": as_of})


def autopay_adoption(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """One row: adoption by clients and by MRR at `as_of` (see `autopay_adoption_trend`)."""
    return autopay_adoption_trend(con, as_of, months=1)


def autopay_status_split(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90) -> pd.DataFrame:
    """One row per status ('autopay', 'manual') for the `window_days` up to `as_of`:
    paid_invoices, days_to_pay (mean, of invoices settled in the window), days_late (mean),
    add_invoice (Σ amount × max(0, days late) ÷ Σ amount), credit_sales, total_ar, current_ar,
    overdue_ar, dso (A/R ÷ credit sales × window days) and pct_current, each over the invoices
    of that status. Together the two rows add up to the book's figures in `kpis`."""
    sql = f"""
        WITH invoice_status AS ({_INVOICE_STATUS}),
        paid AS (
            SELECT autopay_status, count(*) AS paid_invoices, avg(days_to_pay) AS days_to_pay,
                   avg(days_late) AS days_late,
                   sum(home_total * greatest(days_late, 0)) / sum(home_total) AS add_invoice
            FROM ({_PAID_BY_STATUS})
            GROUP BY ALL
        ),
        sales AS (
            SELECT st.autopay_status, sum(i.home_total) AS credit_sales
            FROM invoices i JOIN invoice_status st USING (source, company_id, invoice_id)
            WHERE i.status = 'posted' AND i.txn_date > $starts_after AND i.txn_date <= $as_of
            GROUP BY ALL
        ),
        receivable AS (
            SELECT st.autopay_status, sum(o.home_open_amount) AS total_ar,
                   coalesce(sum(o.home_open_amount) FILTER (WHERE o.days_past_due <= 0), 0) AS current_ar
            FROM ({OPEN_INVOICES}) o JOIN invoice_status st USING (source, company_id, invoice_id)
            GROUP BY ALL
        )
        SELECT s.autopay_status, coalesce(p.paid_invoices, 0) AS paid_invoices, p.days_to_pay, p.days_late,
               p.add_invoice,
               coalesce(c.credit_sales, 0)::DECIMAL(18,2) AS credit_sales,
               coalesce(r.total_ar, 0)::DECIMAL(18,2) AS total_ar,
               coalesce(r.current_ar, 0)::DECIMAL(18,2) AS current_ar,
               coalesce(r.total_ar - r.current_ar, 0)::DECIMAL(18,2) AS overdue_ar,
               coalesce(r.total_ar, 0) / nullif(c.credit_sales, 0) * $window_days AS dso,
               r.current_ar / nullif(r.total_ar, 0) AS pct_current
        FROM (SELECT unnest($statuses::VARCHAR[]) AS autopay_status) s
        LEFT JOIN paid p USING (autopay_status)
        LEFT JOIN sales c USING (autopay_status)
        LEFT JOIN receivable r USING (autopay_status)
        ORDER BY s.autopay_status
    """
    params = {**_window(as_of, window_days), "dates": [as_of], "window_days": window_days, "statuses": list(STATUSES)}
    return query_frame(con, sql, params)


def autopay_days_late(con: duckdb.DuckDBPyConnection, as_of: date) -> float | None:
    """The autopay habit observed in this book: amount-weighted mean days late of autopay invoices
    settled in the 12 months to `as_of` (failed and retried charges included); None if none."""
    sql = f"SELECT sum(home_total * days_late) / sum(home_total) FROM ({_PAID_BY_STATUS}) WHERE autopay_status = 'autopay'"
    [(days,)] = con.execute(sql, _window(as_of, 365)).fetchall()
    return days


def autopay_uplift(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Each client on autopay at `as_of`, with how it paid before and after enrolling: paid
    invoices, mean days to pay and days late in the 12 months before `enrolled_on` and from then
    to `as_of`; uplift_days = days to pay before - after (positive: autopay made it faster)."""
    sql = f"""
        WITH enrolled AS (
            SELECT source, company_id, customer_id, since AS enrolled_on, provenance, method
            FROM ({AUTOPAY_STATUS}) WHERE on_autopay
        ),
        paid AS (
            SELECT p.*, e.enrolled_on, p.txn_date >= e.enrolled_on AS after
            FROM ({SETTLED_INVOICES}) p
            JOIN enrolled e USING (source, company_id, customer_id)
            WHERE NOT p.written_off AND p.txn_date >= e.enrolled_on - INTERVAL 12 MONTH
        )
        SELECT e.source, e.company_id, e.customer_id, c.name AS customer, e.enrolled_on, e.provenance, e.method,
               count(p.invoice_id) FILTER (WHERE NOT p.after) AS invoices_before,
               avg(p.days_to_pay) FILTER (WHERE NOT p.after) AS days_to_pay_before,
               avg(p.days_late) FILTER (WHERE NOT p.after) AS days_late_before,
               count(p.invoice_id) FILTER (WHERE p.after) AS invoices_after,
               avg(p.days_to_pay) FILTER (WHERE p.after) AS days_to_pay_after,
               avg(p.days_late) FILTER (WHERE p.after) AS days_late_after,
               avg(p.days_to_pay) FILTER (WHERE NOT p.after) - avg(p.days_to_pay) FILTER (WHERE p.after) AS uplift_days
        FROM enrolled e
        JOIN customers c USING (source, company_id, customer_id)
        LEFT JOIN paid p USING (source, company_id, customer_id)
        GROUP BY ALL
        ORDER BY uplift_days DESC NULLS LAST, c.name
    """
    return query_frame(con, sql, {"as_of": as_of})


def autopay_failed_charges(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 12) -> pd.DataFrame:
    """Autopay invoices due in the last `months` months that were not collected on time: settled
    more than 2 days after the due date ('late', a failed charge retried) or still unpaid more
    than 2 days past due ('unpaid'). days_late counts to settlement, or to `as_of` if unpaid."""
    sql = f"""
        WITH invoice_status AS ({_INVOICE_STATUS}),
        settled AS ({SETTLED_INVOICES})
        SELECT i.source, i.company_id, i.customer_id, c.name AS customer, i.invoice_id, i.doc_number,
               coalesce(i.due_date, i.txn_date) AS due_date, s.settled_on, i.home_total,
               datediff('day', coalesce(i.due_date, i.txn_date), coalesce(s.settled_on, $as_of)) AS days_late,
               CASE WHEN s.settled_on IS NULL THEN 'unpaid' ELSE 'late' END AS outcome
        FROM invoices i
        JOIN invoice_status st USING (source, company_id, invoice_id)
        JOIN customers c USING (source, company_id, customer_id)
        LEFT JOIN settled s USING (source, company_id, invoice_id)
        WHERE st.autopay_status = 'autopay' AND i.status = 'posted' AND i.total > 0
          AND coalesce(i.due_date, i.txn_date) > $as_of::DATE - INTERVAL {int(months)} MONTH
          AND datediff('day', coalesce(i.due_date, i.txn_date), coalesce(s.settled_on, $as_of)) > {AUTOPAY_LATE_DAYS}
          AND NOT coalesce(s.written_off, false)
        ORDER BY due_date DESC, c.name
    """
    return query_frame(con, sql, {"as_of": as_of})


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(ZERO, rounding=ROUND_HALF_UP)


def _cash_released(monthly: Decimal, excess_days: float | None) -> Decimal:
    """A/R a client's lateness keeps outstanding: monthly billing × days later than autopay ÷ days per month."""
    if excess_days is None or pd.isna(excess_days) or excess_days <= 0:
        return ZERO
    return _cents(monthly * Decimal(repr(excess_days)) / _DAYS_PER_MONTH)


def autopay_conversion_candidates(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Active recurring clients not on autopay, ranked by the cash moving them would release:
    mrr × (their amount-weighted days late over 12 months - the book's autopay days late)
    ÷ (365/12). `pays_by_card_or_ach`: most of their last 12 months' payments were card/ACH."""
    sql = f"""
        WITH adoption_clients AS (
            SELECT DISTINCT source, company_id, customer_id
            FROM invoices
            WHERE status = 'posted' AND kind = 'recurring' AND txn_date <= $as_of AND txn_date > $as_of - {ACTIVE_DAYS}
        ),
        on_autopay AS (SELECT * FROM ({AUTOPAY_STATUS}) WHERE on_autopay),
        lateness AS (
            SELECT source, company_id, customer_id, count(*) AS paid_invoices_12m,
                   sum(home_total * days_late) / sum(home_total) AS weighted_days_late_12m
            FROM ({_PAID_BY_STATUS})
            GROUP BY ALL
        ),
        methods AS (
            SELECT source, company_id, customer_id,
                   sum(amount * exchange_rate) FILTER (WHERE method IN ('card', 'ach')) / sum(amount * exchange_rate) AS card_or_ach_share_12m,
                   arg_max(method, amount * exchange_rate) AS usual_method
            FROM (
                SELECT source, company_id, customer_id, method, sum(amount) AS amount, any_value(exchange_rate) AS exchange_rate
                FROM payments
                WHERE status = 'posted' AND amount > 0 AND txn_date <= $as_of AND txn_date > $starts_after
                GROUP BY ALL
            )
            GROUP BY ALL
        )
        SELECT a.source, a.company_id, a.customer_id, c.name AS customer, c.email,
               coalesce(m.mrr, 0)::DECIMAL(18,2) AS mrr, l.paid_invoices_12m, l.weighted_days_late_12m,
               p.usual_method, p.card_or_ach_share_12m,
               coalesce(p.card_or_ach_share_12m >= 0.5, false) AS pays_by_card_or_ach
        FROM adoption_clients a
        ANTI JOIN on_autopay USING (source, company_id, customer_id)
        JOIN customers c USING (source, company_id, customer_id)
        LEFT JOIN ({INVOICE_MRR_AT_DATES}) m USING (source, company_id, customer_id)
        LEFT JOIN lateness l USING (source, company_id, customer_id)
        LEFT JOIN methods p USING (source, company_id, customer_id)
    """
    candidates = query_frame(con, sql, {**_window(as_of, 365), "dates": [as_of]})
    habit = autopay_days_late(con, as_of) or 0.0
    candidates["excess_days_late"] = (candidates["weighted_days_late_12m"].astype(float) - habit).clip(lower=0)
    candidates["cash_released"] = [
        _cash_released(mrr, excess) for mrr, excess in zip(candidates["mrr"], candidates["excess_days_late"])
    ]
    return candidates.sort_values(["cash_released", "mrr", "customer"], ascending=[False, False, True], ignore_index=True)


def autopay_what_if(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    customer_ids: tuple[str, ...] | list[str] | None = None,
    share_of_manual_mrr: float | None = None,
    window_days: int = 90,
) -> pd.DataFrame:
    """What autopay would have done for some clients: their habit replaced by the autopay habit
    observed in this book (`autopay_days_late`, 0 if no autopay invoice was paid in 12 months).

    Autopay collects an invoice once it is that many days past due, so each selected client's
    open invoices at `as_of` at least that far past due would have been collected: that is the
    one-time cash released, taken off total and overdue A/R (DSO = A/R ÷ credit sales × window).
    Autopay is never assumed slower than a client already pays. Either name `customer_ids`, or
    give `share_of_manual_mrr` (0-1): that share of every non-autopay client's releasable A/R, as
    if that share of non-autopay MRR moved to autopay. One row: before/after figures and the change.
    """
    if (customer_ids is None) == (share_of_manual_mrr is None):
        raise ValueError("choose the clients (customer_ids) or a share of non-autopay MRR, not both or neither")
    if share_of_manual_mrr is not None and not 0 <= share_of_manual_mrr <= 1:
        raise ValueError(f"share of non-autopay MRR must be between 0 and 1, not {share_of_manual_mrr}")
    habit = autopay_days_late(con, as_of) or 0.0
    candidates = autopay_conversion_candidates(con, as_of)
    if customer_ids is not None:
        known = set(query_frame(con, "SELECT customer_id FROM customers")["customer_id"])
        unknown = sorted(set(customer_ids) - known)
        if unknown:
            raise ValueError(f"unknown customer ids: {', '.join(unknown)}")
        selected, weight = list(customer_ids), Decimal(1)
        selected_mrr = sum(candidates.query("customer_id in @selected")["mrr"], start=ZERO)
    else:
        selected, weight = candidates["customer_id"].tolist(), Decimal(str(share_of_manual_mrr))
        selected_mrr = _cents(sum(candidates["mrr"], start=ZERO) * weight)
    open_items = query_frame(
        con,
        f"SELECT customer_id, home_open_amount, days_past_due FROM ({OPEN_INVOICES})",
        {"dates": [as_of]},
    )
    chosen = open_items[open_items["customer_id"].isin(selected) & (open_items["days_past_due"] >= habit)]
    released = _cents(sum(chosen["home_open_amount"], start=ZERO) * weight)
    released_overdue = _cents(sum(chosen.loc[chosen["days_past_due"] > 0, "home_open_amount"], start=ZERO) * weight)
    before = kpis(con, as_of, window_days).iloc[0]
    total_ar, overdue_ar, sales = before.total_ar, before.overdue_ar, before.credit_sales

    return pd.DataFrame([{
        "as_of": as_of,
        "window_days": window_days,
        "clients": len(selected),
        "selected_mrr": selected_mrr,
        "autopay_days_late": habit,
        "total_ar_before": total_ar,
        "total_ar_after": total_ar - released,
        "overdue_ar_before": overdue_ar,
        "overdue_ar_after": overdue_ar - released_overdue,
        "dso_before": before.dso,
        "dso_after": float((total_ar - released) / sales) * window_days if sales else None,
        "cash_released": released,
    }])
