"""Metrics: plain functions `f(con, as_of, **options) -> DataFrame` that the pages and the CLI call."""

from metrics.autopay import autopay_status_as_of
from metrics.behaviour import client_payment_habits, collections_worklist, invoice_payment_days
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
    "autopay_status_as_of",
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
]
