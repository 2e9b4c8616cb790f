"""Metrics: plain functions `f(con, as_of, **options) -> DataFrame` that the pages and the CLI call."""

from metrics.autopay import (
    autopay_adoption,
    autopay_adoption_trend,
    autopay_conversion_candidates,
    autopay_enrollment_history,
    autopay_failed_charges,
    autopay_status_as_of,
    autopay_status_split,
    autopay_uplift,
    autopay_what_if,
)
from metrics.recurring import (
    invoice_mrr_by_client,
    mrr_forecast,
    mrr_forecast_backtest,
    mrr_movements,
    recurring_invoices,
    recurring_revenue_summary,
)
from metrics.forecast import autopay_what_if_clients, backtest, backtest_weeks, cash_forecast, cash_forecast_by_month
from metrics.behaviour import client_payment_habits, collections_worklist, invoice_payment_days
from metrics.reconciliation import reconciliation_with_source, sync_history
from metrics.kpis import collection_effectiveness, dso_countback, kpi_series, kpis
from metrics.aging import (
    aging_buckets,
    aging_by_customer,
    ar_summary,
    ar_trend,
    bucket_labels,
    month_ends,
    open_invoices_as_of,
)

__all__ = [
    "aging_buckets",
    "aging_by_customer",
    "ar_summary",
    "ar_trend",
    "autopay_adoption",
    "autopay_adoption_trend",
    "autopay_conversion_candidates",
    "autopay_enrollment_history",
    "autopay_failed_charges",
    "autopay_status_as_of",
    "autopay_status_split",
    "autopay_uplift",
    "autopay_what_if",
    "autopay_what_if_clients",
    "backtest",
    "backtest_weeks",
    "cash_forecast",
    "cash_forecast_by_month",
    "invoice_mrr_by_client",
    "mrr_forecast",
    "mrr_forecast_backtest",
    "mrr_movements",
    "recurring_invoices",
    "recurring_revenue_summary",
    "collection_effectiveness",
    "dso_countback",
    "kpi_series",
    "kpis",
    "bucket_labels",
    "client_payment_habits",
    "collections_worklist",
    "invoice_payment_days",
    "month_ends",
    "open_invoices_as_of",
    "reconciliation_with_source",
    "sync_history",
]
