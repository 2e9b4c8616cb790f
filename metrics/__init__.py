"""Metrics: plain functions `f(con, as_of, **options) -> DataFrame` that the pages and the CLI call.

Each reads the SQL models in models/ and adds only what SQL does badly (a countback walk, a
backtest's choice of method); none reads a source's own tables or knows where the books came from.
"""

from metrics.aging import (
    aging_buckets,
    aging_by_customer,
    ar_summary,
    ar_trend,
    bucket_labels,
    month_ends,
    open_invoices_as_of,
)
from metrics.autopay import (
    autopay_adoption,
    autopay_adoption_trend,
    autopay_conversion_candidates,
    autopay_enrollment_history,
    autopay_failed_charges,
    autopay_share_clients,
    autopay_status_as_of,
    autopay_status_split,
    autopay_uplift,
    autopay_what_if,
)
from metrics.behaviour import client_payment_habits, invoice_payment_days
from metrics.client import account_months, account_payments, account_summary, client_directory
from metrics.collections import (
    collection_status,
    collection_timeline,
    collections_worklist,
    disputes,
    pack_deliveries,
    promise_status,
    reminder_deliveries,
    reminder_invoices,
    saved_reminder_templates,
    statement,
    statements,
    worklist_owners,
)
from metrics.forecast import (
    at_risk_total,
    autopay_what_if_clients,
    backtest,
    backtest_weeks,
    cash_forecast,
    forecast_totals,
    invoices_at_risk,
)
from metrics.kpi_review import ar_change, kpi_review
from metrics.kpis import collection_effectiveness, dso_countback, kpi_series, kpis
from metrics.reconciliation import reconciliation_with_source
from metrics.recurring import (
    mrr_forecast,
    mrr_forecast_backtest,
    mrr_movements,
    mrr_outlook,
    recurring_invoices,
    recurring_revenue_summary,
)
from metrics.status import companies, database_summary, home_currency, snapshot_limit, sync_history

__all__ = [
    "ar_change",
    "kpi_review",
    "aging_buckets",
    "aging_by_customer",
    "ar_summary",
    "ar_trend",
    "at_risk_total",
    "autopay_adoption",
    "autopay_adoption_trend",
    "autopay_conversion_candidates",
    "autopay_enrollment_history",
    "autopay_failed_charges",
    "autopay_share_clients",
    "autopay_status_as_of",
    "autopay_status_split",
    "autopay_uplift",
    "autopay_what_if",
    "autopay_what_if_clients",
    "backtest",
    "backtest_weeks",
    "bucket_labels",
    "cash_forecast",
    "account_months",
    "account_payments",
    "account_summary",
    "client_directory",
    "client_payment_habits",
    "collection_effectiveness",
    "collection_status",
    "collection_timeline",
    "collections_worklist",
    "companies",
    "database_summary",
    "disputes",
    "dso_countback",
    "forecast_totals",
    "home_currency",
    "invoices_at_risk",
    "invoice_payment_days",
    "kpi_series",
    "kpis",
    "month_ends",
    "mrr_forecast",
    "mrr_forecast_backtest",
    "mrr_movements",
    "mrr_outlook",
    "open_invoices_as_of",
    "pack_deliveries",
    "promise_status",
    "reconciliation_with_source",
    "recurring_invoices",
    "recurring_revenue_summary",
    "reminder_deliveries",
    "reminder_invoices",
    "saved_reminder_templates",
    "statement",
    "statements",
    "snapshot_limit",
    "sync_history",
    "worklist_owners",
]
