"""The HighRadius payment-date sample's reader (etl/sources/highradius_sample.py), on a few rows in
the file's own format (its header, YYYYMMDD.0 due dates, float-written ids, open rows with no
clear date), every figure worked out by hand below. The real file is not in the repository
(docs/sources/highradius_sample.md says where it is)."""

from datetime import date
from decimal import Decimal

import pytest

from core.db import read_only
from core.errors import InputError
from etl.sources.highradius_sample import ledger, read_books, read_rows
from metrics import aging_buckets, invoice_payment_days
from tests.test_cli import etl_here

HEADER = ("business_code,cust_number,name_customer,clear_date,buisness_year,doc_id,posting_date,document_create_date,"
          "document_create_date.1,due_in_date,invoice_currency,document type,posting_id,area_business,"
          "total_open_amount,baseline_create_date,cust_payment_terms,invoice_id,isOpen\n")
ROWS = [  # row 2 of the file first
    "U001,0200769623,WAL-MAR corp,2020-02-11 00:00:00,2020.0,1930438491.0,2020-01-26,20200125,20200126,20200210.0,"
    "USD,RV,1.0,,54273.28,20200126.0,NAH4,1930438491.0,0",
    "U001,0200980828,BEN E ,2019-08-08 00:00:00,2019.0,1929646410.0,2019-07-22,20190722,20190722,20190811.0,"
    "USD,RV,1.0,,79656.6,20190722.0,NAD1,1929646410.0,0",
    "CA02,0140105686,SYSC llc,,2020.0,2960623488.0,2020-03-30,20200330,20200330,20200410.0,"
    "CAD,RV,1.0,,3299.7,20200331.0,CA10,2960623488.0,1",
    # the first customer again, its number written without the leading zero
    "U001,200769623,WAL-MAR us,2019-11-25 00:00:00,2019.0,1930148220.0,2019-11-13,20191113,20191113,20191128.0,"
    "USD,RV,1.0,,33133.29,20191113.0,NAH4,1930148220.0,0",
    "U001,200769623,WAL-MAR us,2019-11-25 00:00:00,2019.0,1930148220.0,2019-11-13,20191113,20191113,20191128.0,"
    "USD,RV,1.0,,33133.29,20191113.0,NAH4,1930148220.0,0",
    "U001,0200744019,TARG us,,2020.0,1930659387.0,2020-03-19,20200318,20200319,20200403.0,"
    "USD,RV,1.0,,11173.02,20200319.0,NAA8,1930659387.0,1",
    "CA02,0140106181,THE  corporation,2019-12-04 00:00:00,2019.0,2960581231.0,2019-09-20,20190920,20190920,"
    "20191004.0,CAD,RV,1.0,,2253.86,20190924.0,CA10,2960581231.0,0",
]


def write(path, rows) -> str:
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return str(path)


@pytest.fixture
def sample(tmp_path):
    return write(tmp_path / "dataset.csv", ROWS)


def test_the_usd_invoices_become_the_books_each_cleared_one_paid_in_full_on_its_clear_date(sample):
    company, books = read_books(sample)
    # 7 rows: one repeats doc_id 1930148220, two are in CAD -> 4 invoices of 3 customers.
    assert list(books["invoices"]["invoice_id"]) == ["1930438491", "1929646410", "1930148220", "1930659387"]
    assert list(books["customers"]["name"]) == ["TARG us (0200744019)", "WAL-MAR corp (0200769623)",
                                                "BEN E (0200980828)"]
    assert list(books["invoices"]["customer_id"]) == ["0200769623", "0200980828", "0200769623", "0200744019"]
    assert list(books["invoices"]["due_date"]) == [date(2020, 2, 10), date(2019, 8, 11), date(2019, 11, 28),
                                                   date(2020, 4, 3)]
    # The open invoice (1930659387) has no payment; the three cleared ones one each, on the clear date.
    assert list(books["payments"]["txn_date"]) == [date(2020, 2, 11), date(2019, 8, 8), date(2019, 11, 25)]
    assert sum(books["payments"]["amount"]) == Decimal("54273.28") + Decimal("79656.60") + Decimal("33133.29")
    assert sum(books["invoices"]["total"]) == Decimal("178236.19")  # the above + 11,173.02 open
    assert company.data_through == date(2020, 2, 11)  # the last clear date of the books kept
    assert company.home_currency == "USD"


def test_what_is_left_out_is_counted(sample, tmp_path):
    rows = read_rows(sample)
    kept, notes = ledger(rows)
    assert len(rows) == 7 and len(kept) == 4
    assert notes == ["1 row repeating the doc_id of an earlier row left out (the earlier row kept)",
                     "2 rows (2 in CAD) left out: the books are in USD and the file holds no exchange rate"]
    changed = ROWS[:4] + [ROWS[4].replace("33133.29", "33133.30", 1)]
    assert ledger(read_rows(write(tmp_path / "changed.csv", changed)))[1][0].endswith("(the earlier row kept); 1 of them differ from it")


def test_imported_days_to_pay_and_open_balances_are_the_files(sample, tmp_path):
    db = tmp_path / "hr.duckdb"
    done = etl_here("import", "highradius-sample", sample, "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "HighRadius A/R sample (USD): 3 customers, 4 invoices, 3 payments, 3 applications.",
        "  1 row repeating the doc_id of an earlier row left out (the earlier row kept).",
        "  2 rows (2 in CAD) left out: the books are in USD and the file holds no exchange rate."]
    with read_only(db) as con:
        paid = invoice_payment_days(con, date(2020, 2, 11)).set_index("invoice_id")
        # clear - posting, clear - due: 02-11 - 01-26 = 16, 02-11 - 02-10 = 1; 08-08 - 07-22 = 17,
        # 08-08 - 08-11 = -3; 11-25 - 11-13 = 12, 11-25 - 11-28 = -3.
        assert paid.loc[["1930438491", "1929646410", "1930148220"], ["days_to_pay", "days_late"]].values.tolist() == [
            [16, 1], [17, -3], [12, -3]]
        on_feb_10 = aging_buckets(con, date(2020, 2, 10))  # only 1930438491 is open: posted 01-26, cleared 02-11
        at_end_of_march = aging_buckets(con, date(2020, 3, 31))  # only the open row, due 04-03: current
    assert sum(on_feb_10["amount"]) == Decimal("54273.28") and on_feb_10["invoices"].sum() == 1
    assert on_feb_10["amount"].iloc[0] == Decimal("54273.28")  # due 02-10: not yet overdue on the 10th
    assert sum(at_end_of_march["amount"]) == at_end_of_march["amount"].iloc[0] == Decimal("11173.02")


def test_bad_rows_are_named_by_row_and_column_and_nothing_is_written(sample, tmp_path):
    db = tmp_path / "hr.duckdb"
    assert etl_here("import", "highradius-sample", sample, "--db", str(db)).returncode == 0
    with read_only(db) as con:
        before = con.execute("SELECT count(*), sum(total) FROM invoices").fetchall()
    bad = write(tmp_path / "bad.csv", [
        ROWS[0][:-1] + "1",  # open, yet cleared on 2020-02-11
        ROWS[1].replace("20190811.0", "2019-08-11"),  # a due date not as the file writes them
        ROWS[3].replace("1930148220.0,2019-11-13", "1930148220.0,"),  # no posting date
    ])
    refused = etl_here("import", "highradius-sample", bad, "--db", str(db))
    assert refused.returncode == 2
    assert "bad.csv row 2, column 'clear_date': is 2020-02-11 but isOpen is 1 (open)" in refused.stderr
    assert "bad.csv row 3, column 'due_in_date': '2019-08-11' is not a date as the file writes them" in refused.stderr
    assert "bad.csv row 4, column 'posting_date': is empty" in refused.stderr
    with read_only(db) as con:
        assert con.execute("SELECT count(*), sum(total) FROM invoices").fetchall() == before


def test_another_file_is_refused_naming_what_is_missing(tmp_path):
    other = tmp_path / "invoices.csv"
    other.write_text("invoice,amount\nI1,10.00\n")
    with pytest.raises(InputError, match=r"not the HighRadius payment-date sample \(missing columns: business_code, "
                                         r"cust_number, name_customer, clear_date, doc_id"):
        read_rows(other)
