"""Autopay roster imports: real CSV and Excel files, header variants, matching, dated history,
and failed imports that change nothing (library and CLI), down to every case issue 11 measured
on the demo company."""

import hashlib
import shutil
from datetime import date, datetime
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import Workbook

from core.db import read_only
from etl.cli import main
from etl.sources.autopay_roster import RosterError, normalised_name, read_roster
from metrics import autopay_status_as_of
from tests.books import import_roster, write_book
from tests.conftest import DEMO_AS_OF
from tests.test_cli import etl_here

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
    done = etl_here("import", "autopay", str(roster), "--db", str(db), "--on", "2026-02-01",
               "--map", "customer=Account", "--map", "autopay=Charges automatically", "--map", "enrolled_on=Since")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "roster.csv: 1 customers matched, 1 rows unmatched; 1 autopay periods opened, 0 closed; 0 inferred periods",
        "  not imported: row 3 'Nobody Ltd': no customer with this id or name",
    ]
    before = history(db)
    assert before == [("C1", "imported", date(2026, 1, 5), None, "enabled", "other")]

    bad = write_csv(tmp_path, "customer,autopay,enrolled_on\nCedar CPA,yes,next week\n", name="bad.csv")
    failed = etl_here("import", "autopay", str(bad), "--db", str(db))
    assert failed.returncode == 2
    assert failed.stderr.splitlines() == [
        "error: bad.csv row 2, column 'enrolled_on': 'next week' is not a date: write it as YYYY-MM-DD (or M/D/YYYY)"]
    assert history(db) == before


# --- issue 11: every bad roster refused on the demo (50 clients enrolled), the file unchanged -----


@pytest.fixture
def demo_copy(demo_db, tmp_path):
    copy = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, copy)
    return copy


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def on_autopay(db, provenance="imported") -> list[str]:
    """The clients on autopay today by a roster (the demo's stand for one), or by any `provenance`
    (None: inferred from payments too)."""
    with read_only(db) as con:
        status = autopay_status_as_of(con, DEMO_AS_OF)
        names = dict(con.execute("SELECT customer_id, name FROM customers").fetchall())
    chosen = status["on_autopay"] & (status["provenance"] == provenance if provenance else True)
    return sorted(names[customer_id] for customer_id in status.loc[chosen, "customer_id"])


def roster_of(names, flag="yes") -> bytes:
    return ("customer,autopay\n" + "".join(f'"{name}",{flag}\n' for name in names)).encode()


def formula_workbook(names) -> bytes:
    book = Workbook()
    book.active.append(["customer", "autopay"])
    for name in names:
        book.active.append([name, '=IF(TRUE,"yes","no")'])  # saved by a tool that never calculates
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


ISSUE_11 = [
    ("nobody.csv", lambda names: b"customer,autopay\nNobody Ltd,yes\nNo One Inc,no\n",
     "nobody.csv: none of its 2 rows matches a customer of Northwind Managed IT (demo) (row 2: 'Nobody Ltd'): "
     "is it this company's roster?"),
    ("all-off.csv", lambda names: roster_of(names, "no"),
     "all-off.csv would take 50 of the 50 clients on autopay off it at once (more than half;"),
    ("open-quote.csv", lambda names: b'customer,autopay\n"' + names[0].encode() + b',yes\n' + roster_of(names[1:])[17:],
     "open-quote.csv row 2: a quote (\") opened in this row is never closed"),
    ("formulas.xlsx", formula_workbook, "formulas.xlsx row 2, column B: a formula (=IF(TRUE,\"yes\",\"no\")) that Excel "
                                        "never calculated"),
    ("long-cell.csv", lambda names: roster_of(names) + b'"' + b"A" * 200_000 + b'",yes\n',
     "long-cell.csv row 52: a cell is longer than 10,000 characters, the limit"),
    ("twice.csv", lambda names: roster_of(names).replace(b"customer,autopay", b"customer,autopay,Customer"),
     "twice.csv row 1 has 2 columns named 'customer' (A, C): rename or delete all but one"),
    ("synonyms.csv", lambda names: roster_of(names).replace(b"customer,autopay", b"customer,autopay,Client Name"),
     "synonyms.csv row 1: 'customer' (A) and 'Client Name' (C) could each be the customer column"),
    ("blank.csv", lambda names: roster_of(names[:1], ""),
     "blank.csv row 2, column 'autopay': is empty: write yes or no"),
    ("2099.csv", lambda names: f"customer,autopay,enrolled_on\n{names[0]},yes,2099-01-01\n".encode(),
     "2099.csv row 2, column 'enrolled_on': 2099-01-01 is outside the dates ledgerlight accepts (1980-01-01 to "
     "2028-11-25): check the year"),
    ("0001.csv", lambda names: f"customer,autopay,enrolled_on\n{names[0]},yes,0001-01-01\n".encode(),
     "0001.csv row 2, column 'enrolled_on': 0001-01-01 is outside the dates ledgerlight accepts"),
    ("nul.csv", lambda names: roster_of(names).replace(b",yes\n", b",y\x00es\n", 1),
     "nul.csv row 2, column B: holds a NUL character (byte 0)"),
]


@pytest.mark.parametrize("name, content, message", ISSUE_11, ids=[case[0] for case in ISSUE_11])
def test_issue_11_rosters_are_refused_and_the_file_is_unchanged(demo_copy, name, content, message):
    enrolled = on_autopay(demo_copy)
    assert len(enrolled) == 50
    before = digest(demo_copy)
    with pytest.raises(RosterError) as refused:
        import_roster(demo_copy, name, content=content(enrolled))
    assert str(refused.value).startswith(message)
    assert digest(demo_copy) == before  # byte for byte: not even a run record


def test_a_200_mb_roster_is_refused_before_it_is_read(demo_copy, tmp_path):
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)
    before = digest(demo_copy)
    failed = etl_here("import", "autopay", str(huge), "--db", str(demo_copy))
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: huge.csv is 200.0 MB; ledgerlight reads files of at most 20 MB")
    assert digest(demo_copy) == before


def test_a_roster_that_matches_nobody_needs_replace_all_on_the_cli(demo_copy, tmp_path):
    roster = tmp_path / "wrong-company.csv"
    roster.write_bytes(b"customer,autopay\nNobody Ltd,yes\n")
    before = digest(demo_copy)
    refused = etl_here("import", "autopay", str(roster), "--db", str(demo_copy))
    assert (refused.returncode, digest(demo_copy)) == (2, before)
    assert "confirm with --replace-all" in refused.stderr and "Traceback" not in refused.stderr
    confirmed = etl_here("import", "autopay", str(roster), "--db", str(demo_copy), "--replace-all")
    assert confirmed.returncode == 0, confirmed.stderr
    assert confirmed.stdout.startswith("wrong-company.csv: 0 customers matched, 1 rows unmatched; 0 autopay periods opened")
    assert len(on_autopay(demo_copy)) == 50  # the demo's own periods are not the roster's to close


def test_taking_most_clients_off_autopay_needs_confirmation(demo_copy):
    enrolled = on_autopay(demo_copy)
    import_roster(demo_copy, "all.csv", content=roster_of(enrolled))  # the portal's complete roster
    assert on_autopay(demo_copy) == enrolled
    everyone = len(on_autopay(demo_copy, provenance=None))  # and those the payments show (inferred)
    going = everyone // 2 + 1  # a file cut short: more than half of them would go
    kept = enrolled[:50 - going]
    with pytest.raises(RosterError, match=f"short.csv would take {going} of the {everyone} clients on autopay off it"):
        import_roster(demo_copy, "short.csv", content=roster_of(kept))
    assert on_autopay(demo_copy) == enrolled
    half = enrolled[:50 - everyone // 2]  # exactly half may go without asking
    import_roster(demo_copy, "fewer.csv", content=roster_of(half))
    assert on_autopay(demo_copy) == half
    assert import_roster(demo_copy, "short.csv", content=roster_of(kept), replace_all=True).left_roster
    assert on_autopay(demo_copy) == kept


def test_cr_only_line_endings_import_like_any_other(demo_copy, tmp_path):
    enrolled = on_autopay(demo_copy)
    mac = import_roster(demo_copy, "mac.csv", content=roster_of(enrolled).replace(b"\n", b"\r"))
    assert (len(mac.matched), mac.unmatched) == (50, [])
    assert on_autopay(demo_copy) == enrolled


def test_the_cli_lists_every_problem_one_a_line(db, tmp_path, capsys):
    bad = write_csv(tmp_path, "customer,autopay,enrolled_on\nAcme Dental,perhaps,2026-01-01\nCedar CPA,,2099-01-01\n")
    assert main(["import", "autopay", str(bad), "--db", str(db)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: roster.csv row 2, column 'autopay': 'perhaps' is not a yes/no: use yes/no, true/false, 1/0 or "
        "enabled/disabled (and 2 more problems)",
        "  roster.csv row 3, column 'autopay': is empty: write yes or no",
        "  roster.csv row 3, column 'enrolled_on': 2099-01-01 is outside the dates ledgerlight accepts (1980-01-01 "
        "to 2028-11-25): check the year",
    ]
