"""Books from exported files (etl/sources/files.py): one small ledger worked by hand, exported in
every shape ledgerlight reads (tests/fixtures/files/, built as NOTES.md there cites), each
imported through the real pipeline and aged to the cent against the ledger itself; bad files
refused with the file, row, column and fix, and nothing written."""

import hashlib
import json
from datetime import date
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import Workbook

from core.db import read_only
from core.errors import InputError
from etl import pipeline
from etl.cli import main
from etl.sources import files
from metrics import aging_by_customer, kpis, open_invoices_as_of, snapshot_limit
from tests.books import write_book
from tests.conftest import DEMO_AS_OF
from tests.test_app import open_page, run_app
from tests.test_cli import etl_here

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "files"
AS_OF = date(2026, 3, 31)

# The ledger every fixture describes (Harbor IT Services), applied oldest invoice first:
#   Acme   1001 1,000.00 (01-10, due 02-09) paid 02-20; 1004 500.00 (02-10, due 03-12) 200.00 paid 03-25;
#          1007 800.00 (03-10, due 04-09) unpaid
#   Birch  1002 250.00 (12-15, due 01-14) less credit memo 100.00 (03-01); 1005 400.00 (02-15, due 03-17);
#          1006 voided
#   Cedar  1003 600.00 (01-20, due 02-19) paid by 700.00 on 03-05: 100.00 unapplied
#   Dune   1008 120.50 (03-20, due on receipt)
# Aged by due date at 2026-03-31:
#   Acme   current 800.00 (1007), 1-30 300.00 (1004: 19 days)     = 1,100.00
#   Birch  1-30 400.00 (1005: 14 days), 61-90 150.00 (1002: 76)    =   550.00
#   Cedar  nothing owed; 100.00 unapplied credit
#   Dune   1-30 120.50 (11 days)                                   =   120.50
AGING = {
    "Acme Dental": ("800.00", "300.00", "0.00", "0.00", "0.00", "1100.00", "0.00"),
    "Birch Legal": ("0.00", "400.00", "0.00", "150.00", "0.00", "550.00", "0.00"),
    "Cedar CPA": ("0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "100.00"),
    "Dune Clinic": ("0.00", "120.50", "0.00", "0.00", "0.00", "120.50", "0.00"),
}
COLUMNS = ["current", "1-30", "31-60", "61-90", "91+", "total", "unapplied_credit"]


def write_ledger(path):
    customers = [{"customer_id": f"C{n}", "name": name} for n, name in enumerate(AGING, start=1)]
    invoices = [
        {"invoice_id": "1001", "customer_id": "C1", "txn_date": date(2026, 1, 10), "due_date": date(2026, 2, 9), "total": "1000.00"},
        {"invoice_id": "1002", "customer_id": "C2", "txn_date": date(2025, 12, 15), "due_date": date(2026, 1, 14), "total": "250.00"},
        {"invoice_id": "1003", "customer_id": "C3", "txn_date": date(2026, 1, 20), "due_date": date(2026, 2, 19), "total": "600.00"},
        {"invoice_id": "1004", "customer_id": "C1", "txn_date": date(2026, 2, 10), "due_date": date(2026, 3, 12), "total": "500.00"},
        {"invoice_id": "1005", "customer_id": "C2", "txn_date": date(2026, 2, 15), "due_date": date(2026, 3, 17), "total": "400.00"},
        {"invoice_id": "1006", "customer_id": "C2", "txn_date": date(2026, 3, 2), "due_date": date(2026, 4, 1), "total": "90.00", "status": "voided"},
        {"invoice_id": "1007", "customer_id": "C1", "txn_date": date(2026, 3, 10), "due_date": date(2026, 4, 9), "total": "800.00"},
        {"invoice_id": "1008", "customer_id": "C4", "txn_date": date(2026, 3, 20), "due_date": date(2026, 3, 20), "total": "120.50"},
    ]
    payments = [
        {"payment_id": "P1", "customer_id": "C1", "txn_date": date(2026, 2, 20), "amount": "1000.00"},
        {"payment_id": "P2", "customer_id": "C3", "txn_date": date(2026, 3, 5), "amount": "700.00", "unapplied_amount": "100.00"},
        {"payment_id": "P3", "customer_id": "C1", "txn_date": date(2026, 3, 25), "amount": "200.00"},
    ]
    credit_memos = [{"credit_memo_id": "CM1", "customer_id": "C2", "txn_date": date(2026, 3, 1), "total": "100.00"}]
    applications = [
        {"application_id": "A1", "invoice_id": "1001", "payment_id": "P1", "applied_on": date(2026, 2, 20), "amount": "1000.00"},
        {"application_id": "A2", "invoice_id": "1003", "payment_id": "P2", "applied_on": date(2026, 3, 5), "amount": "600.00"},
        {"application_id": "A3", "invoice_id": "1004", "payment_id": "P3", "applied_on": date(2026, 3, 25), "amount": "200.00"},
        {"application_id": "A4", "invoice_id": "1002", "payment_id": None, "credit_memo_id": "CM1",
         "applied_on": date(2026, 3, 1), "amount": "100.00"},
    ]
    return write_book(path, customers, invoices, payments, credit_memos, applications)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    return write_ledger(tmp_path_factory.mktemp("ledger") / "ledger.duckdb")


def aging_of(db, as_of=AS_OF) -> dict[str, tuple]:
    with read_only(db) as con:
        frame = aging_by_customer(con, as_of)
    return {row["customer"]: tuple(f"{row[c]:.2f}" for c in COLUMNS) for row in frame.to_dict("records")}


def import_files(db, *names, on=AS_OF, **options):
    chosen = files.SOURCE.importer.settings([str(FIXTURES / name) if "=" not in name else
                                             name.split("=")[0] + "=" + str(FIXTURES / name.split("=")[1])
                                             for name in names], on=on, **options)
    return pipeline.run(db, files.SOURCE, chosen)


SHAPES = {
    "zoho": ("zoho_invoices.csv", "zoho_payments.csv", "zoho_credit_notes.csv"),
    "sage": ("sage_invoices.csv", "sage_receipts.csv", "sage_credits.csv"),
    "qbd-customer-balance-detail": ("qbd_customer_balance_detail.csv",),
    "qbd-transaction-list-by-customer": ("qbd_transaction_list_by_customer.csv",),
    "qbd-open-invoices": ("qbd_open_invoices.csv",),
    "qbd-ar-aging-detail": ("qbd_ar_aging_detail.csv",),
}
SNAPSHOTS = {"qbd-open-invoices", "qbd-ar-aging-detail"}


def test_the_ledger_ages_as_worked_by_hand(ledger):
    assert aging_of(ledger) == AGING


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_ages_to_the_cent_like_the_ledger_it_describes(ledger, tmp_path, shape):
    db = tmp_path / "files.duckdb"
    result = import_files(db, *SHAPES[shape])
    assert aging_of(db) == aging_of(ledger) == AGING
    with read_only(db) as con:
        (company,) = con.execute("SELECT source, data_through, snapshot_on FROM companies").fetchall()
    assert company == ("files", AS_OF, AS_OF if shape in SNAPSHOTS else None)
    assert result.kind == "import"


@pytest.mark.parametrize("shape", sorted(set(SHAPES) - SNAPSHOTS))
def test_a_full_history_supports_everything_the_ledger_does(ledger, tmp_path, shape):
    db = tmp_path / "files.duckdb"
    import_files(db, *SHAPES[shape])
    february = date(2026, 2, 28)  # the aging at any earlier date, and the KPIs, need the history
    assert aging_of(db, february) == aging_of(ledger, february)
    with read_only(db) as con, read_only(ledger) as books:
        assert snapshot_limit(con, AS_OF) is None
        assert kpis(con, AS_OF, 90).round(6).to_dict("records") == kpis(books, AS_OF, 90).round(6).to_dict("records")


@pytest.mark.parametrize("shape", sorted(SNAPSHOTS))
def test_a_snapshot_says_it_knows_the_aging_at_its_date_only(tmp_path, shape, capsys):
    db = tmp_path / "files.duckdb"
    result = import_files(db, *SHAPES[shape], on=None)  # the report's own date, from its title
    assert result.describe().endswith("a snapshot of 31 March 2026: the aging is known at that date only.")
    with read_only(db) as con:
        assert snapshot_limit(con, AS_OF, history=False) is None
        assert snapshot_limit(con, date(2026, 2, 28), history=False) == (
            "The books of Harbor IT Services are a snapshot of what was open on 31 March 2026: the aging is known "
            "at that date only, not at 28 February 2026.")
        assert snapshot_limit(con, AS_OF).startswith(
            "The books of Harbor IT Services are a snapshot of what was open on 31 March 2026: ledgerlight knows the "
            "aging at that date, but not trends, sales, payment habits, autopay or forecasts")
    assert main(["report", "kpis", "--db", str(db)]) == 2
    assert "are a snapshot of what was open on 31 March 2026" in capsys.readouterr().err
    assert main(["report", "aging", "--db", str(db), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["total"] == "1770.50"


def qbd_workbook(csv_name: str) -> bytes:
    """The report as QuickBooks Desktop's Excel export lays it out: an 'Export Tips' sheet first,
    then the report with an empty spacer column beside every column (NOTES.md)."""
    import csv
    book = Workbook()
    book.active.title = "QuickBooks Export Tips"
    book.active.append(["Click Enable Editing to work with this spreadsheet."])
    sheet = book.create_sheet("Sheet1")
    for row in csv.reader((FIXTURES / csv_name).read_text().splitlines()):
        cells = []
        for value in row:
            cleaned = value.replace(",", "")
            try:
                cells += [float(cleaned) if "." in cleaned else value, None]
            except ValueError:
                cells += [value or None, None]
        sheet.append(cells)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_quickbooks_desktops_excel_export_reads_like_its_csv(tmp_path):
    db = tmp_path / "excel.duckdb"
    chosen = files.SOURCE.importer.settings(["open invoices.xlsx"], content=[qbd_workbook("qbd_open_invoices.csv")])
    pipeline.run(db, files.SOURCE, chosen)
    assert aging_of(db) == AGING


JOBS = b"""\
"Harbor IT Services"
"Open Invoices"
"As of March 31, 2026"
,,"Type","Date","Num","P. O. #","Terms","Due Date","Class","Aging","Open Balance"
"Dune Clinic",,,,,,,,,,
,"Lab",,,,,,,,,
,,"Invoice","03/20/2026","1008","","Due on receipt","03/20/2026","","11","120.50"
,"Total Lab",,,,,,,,,"120.50"
,,"Invoice","03/25/2026","1009","","Net 30","04/24/2026","","","75.00"
"Total Dune Clinic",,,,,,,,,,"195.50"
"TOTAL",,,,,,,,,,"195.50"
"""


def test_jobs_are_sub_customers_of_their_customer(tmp_path):
    db = tmp_path / "jobs.duckdb"
    pipeline.run(db, files.SOURCE, files.SOURCE.importer.settings(["open.csv"], content=[JOBS]))
    with read_only(db) as con:
        assert con.execute("SELECT customer_id, parent_id FROM customers ORDER BY 1").fetchall() == [
            ("Dune Clinic", None), ("Dune Clinic:Lab", "Dune Clinic")]
        assert con.execute("SELECT invoice_id, customer_id FROM invoices ORDER BY 1").fetchall() == [
            ("1008", "Dune Clinic:Lab"), ("1009", "Dune Clinic")]
    # the job's invoice rolls up into its customer's row
    assert aging_of(db)["Dune Clinic"] == ("75.00", "120.50", "0.00", "0.00", "0.00", "195.50", "0.00")


# --- re-imports --------------------------------------------------------------------------------


TABLES = ("companies", "customers", "invoices", "payments", "credit_memos", "applications", "recurring_schedules",
          "autopay_enrollments", "source_aging")


def books_digest(db) -> str:
    with read_only(db) as con:
        rows = [repr(con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()) for table in TABLES]
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def test_the_same_files_again_change_nothing_and_a_newer_export_updates_in_place(tmp_path):
    db = tmp_path / "books.duckdb"
    import_files(db, *SHAPES["zoho"])
    once = books_digest(db)
    import_files(db, *SHAPES["zoho"])
    assert books_digest(db) == once

    # April: 1007 paid in full on 04-09, a new invoice for Dune; the April export replaces March's books.
    april = tmp_path / "april"
    april.mkdir()
    (april / "invoices.csv").write_text((FIXTURES / "zoho_invoices.csv").read_text().replace(
        "Sent,USD,800.00,800.00", "Closed,USD,800.00,0.00") + "INV-1010,2026-04-10,2026-05-10,Dune Clinic,Sent,USD,60.00,60.00\n")
    (april / "payments.csv").write_text((FIXTURES / "zoho_payments.csv").read_text()
                                        + "4,2026-04-09,Acme Dental,ACH,800.00,INV-1007,800.00\n")
    chosen = files.SOURCE.importer.settings([str(april / "invoices.csv"), str(april / "payments.csv"),
                                             str(FIXTURES / "zoho_credit_notes.csv")], on=date(2026, 4, 15))
    pipeline.run(db, files.SOURCE, chosen)
    april_aging = aging_of(db, date(2026, 4, 15))
    assert april_aging["Acme Dental"] == ("0.00", "0.00", "300.00", "0.00", "0.00", "300.00", "0.00")
    assert april_aging["Dune Clinic"] == ("60.00", "120.50", "0.00", "0.00", "0.00", "180.50", "0.00")
    assert aging_of(db) == AGING  # the history to March is the same history
    with read_only(db) as con:
        assert con.execute("SELECT count(*) FROM companies").fetchone() == (1,)

    newer = books_digest(db)
    with pytest.raises(InputError, match="describe 2026-03-31, before the 2026-04-15 of the books loaded for "
                                         "Imported books: import the newer export, or confirm going back with --replace-all"):
        import_files(db, *SHAPES["zoho"])
    assert books_digest(db) == newer
    import_files(db, *SHAPES["zoho"], replace_all=True)
    assert books_digest(db) == once


def test_the_cli_imports_a_set_of_files(tmp_path):
    db = tmp_path / "cli.duckdb"
    done = etl_here("import", "files", *(str(FIXTURES / name) for name in SHAPES["zoho"]), "--db", str(db), "--on", "2026-03-31")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "zoho_invoices.csv, zoho_payments.csv, zoho_credit_notes.csv (8 invoices; 3 payments; 1 credit notes): "
        "4 customers, 8 invoices, 3 payments, 1 credit memos; the history to 31 March 2026.")



def test_the_cli_lists_importers_from_the_registry(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "files (file export)" in " ".join(capsys.readouterr().out.split())  # however argparse wraps the list
    assert main(["import", "autopay", str(FIXTURES / "zoho_invoices.csv"), str(FIXTURES / "zoho_payments.csv"),
                 "--db", str(tmp_path / "x.duckdb")]) == 2
    assert "reads one file at a time" in capsys.readouterr().err


def test_a_file_export_replaces_the_demo(demo_db, tmp_path):
    db = tmp_path / "demo.duckdb"
    db.write_bytes(demo_db.read_bytes())
    import_files(db, *SHAPES["qbd-open-invoices"])
    with read_only(db) as con:
        assert con.execute("SELECT source, company_id, name FROM companies").fetchall() == [
            ("files", "books", "Harbor IT Services")]


# --- bad files ---------------------------------------------------------------------------------


def replaced(fixture: str, old: str, new: str) -> bytes:
    text = (FIXTURES / fixture).read_text()
    assert old in text
    return text.replace(old, new, 1).encode()


BAD = [
    ("wrong layout", [("open.csv", replaced("qbd_open_invoices.csv", ',"Aging","Open Balance"', ',"Aging"'))],
     "open.csv is titled 'Open Invoices' but row 4 has the columns 'Type', 'Date', 'Num', 'P. O. #', 'Terms', "
     "'Due Date', 'Class', 'Aging': ledgerlight reads QuickBooks Desktop's Open Invoices, A/R Aging Detail, Customer "
     "Balance Detail, Transaction List by Customer with their standard columns"),
    ("another QuickBooks report", [("sales.csv", b'"Harbor IT Services"\n"Sales by Customer Detail"\n"All Transactions"\n'
                                                 b',"Type","Date","Num","Memo","Name","Item","Qty","Sales Price","Amount","Balance"\n'
                                                 b'"Acme Dental",,,,,,,,,,\n,"Invoice","01/10/2026","1001","","Acme Dental",'
                                                 b'"Managed","1","1,000.00","1,000.00","1,000.00"\n')],
     "sales.csv is QuickBooks Desktop's 'Sales by Customer Detail' report, which does not hold what customers owe "
     "invoice by invoice"),
    ("QuickBooks Online", [("qbo.csv", b"Harbor IT Services\nA/R Aging Detail\nAs of March 31, 2026\n\n"
                                       b"Date,Transaction Type,Num,Customer,Due Date,Past Due,Amount,Open Balance\n"
                                       b"03/10/2026,Invoice,1007,Acme Dental,04/09/2026,-9,800.00,800.00\n")],
     "qbo.csv looks like a QuickBooks Online report ('Transaction Type' / 'Past Due' columns), not a QuickBooks "
     "Desktop one: connect QuickBooks Online instead"),
    ("Xero summary", [("aged.csv", b"Aged Receivables Summary\nContact,Current,< 1 Month,1 Month,2 Months,3 Months,"
                                   b"Older,Total\nAcme Dental,800.00,300.00,0.00,0.00,0.00,0.00,1100.00\n")],
     "aged.csv looks like a Xero or aged-balance summary"),
    ("mixed currencies", [("invoices.csv", replaced("zoho_invoices.csv", "Birch Legal,Overdue,USD", "Birch Legal,Overdue,CAD")),
                          ("payments.csv", (FIXTURES / "zoho_payments.csv").read_bytes())],
     "invoices.csv row 3: an amount in CAD, not the home currency USD, with no exchange rate: add an exchange_rate "
     "column (CAD to USD), or export it in USD"),
    ("duplicated invoice number", [("invoices.csv", replaced("zoho_invoices.csv", "INV-1005,2026-02-15", "INV-1004,2026-02-15")),
                                   ("payments.csv", (FIXTURES / "zoho_payments.csv").read_bytes())],
     "invoices.csv row 6, column 'Invoice Number': invoice INV-1004 is also on invoices.csv row 5, with a different "
     "customer, date or amount"),
    ("duplicated QuickBooks invoice", [("open.csv", replaced("qbd_open_invoices.csv", '"1005"', '"1004"'))],
     "open.csv row 11, column 'Num': Invoice 1004 is also on open.csv row 6: every invoice number must be one invoice"),
    ("section total", [("open.csv", replaced("qbd_open_invoices.csv", '"Total Acme Dental",,,,,,,,,"1,100.00"',
                                             '"Total Acme Dental",,,,,,,,,"1,200.00"'))],
     "open.csv row 8, column 'Open Balance': 'Total Acme Dental' says 1,200.00 but its rows add up to 1,100.00: "
     "amounts do not add up"),
    ("running balance", [("cbd.csv", replaced("qbd_customer_balance_detail.csv", '"-200.00","1,100.00"', '"-200.00","1,000.00"'))],
     "cbd.csv row 10, column 'Balance': the balance is 1,000.00 after an amount of -200.00, but the rows above make "
     "it 1,100.00"),
    ("applied beyond the invoice", [("invoices.csv", (FIXTURES / "zoho_invoices.csv").read_bytes()),
                                    ("payments.csv", replaced("zoho_payments.csv", "INV-1004,200.00", "INV-1004,600.00"))],
     "payments.csv row 4: applies 600.00 to invoice 'INV-1004', which has 200.00 left to pay"),
    ("balance not explained", [("invoices.csv", replaced("zoho_invoices.csv", "500.00,300.00", "500.00,250.00")),
                               ("payments.csv", (FIXTURES / "zoho_payments.csv").read_bytes()),
                               ("credits.csv", (FIXTURES / "zoho_credit_notes.csv").read_bytes())],
     "invoices.csv row 5: the export says 250.00 of invoice INV-1004 is open, but its customer's payments and "
     "credits leave 300.00 open: amounts do not add up"),
    ("aging period", [("aging.csv", replaced("qbd_ar_aging_detail.csv", '"","76","150.00"', '"","16","150.00"'))],
     "aging.csv row 15, column 'Aging': 16 days past the due date 2026-01-14 means the report is as of 2026-01-30, "
     "not 2026-03-31"),
    ("a period, not the history", [("cbd.csv", replaced("qbd_customer_balance_detail.csv", '"All Transactions"',
                                                        '"January 1 through March 31, 2026"'))],
     "cbd.csv is a Customer Balance Detail for January 1 through March 31, 2026 only: a history must start at the "
     "beginning; run the report with Dates: All"),
    ("no payments, no balances", [("invoices.csv", b"Invoice Number,Customer,Date,Total\nINV-1,Acme Dental,2026-03-01,100.00\n")],
     "invoices.csv: invoices but no payments, and no balance column: ledgerlight cannot tell what has been paid"),
    ("unknown kind", [("export.csv", b"Ref,Who,When,How much\n1,Acme Dental,2026-03-01,100.00\n")],
     "export.csv: cannot tell whether it holds invoices, payments or credit notes"),
    ("bad cells", [("invoices.csv", replaced("zoho_invoices.csv", "2026-03-20,2026-03-20,Dune Clinic,Overdue,USD,120.50",
                                             "2026-13-20,2026-03-20,Dune Clinic,Overdue,USD,12O.50")),
                   ("payments.csv", (FIXTURES / "zoho_payments.csv").read_bytes())],
     "invoices.csv row 10, column 'Invoice Date': '2026-13-20' is not a date"),
]


@pytest.mark.parametrize("case, uploads, message", BAD, ids=[case[0] for case in BAD])
def test_a_bad_file_is_refused_with_where_and_how_to_fix_and_nothing_is_written(ledger, tmp_path, case, uploads, message):
    db = tmp_path / "books.duckdb"
    import_files(db, *SHAPES["qbd-customer-balance-detail"])
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    names, contents = zip(*uploads)
    with pytest.raises(InputError) as refused:
        pipeline.run(db, files.SOURCE, files.SOURCE.importer.settings(list(names), content=list(contents), on=AS_OF))
    assert str(refused.value).startswith(message)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_every_bad_cell_of_every_file_is_listed_at_once():
    bad = replaced("zoho_invoices.csv", "2025-12-15,2026-01-14,Birch Legal,Overdue,USD,250.00",
                   "2025-12-15,2026-01-14,Birch Legal,Overdue,USD,-250.00").replace(b"1000.00,0.00", b"1000.005,0.00")
    with pytest.raises(InputError) as refused:
        files.read_files(files.SOURCE.importer.settings(["invoices.csv", "payments.csv"], content=[
            bad, (FIXTURES / "zoho_payments.csv").read_bytes()], on=AS_OF), AS_OF)
    assert refused.value.problems == [
        "invoices.csv row 2, column 'Total': '1000.005' has more than 2 decimal places",
        "invoices.csv row 3, column 'Total': -250.00 is negative: an invoice is recorded as a positive amount (a "
        "refund or a credit goes in its own file)",
    ]


def test_a_mapping_names_a_header_of_one_of_the_files(tmp_path):
    invoices = (FIXTURES / "zoho_invoices.csv").read_bytes().replace(b"Customer Name", b"Bill To")
    db = tmp_path / "mapped.duckdb"
    chosen = files.SOURCE.importer.settings(["invoices.csv", "payments.csv", "credits.csv"], content=[
        invoices, (FIXTURES / "zoho_payments.csv").read_bytes(), (FIXTURES / "zoho_credit_notes.csv").read_bytes()],
        mapping={"customer": "Bill To"}, on=AS_OF)
    pipeline.run(db, files.SOURCE, chosen)
    assert aging_of(db) == AGING
    misspelt = files.SOURCE.importer.settings(["invoices.csv"], content=[invoices], mapping={"customer": "Bill-To Name"})
    with pytest.raises(InputError, match="no file has the header 'Bill-To Name' \\(mapped to customer\\)|invoices.csv has no customer"):
        pipeline.run(db, files.SOURCE, misspelt)


def qbd_aging_detail_of(db, as_of) -> bytes:
    """A book's open invoices and credits at `as_of` written as QuickBooks Desktop's A/R Aging Detail
    (home-currency amounts; a job named 'Customer:Job'), as QuickBooks would export that book."""
    with read_only(db) as con:
        invoices = open_invoices_as_of(con, as_of, roll_up=False)
        credits = aging_by_customer(con, as_of, roll_up=False)
        full_name = {customer_id: name if parent is None else f"{names[parent]}:{name}"
                     for names in [dict(con.execute("SELECT customer_id, name FROM customers").fetchall())]
                     for customer_id, name, parent in con.execute("SELECT customer_id, name, parent_id FROM customers").fetchall()}
    periods = {"Current": [], "1 - 30": [], "31 - 60": [], "61 - 90": [], "> 90": []}
    for row in invoices.to_dict("records"):
        late = row["days_past_due"]
        period = "Current" if late <= 0 else "1 - 30" if late <= 30 else "31 - 60" if late <= 60 else "61 - 90" if late <= 90 else "> 90"
        periods[period].append(("Invoice", row["txn_date"], row["doc_number"], full_name[row["customer_id"]],
                                row["due_date"] or row["txn_date"], late if late > 0 else "", row["home_open_amount"]))
    for row in credits[credits["unapplied_credit"] > 0].to_dict("records"):
        periods["Current"].append(("Payment", as_of, "", full_name[row["customer_id"]], None, "", -row["unapplied_credit"]))
    lines = ['"Northwind Managed IT"', '"A/R Aging Detail"', f'"As of {as_of:%B %-d, %Y}"',
             ',"Type","Date","Num","P. O. #","Name","Terms","Due Date","Class","Aging","Open Balance"']
    grand = Decimal("0.00")
    for period, rows in periods.items():
        lines.append(f'"{period}",,,,,,,,,,')
        for kind, when, number, name, due, late, value in rows:
            due_text = f"{due:%m/%d/%Y}" if due else ""
            lines.append(f',"{kind}","{when:%m/%d/%Y}","{number}","","{name}","","{due_text}","","{late}","{value:,.2f}"')
        total = sum((row[-1] for row in rows), Decimal("0.00"))
        grand += total
        lines.append(f'"Total {period}",,,,,,,,,,"{total:,.2f}"')
    lines.append(f'"TOTAL",,,,,,,,,,"{grand:,.2f}"')
    return ("\n".join(lines) + "\n").encode()


def test_the_demos_own_aging_detail_imports_to_the_same_aging(demo_db, tmp_path):
    exported = qbd_aging_detail_of(demo_db, DEMO_AS_OF)
    db = tmp_path / "from-demo.duckdb"
    pipeline.run(db, files.SOURCE, files.SOURCE.importer.settings(["aging.csv"], content=[exported]))
    with read_only(demo_db) as con:
        demo = aging_by_customer(con, DEMO_AS_OF).set_index("customer")[COLUMNS]
    imported = aging_by_customer_at(db, DEMO_AS_OF)
    assert len(demo) > 50 and demo["total"].sum() > 0
    assert imported.sort_index().to_dict("index") == demo.sort_index().to_dict("index")


def aging_by_customer_at(db, as_of):
    with read_only(db) as con:
        return aging_by_customer(con, as_of).set_index("customer")[COLUMNS]


@pytest.fixture(scope="module")
def snapshot_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("snapshot") / "snapshot.duckdb"
    import_files(db, *SHAPES["qbd-open-invoices"], on=None)
    return db


def test_the_dashboard_says_what_a_snapshot_cannot_know_instead_of_drawing_it(monkeypatch, snapshot_db):
    overview = run_app(monkeypatch, snapshot_db)
    assert not overview.exception
    assert overview.warning[0].value.startswith("The books of Harbor IT Services are a snapshot of what was open on "
                                                "31 March 2026: ledgerlight knows the aging at that date")
    shown = {metric.label: metric.value for metric in overview.metric}
    assert shown == {"Total A/R": "$1,770.50", "Overdue A/R": "$970.50", "% current": "45.2%",
                     "Open invoices": "5"}  # no KPI tiles
    assert not any(metric.delta for metric in overview.metric)  # no change from a month it cannot know
    assert len(overview.get("plotly_chart")) == 1  # the aging bars; not the trend, not the KPI trend
    assert [c.value for c in overview.caption if "Left out" in c.value] == [
        ":material/photo_camera: Left out: the books are a snapshot of one date (see the note at the top)."] * 2

    overview.sidebar.date_input[0].set_value(date(2026, 2, 28)).run()  # a date the snapshot does not know
    assert overview.warning[0].value.endswith("the aging is known at that date only, not at 28 February 2026.")
    assert overview.metric == [] or len(overview.metric) == 0


@pytest.mark.parametrize("page", ["pages/forecast.py", "pages/autopay.py"])
def test_pages_that_need_the_history_say_so_on_a_snapshot(monkeypatch, snapshot_db, page):
    shown = open_page(monkeypatch, snapshot_db, page)
    assert not shown.exception
    assert "snapshot" in shown.warning[0].value and len(shown.get("plotly_chart")) == 0


def with_open_balance(fixture: str, open_balances: dict[str, str]) -> bytes:
    """A history report with QuickBooks Desktop's Open Balance column added (Customize Report)."""
    import csv
    rows = list(csv.reader((FIXTURES / fixture).read_text().splitlines()))
    header = next(i for i, row in enumerate(rows) if "Type" in row)
    for index, row in enumerate(rows):
        if index == header:
            row.append("Open Balance")
        elif index > header and len(row) > 3 and row[1] == "Invoice":
            row.append(open_balances[row[3]])
        elif index > header:
            row.append("")
    return ("\n".join(",".join(f'"{v}"' if v else "" for v in row) for row in rows) + "\n").encode()


@pytest.mark.parametrize("fixture", ["qbd_customer_balance_detail.csv", "qbd_transaction_list_by_customer.csv"])
def test_an_open_balance_column_settles_exactly_what_quickbooks_says_is_open(tmp_path, fixture):
    # Suppose Acme's 200.00 of 03-25 paid 1007, not its oldest invoice 1004, in QuickBooks: the added
    # Open Balance column says so (1004 500.00 open, 1007 600.00), and the aging follows it, not the rule.
    stated = {"1001": "0.00", "1002": "150.00", "1003": "0.00", "1004": "500.00", "1005": "400.00", "1006": "0.00",
              "1007": "600.00", "1008": "120.50"}
    db = tmp_path / "open.duckdb"
    pipeline.run(db, files.SOURCE, files.SOURCE.importer.settings(["report.csv"], content=[
        with_open_balance(fixture, stated)], on=AS_OF))
    assert aging_of(db) == {**AGING, "Acme Dental": ("600.00", "500.00", "0.00", "0.00", "0.00", "1100.00", "0.00")}
    with read_only(db) as con:
        (snapshot,) = con.execute("SELECT snapshot_on FROM companies").fetchone()
    assert snapshot is None  # still the history
