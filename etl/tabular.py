"""Reading a spreadsheet a person exported (CSV or Excel): the one place a file becomes checked
cells, shared by every source that imports files (autopay rosters, accounting exports).

What it does, once for all of them:
- **limits**, checked before anything big is read: `LIMITS` (file size, rows, columns, characters
  a cell); a file past one is refused with the limit named;
- **what the file is**: .xlsx (a zip; Excel 97-2003 .xls and other binaries are refused), or text
  in UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order mark, or Windows-1252;
  any line ending (CR LF, LF, or the old Mac CR alone); `,` `;` or tab between cells; a quote
  left open, a NUL or another control character, or an Excel formula that was never calculated
  is refused with the row and column named;
- **headers**: compared ignoring case, accents and punctuation; each canonical column has the
  header names systems write for it (`Column.variants`), or the user says which header holds it
  (`--map COLUMN=HEADER`); a header twice, or two headers that could each be the same column, is
  refused rather than guessed;
- **cells**: text, yes/no, dates (YYYY-MM-DD, M/D/YYYY, D/M/YYYY when the file shows it is, M/D/YY
  as QuickBooks Desktop writes them), amounts (1,234.56, (1,234.56), -1234.56, 1.234,56) and
  rates, each in a sane range; every bad cell is collected (`Problems`) and the file refused with
  all of them at once: the file, the row as the spreadsheet numbers it, the column and the fix.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.errors import InputError

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 500
MAX_CELL_CHARS = 10_000
MAX_TEXT_CHARS = 200  # a name, id or number the product keeps
MAX_PROBLEMS = 200  # listed; a file with more is refused with a count of the rest
EARLIEST_DATE = date(1980, 1, 1)
YEARS_AHEAD = 2  # the latest date accepted: this long after the date the file describes
MAX_AMOUNT = Decimal("9999999999999.99")
LIMITS = (f"files of at most {MAX_FILE_BYTES // (1024 * 1024)} MB, {MAX_ROWS:,} rows and {MAX_COLUMNS} columns, "
          f"{MAX_CELL_CHARS:,} characters a cell and {MAX_TEXT_CHARS} a name or number")

_NOT_READABLE = "is not a CSV or Excel (.xlsx) file ledgerlight can read; export it as CSV or .xlsx"
# Files that are something else altogether, by their first bytes.
_OTHER_FORMATS = {b"%PDF": "a PDF", b"\x89PNG": "a PNG picture", b"GIF8": "a GIF picture", b"\xff\xd8\xff": "a JPEG picture",
                  b"{\\rtf": "an RTF document", b"\x1f\x8b": "a gzip archive"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DELIMITERS = (",", ";", "\t")


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MB"


# --- problems ----------------------------------------------------------------------------------


class Problems:
    """Every problem found in one file, in the order found; `check()` refuses the file with all
    of them (up to MAX_PROBLEMS, then a count of the rest)."""

    def __init__(self, name: str):
        self.name = name
        self.items: list[str] = []
        self.more = 0

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def count(self) -> int:
        return len(self.items) + self.more

    def add(self, text: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(text)
        else:
            self.more += 1

    def cell(self, row: int, header: str, message: str) -> None:
        self.add(f"{self.name} row {row}, column {header!r}: {message}")

    def row(self, row: int, message: str) -> None:
        self.add(f"{self.name} row {row}: {message}")

    def check(self) -> None:
        if self.items:
            listed = self.items + ([f"{self.name}: {self.more:,} more problems not listed"] if self.more else [])
            raise InputError(listed)


def refuse(text: str) -> InputError:
    return InputError([text])


# --- the file ----------------------------------------------------------------------------------


def read_bytes(file: str, content: bytes | None = None) -> tuple[str, bytes]:
    """The file's name and bytes (`content` as uploaded, else read from the path `file`), refused
    before it is read when larger than MAX_FILE_BYTES."""
    if content is not None:
        name = Path(file).name or file
        size = len(content)
    else:
        path = Path(file)
        if not path.is_file():
            raise refuse(f"{file} does not exist: give the path of the exported file")
        name, size = path.name, path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise refuse(f"{name} is {megabytes(size)}; ledgerlight reads {LIMITS}: export only what is needed "
                     "(fewer columns, or a shorter period) and import that")
    return name, content if content is not None else Path(file).read_bytes()


@dataclass
class Sheet:
    """A file's cells row by row as read (text for CSV; text, numbers, dates or None for Excel),
    each row with its number as the spreadsheet shows it (`numbers`, 1-based)."""

    name: str
    rows: list[list[Any]]
    numbers: list[int]
    delimiter: str | None = None  # None for a workbook

    def cell(self, index: int, column: int) -> Any:
        row = self.rows[index]
        return row[column] if column < len(row) else None


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def read_sheet(name: str, content: bytes, choose_sheet: Callable[[list[str]], int] | None = None) -> Sheet:
    """The file's cells, whatever it is: .xlsx (a zip), CSV text, or neither (refused).
    `choose_sheet(names)` picks a workbook's sheet (default: the first)."""
    if not content.strip():
        raise refuse(f"{name} is empty: export it again (a header row, then one row per record)")
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise refuse(f"{name} is an old Excel 97-2003 workbook (.xls): save it as .xlsx or CSV and import that")
    if content.startswith(b"PK\x03\x04"):
        return _read_workbook(name, content, choose_sheet)
    for magic, what in _OTHER_FORMATS.items():
        if content.startswith(magic):
            raise refuse(f"{name} is not a CSV or Excel (.xlsx) file (it is {what}): export it as CSV or .xlsx")
    return _read_text(name, _decode(name, content))


def _decode(name: str, content: bytes) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" is UTF-16
        try:
            return content.decode("utf-16")
        except UnicodeDecodeError:
            raise refuse(f"{name} says it is UTF-16 text but is not: export it again as CSV (UTF-8)") from None
    head = content[:8192]
    # A stray NUL or control character is named by row and column below; many are a binary file.
    if head.count(b"\x00") > max(2, len(head) // 100) or len(_CONTROL.findall(head.decode("latin-1"))) > max(4, len(head) // 20):
        raise refuse(f"{name} {_NOT_READABLE}")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252")  # Excel's "CSV" on Windows
    except UnicodeDecodeError as exc:
        row = content[: exc.start].count(b"\n") + 1
        raise refuse(f"{name} row {row}: byte 0x{content[exc.start]:02x} is neither UTF-8 nor Windows-1252 text: "
                     "export the file again as CSV UTF-8") from None


def _delimiter(text: str) -> str:
    """The character between cells: the one of , ; tab that the first lines use most."""
    lines = [line for line in text[:65536].splitlines() if line.strip()][:20]
    counts = {delimiter: sum(line.count(delimiter) for line in lines) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])  # ties: the first, a comma
    return best if counts[best] else ","


def _read_text(name: str, text: str) -> Sheet:
    delimiter = _delimiter(text)
    csv.field_size_limit(MAX_CELL_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    rows: list[list[Any]] = []
    try:
        for row in reader:
            rows.append(row)
            _check_shape(name, len(rows), len(row))
    except csv.Error as exc:
        number = len(rows) + 1
        if "field larger than field limit" in str(exc):
            raise refuse(f"{name} row {number}: a cell is longer than {MAX_CELL_CHARS:,} characters, the limit: "
                         "remove the long text (notes, descriptions) from the export") from None
        raise refuse(f"{name} row {number}: a quote (\") opened in this row is never closed, or a quote inside a "
                     "cell is not doubled (\"\"), so the rows after it would run together: fix that cell, or export "
                     "the file again") from None
    sheet = Sheet(name, rows, list(range(1, len(rows) + 1)), delimiter)
    _check_characters(sheet)
    return sheet


def _check_shape(name: str, rows: int, columns: int) -> None:
    if rows > MAX_ROWS:
        raise refuse(f"{name} has more than {MAX_ROWS:,} rows; ledgerlight reads {LIMITS}: export a shorter period")
    if columns > MAX_COLUMNS:
        raise refuse(f"{name} row {rows} has {columns:,} columns; ledgerlight reads {LIMITS}: export fewer columns")


def _check_characters(sheet: Sheet) -> None:
    problems = Problems(sheet.name)
    for number, row in zip(sheet.numbers, sheet.rows):
        for column, value in enumerate(row):
            if isinstance(value, str) and _CONTROL.search(value):
                found = _CONTROL.search(value).group()
                what = "a NUL character (byte 0)" if found == "\x00" else f"the control character 0x{ord(found):02x}"
                problems.add(f"{sheet.name} row {number}, column {column_letter(column)}: holds {what}, which no "
                             "spreadsheet writes: the file is damaged; export it again")
    problems.check()


def _read_workbook(name: str, content: bytes, choose_sheet: Callable[[list[str]], int] | None) -> Sheet:
    from openpyxl import load_workbook  # only for .xlsx files: most exports are CSV
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        values = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        formulas = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
        index = choose_sheet(values.sheetnames) if choose_sheet else 0
        sheet, formula_sheet = values.worksheets[index], formulas.worksheets[index]
        rows: list[list[Any]] = []
        problems = Problems(name)
        for number, (row, formula_row) in enumerate(zip(sheet.iter_rows(values_only=True),
                                                        formula_sheet.iter_rows(values_only=True)), start=1):
            _check_shape(name, number, len(row))
            cells = list(row)
            for column, (value, formula) in enumerate(zip(cells, formula_row)):
                if value is None and isinstance(formula, str) and formula.startswith("="):
                    problems.add(f"{name} row {number}, column {column_letter(column)}: a formula ({formula[:40]}) "
                                 "that Excel never calculated, so it has no value: open the file in Excel, save it, "
                                 "and import it again (or export CSV)")
                elif isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                    problems.add(f"{name} row {number}, column {column_letter(column)}: longer than "
                                 f"{MAX_CELL_CHARS:,} characters, the limit: remove the long text from the export")
            rows.append(cells)
        values.close()
        formulas.close()
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, IndexError, ValueError, TypeError):
        raise refuse(f"{name} {_NOT_READABLE}") from None
    problems.check()
    while rows and not any(text(cell) for cell in rows[-1]):  # Excel's formatted but empty rows
        rows.pop()
    result = Sheet(name, rows, list(range(1, len(rows) + 1)))
    _check_characters(result)
    return result


# --- headers -----------------------------------------------------------------------------------


def text(value) -> str:
    """A cell as text: stripped; Excel's whole numbers without '.0' (ids like 1001 are numbers there)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    return str(value).strip()


def header_key(header) -> str:
    """A header compared ignoring case, accents and punctuation: 'Created (UTC)' -> 'created utc'."""
    plain = unicodedata.normalize("NFKD", text(header)).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+|#", plain))


@dataclass(frozen=True)
class Column:
    """A canonical column a source reads: its name (what `--map` names), the header names systems
    write for it, and whether a file must have it."""

    name: str
    variants: tuple[str, ...] = ()
    required: bool = False

    @property
    def keys(self) -> set[str]:
        return {header_key(variant) for variant in (self.name.replace("_", " "), *self.variants)}


@dataclass
class Header:
    """Where each canonical column is in a file: `positions[name]` is the column index; `headers`
    are the header row as written, at row `row`."""

    headers: list[str]
    positions: dict[str, int]
    row: int = 1

    def label(self, column: str) -> str:
        return self.headers[self.positions[column]]

    def __contains__(self, column: str) -> bool:
        return column in self.positions


def _shown(headers: list[str]) -> str:
    return ", ".join(repr(h) for h in headers if h) or "none"


def find_columns(name: str, headers: Sequence, columns: Sequence[Column], mapping: dict[str, str] | None = None,
                 row: int = 1, what: str = "") -> Header:
    """The position of each canonical column in a header row; refuses a mapping to a header the
    file lacks, a missing required column, and any header that is ambiguous (twice in the row, or
    two headers that could each be one column). `what` names the file's kind in messages."""
    mapping = dict(mapping or {})
    written = [text(h) for h in headers]
    keys = [header_key(h) for h in written]
    problems = Problems(name)
    by_name = {column.name: column for column in columns}
    unknown = sorted(set(mapping) - set(by_name))
    if unknown:
        raise refuse(f"unknown column name {unknown[0]!r} in the mapping{f' for {what}' if what else ''}: "
                     f"use {', '.join(by_name)}")
    positions: dict[str, int] = {}
    for column in columns:
        if column.name not in mapping:
            continue
        found = [i for i, key in enumerate(keys) if key == header_key(mapping[column.name])]
        if not found:
            problems.add(f"{name} has no column {mapping[column.name]!r} (mapped to {column.name}); "
                         f"its row {row} has {_shown(written)}")
        elif len(found) > 1:
            problems.add(f"{name} row {row} has {len(found)} columns named {written[found[0]]!r} "
                         f"({', '.join(column_letter(i) for i in found)}): rename all but one")
        else:
            positions[column.name] = found[0]
    taken = set(positions.values())
    for column in columns:
        if column.name in mapping:
            continue
        found = [i for i, key in enumerate(keys) if key in column.keys and i not in taken]
        if len(found) > 1:
            if len({keys[i] for i in found}) == 1:
                problems.add(f"{name} row {row} has {len(found)} columns named {written[found[0]]!r} "
                             f"({', '.join(column_letter(i) for i in found)}): rename or delete all but one")
            else:
                listed = " and ".join(f"{written[i]!r} ({column_letter(i)})" for i in found)
                problems.add(f"{name} row {row}: {listed} could each be the {column.name} column: delete the "
                             f"one that is not, or say which it is, e.g. --map {column.name}=\"{written[found[-1]]}\"")
        elif found:
            positions[column.name] = found[0]
            taken.add(found[0])
        elif column.required:
            problems.add(f"{name} has no {column.name} column (row {row} has {_shown(written)}): rename that "
                         f"header to {column.name!r} or map it, e.g. --map {column.name}=\"Your Header\"")
    problems.check()
    return Header(written, positions, row)


def header_row(sheet: Sheet, columns: Sequence[Column], within: int = 20) -> int | None:
    """The index of the first row (of the first `within`) in which the headers of at least two of
    `columns` appear, so title rows above a header row are passed over; None if none does."""
    wanted = [column.keys for column in columns]
    for index, row in enumerate(sheet.rows[:within]):
        keys = {header_key(cell) for cell in row if text(cell)}
        if sum(1 for options in wanted if keys & options) >= 2:
            return index
    return None


# --- cells -------------------------------------------------------------------------------------


def stored_text(value, limit: int = MAX_TEXT_CHARS) -> str:
    """Text the product keeps (a name, an id, a number): at most `limit` characters."""
    written = text(value)
    if len(written) > limit:
        raise ValueError(f"{len(written):,} characters, more than the {limit} a name or number may have: shorten it")
    return written


_YES = {"yes", "y", "true", "1", "enabled", "enable", "on", "active"}
_NO = {"no", "n", "false", "0", "disabled", "disable", "off", "inactive"}


def flag(value) -> bool:
    """A yes/no cell; an empty one is refused (an empty cell is not a 'no')."""
    if isinstance(value, bool):
        return value
    written = text(value).lower()
    if written in _YES | _NO:
        return written in _YES
    if not written:
        raise ValueError("is empty: write yes or no")
    raise ValueError(f"{text(value)!r} is not a yes/no: use yes/no, true/false, 1/0 or enabled/disabled")


DATE_HINT = "write it as YYYY-MM-DD (or M/D/YYYY)"
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?")
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?: .*)?")


@dataclass(frozen=True)
class DateReading:
    """How a file's dates read: `day_first` (D/M/YYYY, as the file shows by a first part above
    12), the latest date that is sane (`latest`), and whether the order was only assumed."""

    day_first: bool = False
    latest: date = date.max
    assumed: bool = False


@dataclass(frozen=True)
class DateCells:
    """Where a file holds dates: the sheet, its (row index, column) cells, and the column names."""

    sheet: Sheet
    cells: Sequence[tuple[int, int]]
    label: Callable[[int], str] = column_letter


def date_reading(files: Sequence[DateCells], latest: date, problems: Problems) -> DateReading:
    """Which way round the files of one export write their slashed dates: 13/01/2026 can only be
    day first, 01/13/2026 only month first; files with both are refused; files with neither are
    read month first (the US way) and `assumed` says so."""
    day_first = month_first = None
    slashed = False
    for part in files:
        for index, column in part.cells:
            found = _SLASHED.fullmatch(text(part.sheet.cell(index, column)))
            if not found:
                continue
            slashed = True
            first, second = int(found.group(1)), int(found.group(2))
            where = (part.sheet.name, part.sheet.numbers[index], part.label(column))
            if first > 12 and second <= 12:
                day_first = day_first or where
            elif second > 12 and first <= 12:
                month_first = month_first or where
    if day_first and month_first:
        one_file = day_first[0] == month_first[0]
        problems.add(f"{day_first[0]}{':' if one_file else ''} row {day_first[1]}, column {day_first[2]!r} writes the "
                     f"day first but {'' if one_file else month_first[0] + ' '}row {month_first[1]}, column "
                     f"{month_first[2]!r} the month first: write every date as YYYY-MM-DD")
    return DateReading(bool(day_first) and not month_first, latest, slashed and not day_first and not month_first)


def day(value, reading: DateReading = DateReading()) -> date | None:
    """A date cell (None when empty); refused outside EARLIEST_DATE .. `reading.latest`."""
    if isinstance(value, datetime):
        found = value.date()
    elif isinstance(value, date):
        found = value
    else:
        written = text(value)
        if not written:
            return None
        iso, slashed = _ISO.fullmatch(written), _SLASHED.fullmatch(written)
        try:
            if iso:
                found = date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
            elif slashed:
                first, second, year = int(slashed.group(1)), int(slashed.group(2)), slashed.group(3)
                month, day_of_month = (second, first) if reading.day_first else (first, second)
                full_year = int(year) if len(year) == 4 else 2000 + int(year) if int(year) < 70 else 1900 + int(year)
                found = date(full_year, month, day_of_month)
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"{written!r} is not a date: {DATE_HINT}") from None
    if not EARLIEST_DATE <= found <= reading.latest:
        raise ValueError(f"{found.isoformat()} is outside the dates ledgerlight accepts ({EARLIEST_DATE.isoformat()} "
                         f"to {reading.latest.isoformat()}): check the year")
    return found


def latest_date(on: date) -> date:
    """The latest date a file describing `on` may hold (a due date a year or two ahead)."""
    return on.replace(year=on.year + YEARS_AHEAD) if not (on.month == 2 and on.day == 29) else on + timedelta(days=365 * YEARS_AHEAD)


_US_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?")
_EUROPEAN = re.compile(r"\d{1,3}(\.\d{3})*,\d{1,2}")
_PLAIN = re.compile(r"\d+(\.\d+)?|\.\d+")


def amount(value, places: int = 2) -> Decimal:
    """An amount cell, exact: 1,234.56, $1,234.56, (1,234.56) and -1234.56, 1.234,56 (a comma
    before one or two last digits is a decimal comma); no more than `places` decimal places."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an amount")
    if isinstance(value, (int, float, Decimal)):
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        rounded = exact.quantize(Decimal(1).scaleb(-places))
        if abs(exact - rounded) > Decimal("1e-9"):
            raise ValueError(f"{value!r} has more than {places} decimal places: round it in the export")
        return _in_range(rounded, value)
    written = text(value)
    if not written:
        raise ValueError("is empty: write the amount, 0 if none")
    number, negative = written.replace("\u00a0", "").replace(" ", ""), False
    if number.startswith("(") and number.endswith(")"):
        number, negative = number[1:-1], True
    for sign in ("-", "−"):
        if number.startswith(sign) or number.endswith(sign):
            number, negative = number.strip(sign), not negative
    number = number.lstrip("$£€")
    if _US_THOUSANDS.fullmatch(number):
        number = number.replace(",", "")
    elif _EUROPEAN.fullmatch(number):
        number = number.replace(".", "").replace(",", ".")
    if not _PLAIN.fullmatch(number):
        raise ValueError(f"{written!r} is not an amount: write it like 1234.56")
    exact = Decimal(number)
    if exact.as_tuple().exponent < -places:
        raise ValueError(f"{written!r} has more than {places} decimal places")
    return _in_range((-exact if negative else exact).quantize(Decimal(1).scaleb(-places)), value)


def _in_range(found: Decimal, value) -> Decimal:
    if abs(found) > MAX_AMOUNT:
        raise ValueError(f"{text(value)!r} is larger than ledgerlight accepts ({MAX_AMOUNT:,}): check the cell")
    return found


def rate(value) -> Decimal:
    """An exchange rate: a positive number with at most 8 decimal places."""
    try:
        found = amount(value, places=8)
    except ValueError:
        raise ValueError(f"{text(value)!r} is not an exchange rate: write it like 1.25 (up to 8 decimal places)") from None
    if found <= 0:
        raise ValueError(f"{text(value)!r} is not an exchange rate: it must be more than 0")
    return found


@dataclass
class Records:
    """The data rows of a sheet under a header: each non-empty row as its number and a reader of
    its canonical columns, so a source writes `row.get('customer', stored_text)`."""

    sheet: Sheet
    header: Header
    problems: Problems
    start: int = 1  # index of the first data row
    skipped: list[int] = field(default_factory=list)

    def __iter__(self):
        for index in range(self.start, len(self.sheet.rows)):
            cells = self.sheet.rows[index]
            if any(text(cell) for cell in cells):
                yield Record(self, index, self.sheet.numbers[index], cells)


@dataclass
class Record:
    records: Records
    index: int
    number: int
    cells: list

    def raw(self, column: str):
        position = self.records.header.positions.get(column)
        return None if position is None or position >= len(self.cells) else self.cells[position]

    def get(self, column: str, parse: Callable[[Any], Any] = stored_text, default=None):
        """The column's value parsed, `default` when the file has no such column, or None (and the
        problem recorded) when the cell is bad."""
        header = self.records.header
        position = header.positions.get(column)
        if position is None:
            return default
        try:
            return parse(self.cells[position] if position < len(self.cells) else None)
        except (ValueError, InvalidOperation) as exc:
            self.records.problems.cell(self.number, header.headers[position], str(exc))
            return None

    def fail(self, column: str | None, message: str) -> None:
        if column is None or column not in self.records.header:
            self.records.problems.row(self.number, message)
        else:
            self.records.problems.cell(self.number, self.records.header.label(column), message)
