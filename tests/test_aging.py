"""Open balances and aging on the hand-made book in tests/books.py (figures worked out there)."""

from datetime import date
from decimal import Decimal

import pytest

from core.errors import InputError

from core.db import read_only
from metrics import aging_buckets, aging_by_customer, ar_summary, ar_trend, bucket_labels, month_ends, open_invoices_as_of
from tests.books import write_sample_book

D = Decimal


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    return write_sample_book(tmp_path_factory.mktemp("book") / "book.duckdb")


def buckets_at(db, as_of, **options):
    with read_only(db) as con:
        frame = aging_buckets(con, as_of, **options)
    return dict(zip(frame["bucket"].astype(str), frame["amount"]))


def test_due_date_buckets_at_month_end(sample_db):
    assert buckets_at(sample_db, date(2026, 3, 31)) == {
        "current": D("600.00"),   # I1 after the 400.00 partial payment
        "1-30": D("486.67"),      # I6: 666.67 CAD x 0.73
        "31-60": D("200.00"),     # I2 less the 50.00 credit memo
        "61-90": D("80.00"),      # I8, no due date: due on its invoice date
        "91+": D("120.50"),       # I3
    }


def test_report_date_method_ignores_later_receipts(sample_db):
    # On 03-10 the 03-15, 03-20 and 03-25 payments have not happened yet.
    assert buckets_at(sample_db, date(2026, 3, 10)) == {
        "current": D("1000.00"),               # I1 due 03-31
        "1-30": D("200.00") + D("300.00") + D("730.00"),  # I2 24 dpd, I4 3 dpd, I6 7 dpd
        "31-60": D("80.00"),                   # I8 49 dpd
        "61-90": D("0.00"),
        "91+": D("120.50"),                    # I3 99 dpd
    }


def test_invoice_date_basis(sample_db):
    assert buckets_at(sample_db, date(2026, 3, 31), basis="invoice") == {
        "0-30": D("600.00"),                 # I1, 30 days old
        "31-60": D("486.67"),                # I6, 58 days
        "61-90": D("200.00") + D("80.00"),   # I2 75 days, I8 70 days
        "91+": D("120.50"),                  # I3 150 days
    }


def test_open_invoices_list_days_past_due_and_exclusions(sample_db):
    with read_only(sample_db) as con:
        frame = open_invoices_as_of(con, date(2026, 3, 31))
    rows = {r.invoice_id: (r.days_past_due, str(r.bucket), r.home_open_amount) for r in frame.itertuples()}
    assert rows == {
        "I1": (0, "current", D("600.00")),
        "I2": (45, "31-60", D("200.00")),
        "I3": (120, "91+", D("120.50")),
        "I6": (28, "1-30", D("486.67")),
        "I8": (70, "61-90", D("80.00")),
    }  # I4 paid, I5 voided, I7 dated after the as-of date
    assert frame.loc[frame.invoice_id == "I6", "open_amount"].item() == D("666.67")
    assert isinstance(frame["home_open_amount"].iloc[0], Decimal)


def test_summary_headline_figures(sample_db):
    with read_only(sample_db) as con:
        summary = ar_summary(con, date(2026, 3, 31)).iloc[0]
    assert summary.total_ar == D("1487.17")
    assert summary.current_ar == D("600.00")
    assert summary.overdue_ar == D("887.17")
    assert summary.pct_current == pytest.approx(600 / 1487.17)
    assert summary.open_invoices == 5


def test_trend_by_month_end(sample_db):
    with read_only(sample_db) as con:
        trend = ar_trend(con, date(2026, 3, 31), months=3).set_index("as_of")
    assert list(trend.index) == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]
    # 01-31: I2 250.00 current, I8 80.00 11 dpd, I3 120.50 61 dpd
    assert trend.loc[date(2026, 1, 31), ["current", "1-30", "61-90", "total"]].tolist() == [
        D("250.00"), D("80.00"), D("120.50"), D("450.50")]
    # 02-28: adds I4 300.00 and I6 730.00, both not yet due
    assert trend.loc[date(2026, 2, 28), "current"] == D("1030.00")
    assert trend.loc[date(2026, 2, 28), "total"] == D("1480.50")
    assert trend.loc[date(2026, 3, 31), "total"] == D("1487.17")


@pytest.mark.parametrize(
    "as_of, months, expected",
    [
        (date(2026, 3, 31), 2, [date(2026, 2, 28), date(2026, 3, 31)]),
        (date(2026, 3, 15), 3, [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 15)]),
        (date(2024, 3, 1), 2, [date(2024, 2, 29), date(2024, 3, 1)]),
    ],
)
def test_month_ends(as_of, months, expected):
    assert month_ends(as_of, months) == expected


@pytest.mark.parametrize(
    "options, expected",
    [
        ({}, ["current", "1-30", "31-60", "61-90", "91+"]),
        ({"period_days": 15, "periods": 3}, ["current", "1-15", "16-30", "31+"]),
        ({"basis": "invoice"}, ["0-30", "31-60", "61-90", "91+"]),
    ],
)
def test_bucket_labels(options, expected):
    assert bucket_labels(**options) == expected


def test_unknown_basis_is_refused():
    with pytest.raises(InputError, match="unknown basis 'paid'"):
        bucket_labels("paid")


def customer_rows(db, as_of=date(2026, 3, 31), **options):
    with read_only(db) as con:
        frame = aging_by_customer(con, as_of, **options)
    columns = [c for c in frame.columns if c not in ("source", "company_id", "customer", "email", "disputed")]
    return [tuple(row) for row in frame[columns].itertuples(index=False)]


def test_aging_by_customer_rolls_sub_customers_up_and_lists_credits_apart(sample_db):
    assert customer_rows(sample_db) == [
        # id   current      1-30          31-60         61-90        91+            total            credit
        ("C1", D("600.00"), D("0.00"), D("200.00"), D("80.00"), D("0.00"), D("880.00"), D("0.00")),  # with C4
        ("C3", D("0.00"), D("486.67"), D("0.00"), D("0.00"), D("0.00"), D("486.67"), D("0.00")),
        ("C2", D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("120.50"), D("120.50"), D("75.00")),  # P6
        ("C5", D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("25.00")),  # credit only
    ]


def test_aging_by_customer_without_roll_up_shows_the_sub_customer(sample_db):
    rows = {row[0]: row[6] for row in customer_rows(sample_db, roll_up=False)}
    assert rows == {"C1": D("800.00"), "C4": D("80.00"), "C3": D("486.67"), "C2": D("120.50"), "C5": D("0.00")}


def test_aging_by_customer_filters(sample_db):
    past_due = customer_rows(sample_db, past_due_only=True)
    assert [(row[0], row[1], row[6]) for row in past_due] == [
        ("C3", D("0.00"), D("486.67")),
        ("C1", D("0.00"), D("280.00")),  # I2 200.00 + I8 80.00; I1 is not yet due
        ("C2", D("0.00"), D("120.50")),
    ]
    assert [row[0] for row in customer_rows(sample_db, min_amount=200)] == ["C1", "C3"]


def test_credit_is_measured_at_the_as_of_date(sample_db):
    # Before P6 (03-28) Birch had no credit; CM1 was applied the day it was issued.
    rows = {row[0]: row[-1] for row in customer_rows(sample_db, as_of=date(2026, 3, 27))}
    assert rows == {"C1": D("0.00"), "C3": D("0.00"), "C2": D("0.00"), "C5": D("25.00")}
