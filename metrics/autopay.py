"""Autopay: who is on it at a date (imported rosters win over manual entries over inferences),
adoption by clients and by MRR, payment speed by status, the uplift of enrolling, failed
charges, which clients to convert first and what converting them would release.

Definitions follow ../shared/spec/metrics.md ("Autopay"), which has no industry standard. An
invoice counts as autopay when its client was on autopay on the invoice date (that is when the
portal would charge it); a client counts as autopay when on it at the as-of date. The grace days
after which a charge counts as failed, and what makes a client "active", are rules written once
in models/macros.sql.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pandas as pd

import models
from core.errors import InputError
from metrics.aging import ZERO, month_ends
from metrics.kpis import kpis

STATUSES = ("autopay", "manual")
HABIT_WINDOW_DAYS = 365
_DAYS_PER_MONTH = Decimal(365) / 12
# How many of the top conversion candidates a what-if moves unless told otherwise (page and pack).
WHAT_IF_CANDIDATES = 10


def _check_window(days: int) -> None:
    if days < 1:
        raise InputError("the window must be at least 1 day")


def autopay_status_as_of(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """One row per customer with an enrollment period covering `as_of`: on_autopay, method,
    provenance ('imported', 'manual', 'inferred') and since (start of that period)."""
    status = models.frame(con, "autopay_status", {"dates": [as_of]}).drop(columns="as_of")
    return status.sort_values(["source", "company_id", "customer_id"], ignore_index=True)


def autopay_enrollment_history(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Every enrollment period started by `as_of`, imported, manual and inferred side by side,
    with `counts` marking the one that sets the client's status at `as_of` (precedence)."""
    return models.frame(con, "autopay_enrollment_history", {"dates": [as_of]})


def autopay_adoption_trend(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 12) -> pd.DataFrame:
    """Adoption at each of the last `months` month-ends (the last is `as_of`): active_recurring_clients,
    autopay_clients, adoption_by_clients, total_mrr, autopay_secured_mrr, adoption_by_mrr.

    Active recurring client: a recurring invoice dated in the 45 days up to the date. MRR is the
    invoice-based MRR of metrics/recurring.py; autopay-secured MRR is that of clients on autopay.
    """
    return models.frame(con, "autopay_adoption_trend", {"dates": month_ends(as_of, months)})


def autopay_adoption(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """One row: adoption by clients and by MRR at `as_of` (see `autopay_adoption_trend`)."""
    return autopay_adoption_trend(con, as_of, months=1)


def autopay_status_split(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int = 90) -> pd.DataFrame:
    """One row per status ('autopay', 'manual') for the `window_days` up to `as_of`:
    paid_invoices, days_to_pay (mean, of invoices settled in the window), days_late (mean),
    add_invoice (Σ amount × max(0, days late) ÷ Σ amount), credit_sales, total_ar, current_ar,
    overdue_ar, dso (A/R ÷ credit sales × window days) and pct_current, each over the invoices
    of that status. Together the two rows add up to the book's figures in `kpis`."""
    _check_window(window_days)
    params = {"dates": [as_of], "window_days": window_days, "statuses": list(STATUSES)}
    return models.frame(con, "autopay_status_split", params)


def autopay_days_late(con: duckdb.DuckDBPyConnection, as_of: date) -> float | None:
    """The autopay habit observed in this book: amount-weighted mean days late of autopay invoices
    settled in the 12 months to `as_of` (failed and retried charges included); None if none."""
    [(days,)] = models.rows(con, "autopay_days_late", {"dates": [as_of], "window_days": HABIT_WINDOW_DAYS})
    return days


def autopay_uplift(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Each client on autopay at `as_of`, with how it paid before and after enrolling: paid
    invoices, mean days to pay and days late in the 12 months before `enrolled_on` and from then
    to `as_of`; uplift_days = days to pay before - after (positive: autopay made it faster)."""
    return models.frame(con, "autopay_uplift", {"dates": [as_of]})


def autopay_failed_charges(con: duckdb.DuckDBPyConnection, as_of: date, months: int = 12) -> pd.DataFrame:
    """Autopay invoices due in the last `months` months that were not collected on time: settled
    more than 2 days after the due date ('late', a failed charge retried) or still unpaid more
    than 2 days past due ('unpaid'). days_late counts to settlement, or to `as_of` if unpaid."""
    return models.frame(con, "autopay_failed_charges", {"dates": [as_of], "months": int(months)})


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
    candidates = models.frame(con, "autopay_conversion_candidates", {"dates": [as_of], "window_days": HABIT_WINDOW_DAYS})
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
        raise InputError("choose the clients (customer_ids) or a share of non-autopay MRR, not both or neither")
    if share_of_manual_mrr is not None and not 0 <= share_of_manual_mrr <= 1:
        raise InputError(f"share of non-autopay MRR must be between 0 and 1, not {share_of_manual_mrr}")
    habit = autopay_days_late(con, as_of) or 0.0
    candidates = autopay_conversion_candidates(con, as_of)
    if customer_ids is not None:
        known = set(models.frame(con, "customer_names")["customer_id"])
        unknown = sorted(set(customer_ids) - known)
        if unknown:
            raise InputError(f"unknown customer ids: {', '.join(unknown)}")
        selected, weight = list(customer_ids), Decimal(1)
        selected_mrr = sum(candidates.query("customer_id in @selected")["mrr"], start=ZERO)
    else:
        selected, weight = candidates["customer_id"].tolist(), Decimal(str(share_of_manual_mrr))
        selected_mrr = _cents(sum(candidates["mrr"], start=ZERO) * weight)
    open_items = models.frame(con, "open_invoices", {"dates": [as_of]})
    chosen = open_items[open_items["customer_id"].isin(selected) & (open_items["days_past_due"] >= habit)]
    released = _cents(sum(chosen["home_open_amount"], start=ZERO) * weight)
    released_overdue = _cents(sum(chosen.loc[chosen["days_past_due"] > 0, "home_open_amount"], start=ZERO) * weight)
    before = kpis(con, as_of, window_days).iloc[0]
    total_ar, overdue_ar, sales = before.total_ar, before.overdue_ar, before.credit_sales
    dso_after = float((total_ar - released) / sales) * before.days_in_window if sales else None

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
        "dso_after": dso_after,
        "dso_change": None if dso_after is None or before.dso is None else dso_after - before.dso,
        "overdue_ar_change": -released_overdue,
        "cash_released": released,
    }])


def autopay_share_clients(con: duckdb.DuckDBPyConnection, as_of: date, share_of_manual_mrr: float) -> list[str]:
    """The conversion candidates, best first (most cash released), whose MRR together first
    reaches `share_of_manual_mrr` of all non-autopay MRR: the clients a share stands for when a
    what-if needs names (the cash forecast)."""
    candidates = autopay_conversion_candidates(con, as_of)
    target = sum(candidates["mrr"], start=ZERO) * Decimal(str(share_of_manual_mrr))
    chosen, reached = [], ZERO
    for row in candidates.itertuples():
        if reached >= target or not target:
            break
        chosen.append(row.customer_id)
        reached += row.mrr
    return chosen
