"""DSO family, CEI, turnover and bad debt on a book worked out by hand, and the spec's examples.

As of 2026-06-30 with a 90-day window (2026-04-01, 2026-06-30]:
  J0 6,000.00 dated 03-01 due 03-31: 3,000 paid 03-20, 3,000 paid 04-20 (20 days late)
  J4   600.00 dated 01-02 due 02-01: written off by credit memo 06-01
  J5   400.00 dated 02-15 due 03-17: never paid (105 days past due at the end: 91+)
  J1 2,000.00 dated 04-15 due 05-15: paid in full 05-25 (10 days late)
  J2 3,000.00 dated 05-15 due 06-14: 1,000 paid 06-10 (2,000 open, 16 days past due)
  J3 1,000.00 dated 06-15 due 07-15: open, current
Credit sales in the window = J1 + J2 + J3 = 6,000.00
A/R at the start (04-01) = J0 3,000 + J4 600 + J5 400 = 4,000.00
A/R at the end = J2 2,000 + J3 1,000 + J5 400 = 3,400.00, of which current 1,000, 91+ 400
"""

from datetime import date
from decimal import Decimal

import pytest

from core.db import read_only
from metrics import collection_effectiveness, dso_countback, kpi_series, kpis
from tests.books import write_book

D = Decimal
AS_OF = date(2026, 6, 30)

CUSTOMERS = [{"customer_id": "K1", "name": "Kestrel Logistics"}]
INVOICES = [
    {"invoice_id": "J0", "customer_id": "K1", "txn_date": date(2026, 3, 1), "due_date": date(2026, 3, 31), "total": "6000.00"},
    {"invoice_id": "J4", "customer_id": "K1", "txn_date": date(2026, 1, 2), "due_date": date(2026, 2, 1), "total": "600.00"},
    {"invoice_id": "J5", "customer_id": "K1", "txn_date": date(2026, 2, 15), "due_date": date(2026, 3, 17), "total": "400.00"},
    {"invoice_id": "J1", "customer_id": "K1", "txn_date": date(2026, 4, 15), "due_date": date(2026, 5, 15), "total": "2000.00"},
    {"invoice_id": "J2", "customer_id": "K1", "txn_date": date(2026, 5, 15), "due_date": date(2026, 6, 14), "total": "3000.00"},
    {"invoice_id": "J3", "customer_id": "K1", "txn_date": date(2026, 6, 15), "due_date": date(2026, 7, 15), "total": "1000.00"},
]
PAYMENTS = [
    {"payment_id": f"Q{n}", "customer_id": "K1", "txn_date": day, "amount": amount, "method": "check"}
    for n, day, amount in [(1, date(2026, 3, 20), "3000.00"), (2, date(2026, 4, 20), "3000.00"),
                           (3, date(2026, 5, 25), "2000.00"), (4, date(2026, 6, 10), "1000.00")]
]
CREDIT_MEMOS = [{"credit_memo_id": "W1", "customer_id": "K1", "txn_date": date(2026, 6, 1), "total": "600.00", "is_write_off": True}]
APPLICATIONS = [
    {"application_id": "a1", "invoice_id": "J0", "payment_id": "Q1", "applied_on": date(2026, 3, 20), "amount": "3000.00"},
    {"application_id": "a2", "invoice_id": "J0", "payment_id": "Q2", "applied_on": date(2026, 4, 20), "amount": "3000.00"},
    {"application_id": "a3", "invoice_id": "J1", "payment_id": "Q3", "applied_on": date(2026, 5, 25), "amount": "2000.00"},
    {"application_id": "a4", "invoice_id": "J2", "payment_id": "Q4", "applied_on": date(2026, 6, 10), "amount": "1000.00"},
    {"application_id": "a5", "invoice_id": "J4", "credit_memo_id": "W1", "payment_id": None, "applied_on": date(2026, 6, 1), "amount": "600.00"},
]


@pytest.fixture(scope="module")
def kpi_row(tmp_path_factory):
    path = write_book(tmp_path_factory.mktemp("kpi") / "k.duckdb", CUSTOMERS, INVOICES, PAYMENTS, CREDIT_MEMOS, APPLICATIONS)
    with read_only(path) as con:
        return kpis(con, AS_OF, window_days=90).iloc[0], kpi_series(con, AS_OF, window_days=90, months=3)


def test_receivables_and_sales(kpi_row):
    row, _ = kpi_row
    assert (row.credit_sales, row.begin_ar, row.total_ar, row.overdue_ar) == (D("6000.00"), D("4000.00"), D("3400.00"), D("2400.00"))
    assert row.pct_current == pytest.approx(1000 / 3400)
    assert row.pct_91_plus == pytest.approx(400 / 3400)


def test_dso_family(kpi_row):
    row, _ = kpi_row
    assert row.dso == pytest.approx(51.0)            # 3,400 / 6,000 x 90
    assert row.bpdso == pytest.approx(15.0)          # 1,000 / 6,000 x 90
    assert row["add_crf"] == pytest.approx(36.0)      # DSO - BPDSO
    assert row.add_invoice == pytest.approx(17.5)    # (6,000 x 20 + 2,000 x 10) / 8,000; J4 written off, not paid
    # June 1,000 (30 days) consumed, then May: 2,400 / 3,000 x 31 days
    assert row.dso_countback == pytest.approx(30 + 2400 / 3000 * 31)


def test_cei_turnover_and_bad_debt(kpi_row):
    row, _ = kpi_row
    assert row.cei == pytest.approx((4000 + 2000 - 3400) / (4000 + 2000 - 1000) * 100)  # 52.0 %, N = 3
    assert row.ar_turnover == pytest.approx(6000 / 3700)
    assert row.bad_debt_ratio == pytest.approx(0.10)  # 600 written off / 6,000 sales
    assert row.window_days == 90


def test_monthly_series_ends_at_the_as_of_date(kpi_row):
    _, series = kpi_row
    assert list(series["as_of"]) == [date(2026, 4, 30), date(2026, 5, 31), AS_OF]
    # At 04-30: J0 paid off 04-20; open are J4 600, J5 400 and J1 2,000
    assert series["total_ar"].iloc[0] == D("3000.00")


def test_spec_countback_example():
    months = [(D("100000"), 30), (D("80000"), 30), (D("70000"), 30)]
    assert round(dso_countback(D("212000"), months), 1) == 73.7


def test_spec_cei_example():
    cei = collection_effectiveness(D("6200"), D("10890"), D("6340"), D("3590"), months=3)
    assert round(cei, 1) == 55.9
    assert round(collection_effectiveness(D("6200"), D("10890"), D("6340"), D("3590"), months=1), 1) == 79.6


def test_no_sales_gives_no_ratio_rather_than_a_crash(tmp_path):
    path = write_book(tmp_path / "empty.duckdb", CUSTOMERS)
    with read_only(path) as con:
        row = kpis(con, AS_OF, window_days=30).iloc[0]
    assert row.total_ar == D("0.00") and row.dso is None and row.cei is None
