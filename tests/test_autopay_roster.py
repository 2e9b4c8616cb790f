"""Autopay roster imports: real CSV and Excel files, header variants, matching, dated history,
and failed imports that change nothing (library and CLI)."""

from datetime import date, datetime

import pytest
from openpyxl import Workbook

from etl.sources.autopay_roster import RosterError, normalised_name, read_roster
from core.db import read_only
from tests.books import import_roster, write_book
from tests.test_cli import etl

CUSTOMERS = [
    {"customer_id": "C1", "name": "Acme Dental"},
    {"customer_id": "C2", "name": "Birch Legal LLC"},
    {"customer_id": "C3", "name": "Cedar CPA"},
]


@pytest.fixture
def db(tmp_path):
    return write_book(tmp_path / "r.duckdb", CUSTOMERS)


def history(db) -> list[tuple]:
    with read_only(db) as con:
        return con.execute(
            "SELECT customer_id, provenance, valid_from, valid_to, status, method FROM autopay_enrollments ORDER BY ALL"
        ).fetchall()


def runs(db) -> list[tuple]:
    with read_only(db) as con:
        return con.execute("SELECT kind, status FROM sync_runs ORDER BY run_id").fetchall()


def write_csv(tmp_path, text: str, name="roster.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("header", [
    "customer,autopay,method,enrolled_on",
    "Customer Name,Autopay Enabled,Payment Method,Enrollment Date",  # a plain sheet
    "Company Name,Auto Pay,Payment Method Type,Created (UTC)",  # portal-style export
    "client;AutoPay Status;Type;Start Date",  # semicolons, as European Excel writes CSV
])
def test_header_variants_read_the_same(tmp_path, header):
    sep = ";" if ";" in header else ","
    path = write_csv(tmp_path, header + "\n" + sep.join(["Acme Dental", "Yes", "Visa", "3/5/2026"]) + "\n")
    assert read_roster(path.name, path.read_bytes()) == [
        read_roster("x.csv", b"customer,autopay,method,enrolled_on\nAcme Dental,true,card,2026-03-05\n")[0]]


def test_excel_roster_with_dates_ids_and_a_name_that_differs_by_inc(db, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Customer", "Autopay", "Method", "Enrolled On"])
    sheet.append(["Acme Dental, Inc.", "enabled", "ACH", datetime(2026, 2, 1)])  # normalised name
    sheet.append(["C2", 1, "card", "2026-02-10"])  # the source id
    sheet.append(["Dune Clinic", "yes", "card", "2026-02-10"])  # nobody by that name
    path = tmp_path / "roster.xlsx"
    book.save(path)

    report = import_roster(db, str(path), imported_on=date(2026, 3, 1))
    assert [(m.row.row, m.customer_id, m.matched_by) for m in report.matched] == [(2, "C1", "normalised name"), (3, "C2", "id")]
    assert [(u.row, u.customer) for u in report.unmatched] == [(4, "Dune Clinic")]  # listed, not loaded
    assert history(db) == [
        ("C1", "imported", date(2026, 2, 1), None, "enabled", "ach"),
        ("C2", "imported", date(2026, 2, 10), None, "enabled", "card"),
    ]
    assert runs(db)[-1] == ("import", "succeeded")


def test_normalised_names_ignore_case_punctuation_and_legal_form():
    assert normalised_name("ACME Dental, Inc.") == normalised_name("Acme dental") == "acme dental"
    assert normalised_name("Birch Legal L.L.C.") == "birch legal"
    assert normalised_name("Smith & Sons Co") == "smith and sons"


def test_reimports_record_changes_as_dated_history(db, tmp_path):
    first = write_csv(tmp_path, "customer,autopay,method,enrolled_on,disabled_on\n"
                                "Acme Dental,yes,card,2026-01-05,\n"
                                "Birch Legal LLC,no,,,\n"
                                "Cedar CPA,no,ach,2025-06-01,2025-12-15\n")
    report = import_roster(db, str(first), imported_on=date(2026, 1, 31))
    # C1 on autopay since its enrolment; C2 never was (off from the roster's date); C3 was on
    # autopay between its two dates, off since.
    after_first = [
        ("C1", "imported", date(2026, 1, 5), None, "enabled", "card"),
        ("C2", "imported", date(2026, 1, 31), None, "disabled", "other"),
        ("C3", "imported", date(2025, 6, 1), date(2025, 12, 15), "enabled", "ach"),
        ("C3", "imported", date(2025, 12, 15), None, "disabled", "ach"),
    ]
    assert history(db) == after_first
    assert (report.periods_opened, report.periods_closed) == (4, 0)

    again = import_roster(db, str(first), imported_on=date(2026, 2, 15))
    assert history(db) == after_first  # the same roster twice changes nothing
    assert (again.periods_opened, again.periods_closed) == (0, 0)

    # March: C1 switched to ACH, C2 enrolled on 02-20, C3 is no longer on the roster (still off).
    second = write_csv(tmp_path, "customer,autopay,method,enrolled_on\nAcme Dental,yes,ach,2026-01-05\n"
                                 "Birch Legal LLC,yes,card,2026-02-20\n", name="march.csv")
    import_roster(db, str(second), imported_on=date(2026, 3, 1))
    assert history(db) == [
        ("C1", "imported", date(2026, 1, 5), date(2026, 3, 1), "enabled", "card"),
        ("C1", "imported", date(2026, 3, 1), None, "enabled", "ach"),
        ("C2", "imported", date(2026, 1, 31), date(2026, 2, 20), "disabled", "other"),
        ("C2", "imported", date(2026, 2, 20), None, "enabled", "card"),
        *after_first[2:],
    ]

    # April: Acme has left the roster, so it is off autopay from the roster's date.
    third = write_csv(tmp_path, "customer,autopay\nBirch Legal LLC,yes\n", name="april.csv")
    assert import_roster(db, str(third), imported_on=date(2026, 4, 1)).left_roster == ["C1"]
    assert history(db)[1:3] == [("C1", "imported", date(2026, 3, 1), date(2026, 4, 1), "enabled", "ach"),
                                ("C1", "imported", date(2026, 4, 1), None, "disabled", "ach")]


def test_a_change_on_the_day_a_period_opened_replaces_it(db, tmp_path):
    import_roster(db, str(write_csv(tmp_path, "customer,autopay,method\nAcme Dental,yes,card\n")), imported_on=date(2026, 5, 1))
    corrected = write_csv(tmp_path, "customer,autopay,method\nAcme Dental,yes,ach\n", name="corrected.csv")
    report = import_roster(db, str(corrected), imported_on=date(2026, 5, 1))  # the same day: a correction
    assert (report.periods_opened, report.periods_closed) == (1, 1)
    assert history(db) == [("C1", "imported", date(2026, 5, 1), None, "enabled", "ach")]


BAD_FILES = [
    ("bad-date.csv", b"Customer,Autopay,Enrolled On\nAcme Dental,yes,2026-01-05\nCedar CPA,yes,2026-02-30\n",
     "bad-date.csv row 3, column 'Enrolled On': '2026-02-30' is not a date: write it as YYYY-MM-DD (or M/D/YYYY)"),
    ("bad-flag.csv", b"customer,autopay\nAcme Dental,maybe\n",
     "bad-flag.csv row 2, column 'autopay': 'maybe' is not a yes/no"),
    ("bad-method.csv", b"customer,autopay,method\nAcme Dental,yes,bitcoin\n",
     "bad-method.csv row 2, column 'method': 'bitcoin' is not a payment method: use card, ach or other"),
    ("empty.csv", b"", "empty.csv is empty"),
    ("header-only.csv", b"customer,autopay\n", "header-only.csv has a header row but no customers"),
    ("no-autopay.csv", b"Client,Notes\nAcme Dental,x\n",
     "no-autopay.csv has no autopay column (row 1 has 'Client', 'Notes'): rename that header to 'autopay' or map it"),
    ("twice.csv", b"customer,autopay\nAcme Dental,yes\nacme dental inc,no\n",
     "twice.csv rows 2 and 3 are both Acme Dental (C1): keep one row per customer"),
    ("picture.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "picture.csv is not a CSV or Excel (.xlsx) file"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.xls is an old Excel 97-2003 workbook (.xls)"),
    ("archive.xlsx", b"PK\x03\x04" + b"\x00" * 64, "archive.xlsx is not a CSV or Excel (.xlsx) file"),
]


@pytest.mark.parametrize("name, content, message", BAD_FILES, ids=[f[0] for f in BAD_FILES])
def test_a_bad_roster_is_refused_and_changes_nothing(db, tmp_path, name, content, message):
    import_roster(db, str(write_csv(tmp_path, "customer,autopay\nCedar CPA,yes\n", "ok.csv")), imported_on=date(2026, 1, 1))
    before, runs_before = history(db), runs(db)
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RosterError) as refused:
        import_roster(db, str(path), imported_on=date(2026, 2, 1))
    assert str(refused.value).startswith(message)
    assert (history(db), runs(db)) == (before, runs_before)


def test_every_bad_cell_is_listed():
    with pytest.raises(RosterError) as refused:
        read_roster("r.csv", b"customer,autopay,enrolled_on\nA,perhaps,2026-01-01\nB,yes,01.02.2026\n")
    assert refused.value.problems == [
        "r.csv row 2, column 'autopay': 'perhaps' is not a yes/no: use yes/no, true/false, 1/0 or enabled/disabled",
        "r.csv row 3, column 'enrolled_on': '01.02.2026' is not a date: write it as YYYY-MM-DD (or M/D/YYYY)",
    ]
    assert str(refused.value).endswith("(and 1 more problem)")


def test_cli_import_with_a_column_mapping_then_a_failed_import(db, tmp_path):
    roster = write_csv(tmp_path, "Account,Charges automatically,Since\nAcme Dental,Y,2026-01-05\nNobody Ltd,Y,2026-01-05\n")
    done = etl("import", "autopay", str(roster), "--db", str(db), "--on", "2026-02-01",
               "--map", "customer=Account", "--map", "autopay=Charges automatically", "--map", "enrolled_on=Since")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "roster.csv: 1 customers matched, 1 rows unmatched; 1 autopay periods opened, 0 closed; 0 inferred periods",
        "  not imported: row 3 'Nobody Ltd': no customer with this id or name",
    ]
    before = history(db)
    assert before == [("C1", "imported", date(2026, 1, 5), None, "enabled", "other")]

    bad = write_csv(tmp_path, "customer,autopay,enrolled_on\nCedar CPA,yes,next week\n", name="bad.csv")
    failed = etl("import", "autopay", str(bad), "--db", str(db))
    assert failed.returncode == 2
    assert failed.stderr.splitlines() == [
        "error: bad.csv row 2, column 'enrolled_on': 'next week' is not a date: write it as YYYY-MM-DD (or M/D/YYYY)"]
    assert history(db) == before
