"""Real data nobody here wrote: IBM's public A/R sample, loaded through etl/ibm_ar_sample.py.

Its own DaysToSettle (= SettledDate - InvoiceDate) and DaysLate (= max(0, SettledDate - DueDate))
columns must equal what ledgerlight computes, for every one of the 2,466 invoices.
"""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.db import read_only
from etl.sources.ibm_sample import read_rows
from metrics import aging_buckets, invoice_payment_days
from tests.test_cli import etl_here

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "public" / "WA_Fn-UseC_-Accounts-Receivable.csv"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The sample imported as a user would: `python -m etl import ibm-sample FILE`."""
    db = tmp_path_factory.mktemp("ibm") / "ibm.duckdb"
    done = etl_here("import", "ibm-sample", str(SAMPLE), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "IBM A/R sample: 100 customers, 2,466 invoices, 2,466 payments, 2,466 applications."
    return db, read_rows(SAMPLE)


def test_every_invoice_days_to_settle_and_days_late_match_the_file(loaded):
    path, rows = loaded
    with read_only(path) as con:
        paid = invoice_payment_days(con, date(2014, 1, 9)).set_index("invoice_id")
    assert len(paid) == len(rows) == 2466
    file_days = rows.set_index("invoiceNumber")[["DaysToSettle", "DaysLate"]].astype(int)
    ours = paid.loc[file_days.index]
    assert (ours["days_to_pay"] == file_days["DaysToSettle"]).all()
    assert (ours["days_late"].clip(lower=0) == file_days["DaysLate"]).all()
    assert sum(paid["home_total"], start=Decimal(0)) == Decimal("147703.18")


@pytest.mark.parametrize("as_of", [date(2012, 6, 30), date(2013, 3, 31), date(2013, 12, 31)])
def test_open_balance_at_a_date_matches_the_file(loaded, as_of):
    path, rows = loaded
    # Open at d: invoiced on or before d and settled after d (the data set README's rule).
    is_open = (rows["InvoiceDate"] <= as_of) & (rows["SettledDate"] > as_of)
    expected = sum(rows.loc[is_open, "InvoiceAmount"], start=Decimal("0.00"))
    overdue = sum(rows.loc[is_open & (rows["DueDate"] < as_of), "InvoiceAmount"], start=Decimal("0.00"))
    with read_only(path) as con:
        buckets = aging_buckets(con, as_of)
    assert sum(buckets["amount"], start=Decimal("0.00")) == expected > 0
    assert sum(buckets["amount"].iloc[1:], start=Decimal("0.00")) == overdue
    assert buckets["invoices"].sum() == is_open.sum()


def test_another_file_is_refused_naming_what_is_missing(loaded, tmp_path):
    db, _ = loaded
    other = tmp_path / "invoices.csv"
    other.write_text("invoice,amount\nI1,10.00\n")
    with read_only(db) as con:
        before = con.execute("SELECT count(*), sum(total) FROM invoices").fetchall()
    refused = etl_here("import", "ibm-sample", str(other), "--db", str(db))
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {other}: not the IBM A/R sample (missing columns: countryCode, customerID")
    with read_only(db) as con:
        assert con.execute("SELECT count(*), sum(total) FROM invoices").fetchall() == before
