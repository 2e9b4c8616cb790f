"""What each metric column is called on screen and in a spreadsheet, and what it holds: the one
place for column labels and formats, so no page formats a table by hand.

A column not listed is shown with its name in words ('days_to_pay' → 'Days to pay'); internal
ids and keys are never shown (a client is reached by its link instead)."""

from __future__ import annotations

from dataclasses import dataclass

MONEY, FRACTION, PERCENT_POINTS, DAYS, COUNT, DATE, FLAG, TEXT, RATIO = (
    "money", "fraction", "percent_points", "days", "count", "date", "flag", "text", "ratio")


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = TEXT
    help: str | None = None


HIDDEN = frozenset({"source", "company_id", "customer_id", "invoice_id", "account_id", "payment_id", "run_id",
                    "credit_memo_id", "warnings", "report_date"})

COLUMNS: dict[str, Column] = {
    "customer": Column("Client"),
    "email": Column("Email"),
    "doc_number": Column("Invoice no."),
    "kind": Column("Kind"),
    "txn_date": Column("Invoice date", DATE),
    "due_date": Column("Due date", DATE),
    "settled_on": Column("Paid on", DATE),
    "days_past_due": Column("Days past due", COUNT),
    "bucket": Column("Bucket"),
    "currency": Column("Currency"),
    "total": Column("Total", MONEY),
    "open_amount": Column("Open (invoice currency)", MONEY),
    "home_open_amount": Column("Open", MONEY),
    "home_total": Column("Amount", MONEY),
    "current": Column("Current", MONEY),
    "overdue": Column("Overdue", MONEY),
    "unapplied_credit": Column("Unapplied credit", MONEY,
                               "Payments and credit memos not yet applied to an invoice: listed apart, never netted."),
    "oldest_days_past_due": Column("Oldest (days past due)", COUNT),
    "to_chase": Column("To chase", MONEY, "Overdue money less what is disputed: what a call can collect."),
    "disputed": Column("Disputed", MONEY, "Open invoices the client disputes: shown apart, not chased."),
    "parked": Column("Parked", FLAG, "An open promise to pay: not chased until its pay-by date."),
    "broken_promises": Column("Broken promises", COUNT),
    "next_action_on": Column("Next action on", DATE),
    "next_action_owner": Column("Owner"),
    "next_action": Column("Next action"),
    "overdue_since": Column("Overdue since", DATE),
    "overdue_invoices": Column("Overdue invoices", COUNT),
    "last_payment_date": Column("Last payment", DATE),
    "weighted_days_late_12m": Column(
        "Usually pays (days late)", DAYS,
        "Amount-weighted days late of invoices paid in the last 12 months: Σ amount × days late ÷ Σ amount."),
    "share_on_time_12m": Column("On time (12 mo.)", FRACTION, "Share of invoices paid in the last 12 months by their due date."),
    "drift": Column("Paying later", FLAG,
                    "Each of the client's 3 latest invoices is more than 10 days later than its 12-month median."),
    "days_to_pay": Column("Days to pay", DAYS),
    "days_late": Column("Days late", DAYS),
    "autopay_status": Column("Autopay"),
    "paid_invoices": Column("Invoices paid", COUNT),
    "add_invoice": Column("Avg days delinquent", DAYS),
    "credit_sales": Column("Credit sales", MONEY),
    "total_ar": Column("Total A/R", MONEY),
    "current_ar": Column("Current A/R", MONEY),
    "overdue_ar": Column("Overdue A/R", MONEY),
    "dso": Column("DSO (days)", DAYS),
    "pct_current": Column("% current", FRACTION),
    "mrr": Column("MRR", MONEY),
    "paid_invoices_12m": Column("Invoices paid (12 mo.)", COUNT),
    "usual_method": Column("Usually pays by"),
    "card_or_ach_share_12m": Column("Card/ACH share (12 mo.)", FRACTION),
    "pays_by_card_or_ach": Column("Pays by card/ACH", FLAG),
    "excess_days_late": Column("Days later than autopay", DAYS),
    "cash_released": Column("Cash released", MONEY, "Monthly billing × (usual days late − the autopay habit) ÷ 30.4."),
    "enrolled_on": Column("Enrolled on", DATE),
    "provenance": Column("From"),
    "method": Column("Method"),
    "invoices_before": Column("Invoices before", COUNT),
    "days_to_pay_before": Column("Days to pay before", DAYS),
    "days_late_before": Column("Days late before", DAYS),
    "invoices_after": Column("Invoices after", COUNT),
    "days_to_pay_after": Column("Days to pay after", DAYS),
    "days_late_after": Column("Days late after", DAYS),
    "uplift_days": Column("Uplift (days)", DAYS, "Days to pay before enrolling − since."),
    "outcome": Column("Outcome"),
    "status": Column("Status"),
    "valid_from": Column("From date", DATE),
    "valid_to": Column("To date", DATE),
    "counts": Column("Sets status today", FLAG),
    "origin": Column("Source"),
    "actor": Column("Run by"),
    "started_at": Column("Started", DATE),
    "finished_at": Column("Finished", DATE),
    "seconds": Column("Seconds", DAYS),
    "requests": Column("Requests"),
    "error": Column("Error"),
    "warning_count": Column("Warnings", COUNT),
    "week": Column("Week", COUNT),
    "week_start": Column("Week from", DATE),
    "week_end": Column("Week to", DATE),
    "expected": Column("Expected", MONEY),
    "low": Column("Low (band)", MONEY),
    "high": Column("High (band)", MONEY),
    "from_open": Column("From open invoices", MONEY),
    "at_risk": Column("At risk", MONEY, "Past-due money not expected within the 13 weeks."),
    "at_risk_share": Column("Share at risk", FRACTION),
    "from_not_yet_issued": Column("From invoices not yet issued", MONEY),
    "month_end": Column("Month", DATE),
    "mrr_start": Column("MRR at start", MONEY),
    "new": Column("New", MONEY),
    "expansion": Column("Expansion", MONEY),
    "contraction": Column("Contraction", MONEY),
    "churn": Column("Churn", MONEY),
    "reactivation": Column("Reactivation", MONEY),
    "net_new": Column("Net new", MONEY),
    "mrr_end": Column("MRR at end", MONEY),
    "arr": Column("ARR", MONEY),
    "clients_start": Column("Clients at start", COUNT),
    "clients_churned": Column("Clients churned", COUNT),
    "logo_churn": Column("Logo churn", FRACTION),
    "gross_mrr_churn": Column("Gross MRR churn", FRACTION),
    "nrr": Column("NRR", FRACTION),
    "grr": Column("GRR", FRACTION),
    "ledgerlight": Column("ledgerlight", MONEY),
    "difference": Column("Difference", MONEY),
    "invoices": Column("Invoices", COUNT),
    "amount": Column("Amount", MONEY),
    "payment_date": Column("Paid on", DATE),
    "applied": Column("Applied", MONEY),
    "unapplied": Column("Unapplied", MONEY),
    "reference": Column("Reference"),
    "billed": Column("Billed", MONEY),
    "collected": Column("Collected", MONEY),
    "invoices_paid": Column("Invoices paid", COUNT),
    "on_time_share": Column("On time", FRACTION),
    "mae_1_4": Column("Error per week, weeks 1–4", MONEY, "Mean absolute error: the average of |forecast − cash| per week."),
    "mae_5_13": Column("Error per week, weeks 5–13", MONEY, "Mean absolute error: the average of |forecast − cash| per week."),
    "mape_1_4": Column("% error, weeks 1–4", FRACTION, "Mean of |forecast − cash| ÷ cash, weeks with cash only."),
    "mape_5_13": Column("% error, weeks 5–13", FRACTION, "Mean of |forecast − cash| ÷ cash, weeks with cash only."),
    "coverage_1_4": Column("In the band, weeks 1–4", FRACTION, "Share of weeks whose cash fell inside the 80 % band."),
    "coverage_5_13": Column("In the band, weeks 5–13", FRACTION, "Share of weeks whose cash fell inside the 80 % band."),
    "model_coverage_1_4": Column("In the model's band, weeks 1–4", FRACTION,
                                 "The same for the model's own band, before it is widened by past errors."),
    "model_coverage_5_13": Column("In the model's band, weeks 5–13", FRACTION,
                                  "The same for the model's own band, before it is widened by past errors."),
}


def column(name: str) -> Column:
    """The label and kind of a metric column; an unknown one gets its name in words."""
    known = COLUMNS.get(name)
    if known is not None:
        return known
    words = name.replace("_", " ").strip()
    return Column(words[:1].upper() + words[1:])
