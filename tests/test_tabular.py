"""The shared reader of exported spreadsheets (etl/tabular.py): what every file import relies on.
Real bytes in every encoding and line ending a spreadsheet writes, real .xlsx files; each bad
file refused with the file, row, column and fix named."""

from datetime import date, datetime
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import Workbook

from core.errors import InputError
from etl import tabular
from etl.tabular import Column, DateReading, amount, day, find_columns, flag, read_bytes, read_sheet

ROWS = [["customer", "autopay"], ["Acme Dental", "yes"], ["Birch Légal", "no"]]


def csv_bytes(rows, delimiter=",", newline="\n") -> bytes:
    return "".join(delimiter.join(row) + newline for row in rows).encode()


@pytest.mark.parametrize("content", [
    csv_bytes(ROWS),
    csv_bytes(ROWS, newline="\r\n"),  # Windows
    csv_bytes(ROWS, newline="\r"),  # classic Mac OS, and Excel for Mac's "CSV (Macintosh)"
    csv_bytes(ROWS, delimiter=";"),  # European Excel
    csv_bytes(ROWS, delimiter="\t"),
    b"\xef\xbb\xbf" + csv_bytes(ROWS),  # UTF-8 with a byte-order mark, as Excel writes "CSV UTF-8"
    "\n".join(",".join(row) for row in ROWS).encode("utf-16"),  # Excel's "Unicode text"
    "\n".join(",".join(row) for row in ROWS).encode("cp1252"),  # Excel's plain "CSV" on Windows
], ids=["lf", "crlf", "cr-only", "semicolons", "tabs", "utf8-bom", "utf16", "cp1252"])
def test_every_way_a_spreadsheet_writes_text_reads_the_same(content):
    assert read_sheet("r.csv", content).rows == ROWS


def test_a_quoted_cell_may_hold_commas_quotes_and_line_breaks():
    sheet = read_sheet("r.csv", b'customer,note\n"Acme, Inc.","said ""hi""\nthen left"\nBirch,\n')
    assert sheet.rows == [["customer", "note"], ["Acme, Inc.", 'said "hi"\nthen left'], ["Birch", ""]]
    assert sheet.numbers == [1, 2, 3]  # rows as a spreadsheet numbers them, not lines of text


BAD = [
    (b'customer,autopay\nAcme,yes\n"Birch,no\nCedar,yes\n',
     "r.csv row 3: a quote (\") opened in this row is never closed"),
    (b"customer,autopay\nAcme," + b"y" * 200_000 + b"\n",
     "r.csv row 2: a cell is longer than 10,000 characters, the limit"),
    (b"customer,autopay\nAc\x00me,yes\n",
     "r.csv row 2, column A: holds a NUL character (byte 0), which no spreadsheet writes"),
    (b"customer,autopay\nAcme,yes\x07\n",
     "r.csv row 2, column B: holds the control character 0x07"),
    (b"customer,autopay\nAcme,\x81\x8d\n", "r.csv row 2: byte 0x81 is neither UTF-8 nor Windows-1252 text"),
    (b"%PDF-1.7\n...", "r.csv is not a CSV or Excel (.xlsx) file (it is a PDF)"),
    (b"\x00\x01\x02\x03" * 100, "r.csv is not a CSV or Excel (.xlsx) file ledgerlight can read"),
    (b"   \n\n", "r.csv is empty"),
    (b"x," * 600 + b"\n", "r.csv row 1 has 601 columns"),
]


@pytest.mark.parametrize("content, message", BAD, ids=["open-quote", "long-cell", "nul", "control", "encoding",
                                                       "pdf", "binary", "empty", "wide"])
def test_a_damaged_file_is_refused_with_the_row_named(content, message):
    with pytest.raises(InputError) as refused:
        read_sheet("r.csv", content)
    assert str(refused.value).startswith(message)


def test_too_many_rows_are_refused_before_they_are_kept(monkeypatch):
    monkeypatch.setattr(tabular, "MAX_ROWS", 3)
    with pytest.raises(InputError, match="r.csv has more than 3 rows"):
        read_sheet("r.csv", csv_bytes([["a"], ["1"], ["2"], ["3"]]))


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:  # 200 MB on paper, nothing on disk: the size is all that is read
        handle.truncate(200 * 1024 * 1024)
    with pytest.raises(InputError) as refused:
        read_bytes(str(huge))
    assert str(refused.value).startswith("huge.csv is 200.0 MB; ledgerlight reads files of at most 20 MB, "
                                          "100,000 rows and 500 columns")
    with pytest.raises(InputError, match="upload.csv is 20.0 MB"):
        read_bytes("upload.csv", b"x" * (20 * 1024 * 1024 + 1))


def workbook(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_excel_sheet_keeps_numbers_and_dates_and_drops_trailing_empty_rows():
    content = workbook([["customer", "id", "since"], ["Acme", 1001, datetime(2026, 2, 1)], [None, None, None]])
    sheet = read_sheet("r.xlsx", content)
    assert sheet.rows == [["customer", "id", "since"], ["Acme", 1001, datetime(2026, 2, 1)]]
    assert tabular.text(1001.0) == "1001"


def test_an_excel_formula_never_calculated_is_refused():
    # openpyxl (like many tools that write .xlsx) stores the formula but no value: nothing to read.
    content = workbook([["customer", "autopay"], ["Acme", "=IF(1=1,\"yes\",\"no\")"]])
    with pytest.raises(InputError) as refused:
        read_sheet("r.xlsx", content)
    assert str(refused.value).startswith("r.xlsx row 2, column B: a formula (=IF(1=1,\"yes\",\"no\")) that Excel never "
                                         "calculated, so it has no value: open the file in Excel, save it")


COLUMNS = (Column("customer", ("client", "client name", "customer name"), required=True), Column("autopay", ("auto pay",)))


def test_headers_are_found_ignoring_case_accents_and_punctuation():
    header = find_columns("r.csv", ["  CLIENT-Name ", "Auto_Pay", "Notes"], COLUMNS)
    assert header.positions == {"customer": 0, "autopay": 1}
    assert tabular.header_key("Créated (UTC)") == "created utc"
    assert tabular.header_key("P. O. #") == "p o #"


@pytest.mark.parametrize("headers, mapping, message", [
    (["Customer", "customer", "autopay"], {}, "r.csv row 1 has 2 columns named 'Customer' (A, B): rename or delete all but one"),
    (["Customer", "Client Name", "autopay"], {}, "r.csv row 1: 'Customer' (A) and 'Client Name' (B) could each be the "
                                                 "customer column: delete the one that is not, or say which it is, "
                                                 "e.g. --map customer=\"Client Name\""),
    (["Account", "autopay"], {}, "r.csv has no customer column (row 1 has 'Account', 'autopay'): rename that header"),
    (["Account", "autopay"], {"customer": "Acct"}, "r.csv has no column 'Acct' (mapped to customer)"),
    (["Account", "autopay"], {"client": "Account"}, "unknown column name 'client' in the mapping: use customer, autopay"),
])
def test_an_ambiguous_or_missing_header_is_refused(headers, mapping, message):
    with pytest.raises(InputError) as refused:
        find_columns("r.csv", headers, COLUMNS, mapping)
    assert str(refused.value).startswith(message)


def test_a_mapping_settles_two_candidate_headers():
    header = find_columns("r.csv", ["Customer", "Client Name", "autopay"], COLUMNS, {"customer": "client name"})
    assert header.positions == {"customer": 1, "autopay": 2}


@pytest.mark.parametrize("written, expected", [
    ("1234.56", "1234.56"), ("1,234.56", "1234.56"), ("$1,234.56", "1234.56"), ("(1,234.56)", "-1234.56"),
    ("-50", "-50.00"), ("50-", "-50.00"), ("1.234,56", "1234.56"), ("12,5", "12.50"), (" 0 ", "0.00"),
    (1284.5, "1284.50"), (7, "7.00"),
])
def test_amounts_are_read_exactly(written, expected):
    assert amount(written) == Decimal(expected)


@pytest.mark.parametrize("written, message", [
    ("12.345", "'12.345' has more than 2 decimal places"), ("ten", "'ten' is not an amount"),
    ("", "is empty"), ("1e5", "'1e5' is not an amount"), ("99999999999999999", "'99999999999999999' is larger"),
])
def test_a_bad_amount_says_why(written, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        amount(written)


SANE = DateReading(latest=date(2028, 11, 25))


@pytest.mark.parametrize("written, expected", [
    ("2026-03-05", date(2026, 3, 5)), ("2026-03-05T10:00:00Z", date(2026, 3, 5)), ("3/5/2026", date(2026, 3, 5)),
    ("03/05/26", date(2026, 3, 5)), (datetime(2026, 3, 5, 0, 0), date(2026, 3, 5)), ("", None),
])
def test_dates_read_the_ways_exports_write_them(written, expected):
    assert day(written, SANE) == expected


def test_day_first_dates_are_read_day_first_when_the_file_shows_it():
    sheet = read_sheet("r.csv", b"when\n03/04/2026\n25/04/2026\n")
    problems = tabular.Problems("r.csv")
    reading = tabular.date_reading([tabular.DateCells(sheet, [(1, 0), (2, 0)])], date(2028, 1, 1), problems)
    assert (reading.day_first, reading.assumed, problems.items) == (True, False, [])
    assert day("03/04/2026", reading) == date(2026, 4, 3)


def test_a_file_with_both_date_orders_is_refused():
    sheet = read_sheet("r.csv", b"when\n25/04/2026\n04/25/2026\n")
    problems = tabular.Problems("r.csv")
    tabular.date_reading([tabular.DateCells(sheet, [(1, 0), (2, 0)])], date(2028, 1, 1), problems)
    assert problems.items == ["r.csv: row 2, column 'A' writes the day first but row 3, column 'A' the month first: "
                              "write every date as YYYY-MM-DD"]


@pytest.mark.parametrize("written", ["2099-01-01", "0001-01-01", "1979-12-31"])
def test_a_date_outside_the_sane_range_is_refused(written):
    with pytest.raises(ValueError, match=f"{written} is outside the dates ledgerlight accepts "
                                         r"\(1980-01-01 to 2028-11-25\): check the year"):
        day(written, SANE)


def test_a_blank_yes_no_is_not_a_no():
    assert (flag("Yes"), flag("0"), flag(True)) == (True, False, True)
    with pytest.raises(ValueError, match="is empty: write yes or no"):
        flag("  ")
