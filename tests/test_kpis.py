"""DSO family, CEI, turnover and bad debt on a book worked out by hand, and the spec's examples.

As of 2026-06-30 with the 90-day window, the last three whole months (2026-03-31, 2026-06-30]:
April to June, 91 days:
  J0 6,000.00 dated 03-01 due 03-31: 3,000 paid 03-20, 3,000 paid 04-20 (20 days late)
  J4   600.00 dated 01-02 due 02-01: written off by credit memo 06-01
  J5   400.00 dated 02-15 due 03-17: never paid (105 days past due at the end: 91+)
  J1 2,000.00 dated 04-15 due 05-15: paid in full 05-25 (10 days late)
  J2 3,000.00 dated 05-15 due 06-14: 1,000 paid 06-10 (2,000 open, 16 days past due)
  J3 1,000.00 dated 06-15 due 07-15: open, current
Credit sales in the window = J1 + J2 + J3 = 6,000.00
A/R at the start (03-31) = J0 3,000 + J4 600 + J5 400 = 4,000.00
A/R at the end = J2 2,000 + J3 1,000 + J5 400 = 3,400.00, of which current 1,000, 91+ 400
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.db import read_only
from metrics import collection_effectiveness, dso_countback, kpi_series, kpis
from metrics.kpis import months_before
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
    assert row.days_in_window == 91 and row.window_months == 3 and row.window_start == date(2026, 4, 1)
    assert row.dso == pytest.approx(3400 / 6000 * 91)   # 51.57
    assert row.bpdso == pytest.approx(1000 / 6000 * 91)  # 15.17
    assert row["add_crf"] == pytest.approx(2400 / 6000 * 91)  # DSO - BPDSO = 36.4
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


# Billed on the 1st: Harbor Dental 2,000.00 each month (Net 30) from November, paid the November
# invoice on 12-01 and nothing since; a one-off 100.00 dated 01-15 (Net 30), open.
HARBOR = [
    {"invoice_id": f"H{m}", "customer_id": "H", "txn_date": day, "due_date": day + timedelta(days=30), "total": "2000.00"}
    for m, day in ((11, date(2025, 11, 1)), (12, date(2025, 12, 1)), (1, date(2026, 1, 1)))
] + [{"invoice_id": "H-extra", "customer_id": "H", "txn_date": date(2026, 1, 15), "due_date": date(2026, 2, 14),
      "total": "100.00", "kind": "project"}]


def test_a_30_day_window_on_a_book_billed_on_the_1st(tmp_path):
    # As of 01-31 the 30-day window is the last month, (12-31, 01-31], 31 days: it holds January's
    # billing day, so credit sales are 2,000 + 100 = 2,100. (Thirty days back, (01-01, 01-31],
    # missed the 1st: sales 100 and DSO 4,100 / 100 x 30 = 1,230 days.)
    # A/R at 01-31: December's 2,000 (31 days past due) + January's 2,000 + 100 (current) = 4,100.
    # DSO = 4,100 / 2,100 x 31 = 60.52; best possible = 2,100 / 2,100 x 31 = 31.0.
    # Countback: January's 2,100 (31 days), then December's 2,000 uses up the rest: 31 + 31 = 62.0.
    # CEI (N = 1): A/R at 12-31 was December's 2,000 (current); (2,000 + 2,100 - 4,100) /
    # (2,000 + 2,100 - 2,100) = 0 %: nothing was collected in January.
    payments = [{"payment_id": "PH11", "customer_id": "H", "txn_date": date(2025, 12, 1), "amount": "2000.00", "method": "check"}]
    applications = [{"application_id": "aH11", "invoice_id": "H11", "payment_id": "PH11", "applied_on": date(2025, 12, 1),
                     "amount": "2000.00"}]
    path = write_book(tmp_path / "harbor.duckdb", [{"customer_id": "H", "name": "Harbor Dental"}], HARBOR, payments,
                      applications=applications)
    with read_only(path) as con:
        row = kpis(con, date(2026, 1, 31), window_days=30).iloc[0]
        series = kpi_series(con, date(2026, 1, 31), window_days=30, months=2).set_index("as_of")
    assert (row.window_start, row.days_in_window, row.credit_sales) == (date(2026, 1, 1), 31, D("2100.00"))
    assert row.total_ar == D("4100.00")
    assert row.dso == pytest.approx(4100 / 2100 * 31)
    assert row.bpdso == pytest.approx(31.0)
    assert row.dso_countback == pytest.approx(62.0)
    assert row.cei == pytest.approx(0.0)
    assert row.notes == []
    # The monthly series uses the same windows: at 12-31 December's sales (2,000) against A/R of
    # December's 2,000: DSO 2,000 / 2,000 x 31 = 31.0, as the tile would show on that day.
    assert series.loc[date(2025, 12, 31), "dso"] == pytest.approx(31.0)
    assert series.loc[date(2026, 1, 31), "dso"] == pytest.approx(row.dso)


@pytest.mark.parametrize("day, months, before", [
    (date(2026, 1, 31), 1, date(2025, 12, 31)), (date(2026, 3, 31), 1, date(2026, 2, 28)),
    (date(2026, 3, 30), 1, date(2026, 2, 28)), (date(2026, 6, 30), 3, date(2026, 3, 31)),
    (date(2026, 1, 15), 12, date(2025, 1, 15)), (date(2024, 2, 29), 12, date(2023, 2, 28)),
])
def test_windows_count_back_whole_months(day, months, before):
    assert months_before(day, months) == before


def test_a_kpi_that_cannot_be_computed_or_is_out_of_range_is_explained(tmp_path):
    # January without billing: December's 2,000 is all the A/R, nothing was sold, so DSO is not
    # computed (and said so); CEI is (2,000 + 0 - 2,000) / (2,000 + 0 - 0) = 0 %.
    quiet = write_book(tmp_path / "quiet.duckdb", [{"customer_id": "H", "name": "Harbor Dental"}],
                       [row for row in HARBOR if row["invoice_id"] == "H12"])
    # Three months billed 1,000.00 on the 1st (Net 30) and never paid, on top of 500.00 dated 03-01
    # (due 03-31, current at the window's start): CEI (N = 3) = (500 + 3,000 / 3 - 3,500) /
    # (500 + 1,000 - 1,000 not yet due) = -400 %, outside 0-100 %, and said why.
    grown = write_book(tmp_path / "grown.duckdb", [{"customer_id": "G", "name": "Granite Law"}], [
        {"invoice_id": f"G{m}", "customer_id": "G", "txn_date": date(2026, m, 1), "due_date": date(2026, m, 1) + timedelta(days=30),
         "total": "500.00" if m == 3 else "1000.00"} for m in (3, 4, 5, 6)])
    with read_only(quiet) as con:
        no_sales = kpis(con, date(2026, 1, 31), window_days=30).iloc[0]
    with read_only(grown) as con:
        growing = kpis(con, date(2026, 6, 30), window_days=90).iloc[0]
    assert no_sales.dso is None and no_sales.cei == 0
    assert no_sales.notes == ["No credit sales in the window: DSO, best possible DSO and the bad-debt ratio cannot be "
                              "computed."]
    assert growing.cei == pytest.approx(-400.0)
    assert growing.notes == ["CEI is -400.0 %, below 0 %: A/R grew by more than a month's credit sales over the "
                             "window, as little was collected while billing went on."]


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
