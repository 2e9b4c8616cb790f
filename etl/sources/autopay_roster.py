"""Autopay rosters from payment portals (CSV or Excel) into dated enrollment history.

A roster is what a portal exports about who pays automatically: ConnectBooster's Autopay
Configurations report, a Stripe customer export or a plain sheet. Its columns are found by
name (`HEADER_VARIANTS`, or a mapping the user gives), every cell is checked before anything is
written, customers are matched by id, then exact name, then normalised name (unmatched rows are
listed, never guessed), and the differences from the enrollment history held so far are written
in one run: a changed client's open period is closed on the date of the change and a new one
opened, so adoption over time stays right and importing the same roster twice changes nothing.

A roster is the complete list as of its date: a client on autopay who is no longer on it is
recorded as disabled from that date.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from core.errors import InputError
from etl.batch import Batch, Entity, Importer, Progress, Source, SourceState, company_in_file

CANONICAL_COLUMNS = ("customer", "autopay", "method", "enrolled_on", "disabled_on")
REQUIRED_COLUMNS = ("customer", "autopay")

# Header names as portals and people write them, normalised (lower case, words split on anything
# that is not a letter or digit). The first one a file has wins.
HEADER_VARIANTS = {
    "customer": ("customer", "customer name", "client", "client name", "company", "company name",
                 "account name", "display name", "name", "customer id", "client id", "account id"),
    "autopay": ("autopay", "auto pay", "autopay enabled", "auto pay enabled", "autopay status",
                "autopay active", "auto charge", "autocharge", "enabled", "status"),
    "method": ("method", "payment method", "payment method type", "autopay method", "payment type",
               "method type", "type"),
    "enrolled_on": ("enrolled on", "enrolled", "enrollment date", "enrolled date", "date enrolled",
                    "enabled on", "autopay start", "start date", "since", "created", "created date",
                    "created at", "created utc", "date added"),
    "disabled_on": ("disabled on", "disabled date", "date disabled", "autopay end", "end date",
                    "cancelled on", "canceled on", "removed on"),
}

_YES = {"yes", "y", "true", "1", "enabled", "enable", "on", "active"}
_NO = {"no", "n", "false", "0", "disabled", "disable", "off", "inactive", ""}
_METHODS = {
    "card": {"card", "credit card", "debit card", "credit", "cc", "visa", "mastercard", "amex",
             "american express", "discover"},
    "ach": {"ach", "bank", "bank account", "bank transfer", "echeck", "e check", "us bank account",
            "direct debit", "eft", "checking", "savings"},
    "other": {"other", ""},
}
# Legal-form words a portal and the accounting system spell differently ("Acme, Inc." / "Acme").
_LEGAL_SUFFIXES = {"inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co",
                   "company", "pllc", "pc", "llp", "lp", "plc"}
_DATE_HINT = "write it as YYYY-MM-DD (or M/D/YYYY)"


ORIGIN = "autopay_roster"


class RosterError(InputError):
    """A roster that cannot be imported as it is. `problems` lists every problem found (file,
    row as a spreadsheet numbers it, column, and the fix); the message is the first of them."""


@dataclass(frozen=True)
class RosterRow:
    row: int  # as the spreadsheet shows it: the header is row 1
    customer: str
    enabled: bool
    method: str
    enrolled_on: date | None
    disabled_on: date | None


@dataclass(frozen=True)
class Match:
    row: RosterRow
    customer_id: str
    name: str
    matched_by: str  # 'id', 'name' or 'normalised name'


@dataclass(frozen=True)
class Unmatched:
    row: int
    customer: str
    reason: str


@dataclass
class ImportReport:
    file: str
    company_id: str
    imported_on: date
    matched: list[Match] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)
    periods_opened: int = 0
    periods_closed: int = 0
    left_roster: list[str] = field(default_factory=list)  # customer ids recorded as disabled

    def describe(self, result) -> str:
        return (
            f"{self.file}: {len(self.matched)} customers matched, {len(self.unmatched)} rows unmatched; "
            f"{self.periods_opened} autopay periods opened, {self.periods_closed} closed"
            + (f" ({len(self.left_roster)} no longer on the roster)" if self.left_roster else "")
            + f"; {result.counts.get('inferred_autopay_periods', 0)} inferred periods"
        )


# --- reading -----------------------------------------------------------------------------------


def _cells_of_workbook(name: str, content: bytes) -> list[list]:
    from openpyxl import load_workbook  # only for .xlsx files: most rosters are CSV
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, IndexError):
        raise RosterError([f"{name} is not a CSV or Excel (.xlsx) file ledgerlight can read; export the roster as CSV or .xlsx"]) from None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _cells_of_text(name: str, content: bytes) -> list[list]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    if any(ord(ch) < 32 and ch not in "\t\r\n" for ch in text[:8192]):
        raise RosterError([f"{name} is not a CSV or Excel (.xlsx) file ledgerlight can read; export the roster as CSV or .xlsx"])
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [row for row in csv.reader(io.StringIO(text), dialect)]


def _cells(name: str, content: bytes) -> list[list]:
    """The file's cells row by row, whatever it is: .xlsx (a zip), CSV text, or neither."""
    if not content.strip():
        raise RosterError([f"{name} is empty: export the roster again (a header row, then one row per customer)"])
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise RosterError([f"{name} is an old Excel 97-2003 workbook (.xls): save it as .xlsx or CSV and import that"])
    if content.startswith(b"PK\x03\x04"):
        return _cells_of_workbook(name, content)
    if b"\x00" in content[:8192]:
        raise RosterError([f"{name} is not a CSV or Excel (.xlsx) file ledgerlight can read; export the roster as CSV or .xlsx"])
    return _cells_of_text(name, content)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel keeps customer ids like 1001 as numbers
    return str(value).strip()


def _header_key(header) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", _text(header).lower()))


def _find_columns(name: str, headers: list, mapping: dict[str, str]) -> dict[str, int]:
    unknown = sorted(set(mapping) - set(CANONICAL_COLUMNS))
    if unknown:
        raise RosterError([f"unknown column name {unknown[0]!r} in the mapping: use {', '.join(CANONICAL_COLUMNS)}"])
    positions = {}
    for index, header in enumerate(headers):
        positions.setdefault(_header_key(header), index)
    shown = ", ".join(repr(_text(h)) for h in headers if _text(h)) or "none"
    found = {}
    for column in CANONICAL_COLUMNS:
        if column in mapping:
            if _header_key(mapping[column]) not in positions:
                raise RosterError([f"{name} has no column {mapping[column]!r} (mapped to {column}); its columns are {shown}"])
            found[column] = positions[_header_key(mapping[column])]
            continue
        variant = next((v for v in HEADER_VARIANTS[column] if v in positions), None)
        if variant is not None:
            found[column] = positions[variant]
        elif column in REQUIRED_COLUMNS:
            raise RosterError([
                f"{name} has no {column} column (row 1 has {shown}): rename that header to {column!r} "
                f"or map it, e.g. --map {column}=\"Your Header\""])
    return found


def _parse_date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if not text:
        return None
    iso = re.fullmatch(r"(\d{4}-\d{2}-\d{2})([ T].*)?", text)
    us = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})( .*)?", text)
    try:
        if iso:
            return date.fromisoformat(iso.group(1))
        if us:
            return date(int(us.group(3)), int(us.group(1)), int(us.group(2)))
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a date: {_DATE_HINT}")


def _parse_autopay(value) -> bool:
    text = _text(value).lower()
    if isinstance(value, bool) or text in _YES | _NO:
        return value if isinstance(value, bool) else text in _YES
    raise ValueError(f"{_text(value)!r} is not a yes/no: use yes/no, true/false, 1/0 or enabled/disabled")


def _parse_method(value) -> str:
    text = " ".join(re.findall(r"[a-z0-9]+", _text(value).lower()))
    for method, spellings in _METHODS.items():
        if text in spellings:
            return method
    raise ValueError(f"{_text(value)!r} is not a payment method: use card, ach or other")


def _parse_row(cells: list, columns: dict[str, int]) -> dict:
    """The row's values by canonical column, and an error message for each bad cell."""
    parsers = {"customer": _text, "autopay": _parse_autopay, "method": _parse_method,
               "enrolled_on": _parse_date, "disabled_on": _parse_date}
    values, errors = {"method": "other", "enrolled_on": None, "disabled_on": None}, {}
    for column, index in columns.items():
        cell = cells[index] if index < len(cells) else None
        try:
            values[column] = parsers[column](cell)
        except ValueError as exc:
            errors[column] = str(exc)
    if not errors and not values["customer"]:
        errors["customer"] = "no customer: fill it in or delete the row"
    if not errors and values["enrolled_on"] and values["disabled_on"] and values["disabled_on"] < values["enrolled_on"]:
        errors["disabled_on"] = f"disabled on {values['disabled_on']}, before enrolled on {values['enrolled_on']}: check both dates"
    if not errors and values["autopay"] and values["disabled_on"] and not (
        values["enrolled_on"] and values["enrolled_on"] > values["disabled_on"]
    ):
        errors["autopay"] = (f"says autopay is on but disabled on {values['disabled_on']}: set autopay to no, "
                             "or give the later enrolment date")
    return {"values": values, "errors": errors}


def read_roster(name: str, content: bytes, mapping: dict[str, str] | None = None) -> list[RosterRow]:
    """Every customer row of a roster file, checked; raises RosterError naming each bad cell."""
    table = _cells(name, content)
    if not table or not any(_text(cell) for cell in table[0]):
        raise RosterError([f"{name} has no header row: row 1 must name the columns (customer, autopay, ...)"])
    headers = table[0]
    columns = _find_columns(name, headers, mapping or {})
    rows, problems = [], []
    for number, cells in enumerate(table[1:], start=2):
        if not any(_text(cell) for cell in cells):
            continue
        parsed = _parse_row(cells, columns)
        for column, error in parsed["errors"].items():
            problems.append(f"{name} row {number}, column {_text(headers[columns[column]])!r}: {error}")
        if not parsed["errors"]:
            v = parsed["values"]
            rows.append(RosterRow(number, v["customer"], v["autopay"], v["method"], v["enrolled_on"], v["disabled_on"]))
    if problems:
        raise RosterError(problems)
    if not rows:
        raise RosterError([f"{name} has a header row but no customers: export the roster again with its rows"])
    return rows


# --- matching ----------------------------------------------------------------------------------


def normalised_name(name: str) -> str:
    """Case, accents, punctuation and a trailing legal form ignored: 'Acme Dental, Inc.' -> 'acme dental'."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace("&", " and ")
    words = re.findall(r"[a-z0-9]+", re.sub(r"[.'’]", "", text))
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def match_customers(name: str, rows: list[RosterRow], customers: pd.DataFrame) -> tuple[list[Match], list[Unmatched]]:
    """Match each row by customer id, then exact name, then normalised name; a row that matches no
    customer, or several, is unmatched. Two rows for one customer are an error."""
    by_id = dict(zip(customers["customer_id"], customers["name"]))
    by_name = customers.groupby(customers["name"].str.strip())["customer_id"].apply(list).to_dict()
    by_normal = customers.groupby(customers["name"].map(normalised_name))["customer_id"].apply(list).to_dict()
    matched, unmatched = [], []
    for row in rows:
        if row.customer in by_id:
            matched.append(Match(row, row.customer, by_id[row.customer], "id"))
            continue
        for matched_by, index, key in (("name", by_name, row.customer), ("normalised name", by_normal, normalised_name(row.customer))):
            candidates = index.get(key, [])
            if len(candidates) == 1:
                matched.append(Match(row, candidates[0], by_id[candidates[0]], matched_by))
                break
            if len(candidates) > 1:
                unmatched.append(Unmatched(row.row, row.customer, f"{len(candidates)} customers match by {matched_by}: use the customer id"))
                break
        else:
            unmatched.append(Unmatched(row.row, row.customer, "no customer with this id or name"))
    seen: dict[str, Match] = {}
    problems = []
    for match in matched:
        first = seen.setdefault(match.customer_id, match)
        if first is not match:
            problems.append(f"{name} rows {first.row.row} and {match.row.row} are both {match.name} "
                            f"({match.customer_id}): keep one row per customer")
    if problems:
        raise RosterError(problems)
    return matched, unmatched


# --- history -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Current:
    """A customer's imported state: its open period, or 'disabled' since a closed one ended."""

    status: str
    method: str
    since: date
    open_from: date | None  # valid_from of the open row, if there is one


@dataclass
class _Plan:
    closes: list[tuple[str, date, date]] = field(default_factory=list)  # customer, valid_from, valid_to
    deletes: list[tuple[str, date]] = field(default_factory=list)  # same-day changes replace the row
    opens: list[dict] = field(default_factory=list)
    left_roster: list[str] = field(default_factory=list)

    def change(self, customer_id: str, current: _Current | None, on: date, status: str, method: str) -> None:
        if current is not None and current.open_from is not None:
            if on > current.open_from:
                self.closes.append((customer_id, current.open_from, on))
            else:
                self.deletes.append((customer_id, current.open_from))
        self.opens.append({"customer_id": customer_id, "valid_from": on, "valid_to": None, "status": status, "method": method})


def _first_history(plan: _Plan, row: RosterRow, customer_id: str, imported_on: date) -> None:
    """A customer the history does not know yet: the roster's own dates, as far as they go."""
    if row.enabled:
        plan.change(customer_id, None, row.enrolled_on or imported_on, "enabled", row.method)
    elif row.enrolled_on and row.disabled_on and row.enrolled_on < row.disabled_on:
        plan.opens.append({"customer_id": customer_id, "valid_from": row.enrolled_on, "valid_to": row.disabled_on,
                           "status": "enabled", "method": row.method})
        plan.change(customer_id, None, row.disabled_on, "disabled", row.method)
    else:
        plan.change(customer_id, None, row.disabled_on or imported_on, "disabled", row.method)


def plan_history(matched: list[Match], current: dict[str, _Current], imported_on: date) -> _Plan:
    """The rows to close, replace and open so the history says what the roster says."""
    plan = _Plan()
    for match in matched:
        row, now = match.row, current.get(match.customer_id)
        status = "enabled" if row.enabled else "disabled"
        if now is None:
            _first_history(plan, row, match.customer_id, imported_on)
        elif now.status != status or (row.enabled and now.method != row.method):
            stated = row.enrolled_on if row.enabled else row.disabled_on
            on = stated if stated and stated > now.since else max(imported_on, now.since)
            plan.change(match.customer_id, now, on, status, row.method)
    listed = {m.customer_id for m in matched}
    for customer_id, now in sorted(current.items()):
        if customer_id not in listed and now.status == "enabled" and now.open_from is not None:
            plan.change(customer_id, now, max(imported_on, now.since), "disabled", now.method)
            plan.left_roster.append(customer_id)
    return plan


def _current_imported(periods: pd.DataFrame) -> dict[str, _Current]:
    """Each customer's latest imported period: open, or 'disabled' since a closed one ended."""
    latest = periods.sort_values("valid_from").groupby("customer_id").tail(1)
    return {
        row.customer_id: _Current(row.status, row.method, row.valid_from, row.valid_from) if pd.isna(row.valid_to)
        else _Current("disabled", row.method, row.valid_to, None)
        for row in latest.itertuples()
    }


def _plan_rows(plan: _Plan, periods: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan as rows to write (closed periods with their end, new periods) and keys to delete."""
    by_key = periods.set_index(["customer_id", "valid_from"])
    closed = [{**by_key.loc[(customer_id, valid_from)].to_dict(), "customer_id": customer_id,
               "valid_from": valid_from, "valid_to": valid_to}
              for customer_id, valid_from, valid_to in plan.closes]
    opened = [{**row, "provenance": "imported", "recorded_at": None} for row in plan.opens]
    rows = pd.DataFrame(closed + opened)
    if not rows.empty:
        rows = rows[["customer_id", "provenance", "valid_from", "valid_to", "status", "method", "recorded_at"]]
    deleted = pd.DataFrame(plan.deletes, columns=["customer_id", "valid_from"])
    return rows, deleted


@dataclass(frozen=True)
class RosterSettings:
    """One import: the file (`content`, or read from the path `file`), the company (the file's
    only one if not named), headers to map, and the date the roster describes (default today)."""

    file: str
    content: bytes | None = None
    company_id: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    imported_on: date | None = None


def _read(settings: RosterSettings) -> tuple[str, bytes]:
    if settings.content is not None:
        return settings.file, settings.content
    path = Path(settings.file)
    if not path.is_file():
        raise RosterError([f"{settings.file} does not exist: give the path of the exported roster"])
    return path.name, path.read_bytes()


def fetch(settings: RosterSettings, state: SourceState, progress: Progress) -> Batch:
    """Read, check and match a roster, then plan what changes in the enrollment history.

    Nothing is written unless the whole file is good; `imported_on` (default today) is used
    where the roster gives no date of its own."""
    name, content = _read(settings)
    progress(0.1, f"Reading {name}")
    imported_on = settings.imported_on or state.today
    rows = read_roster(name, content, settings.mapping)
    customers = state.rows("customers")[["customer_id", "name"]].sort_values("customer_id", ignore_index=True)
    matched, unmatched = match_customers(name, rows, customers)
    periods = state.rows("autopay_enrollments", origin=ORIGIN)
    plan = plan_history(matched, _current_imported(periods), imported_on)
    report = ImportReport(name, state.company.company_id, imported_on, matched, unmatched,
                          periods_opened=len(plan.opens), periods_closed=len(plan.closes) + len(plan.deletes),
                          left_roster=plan.left_roster)
    changed, deleted = _plan_rows(plan, periods)
    return Batch(state.company, kind="import", complete=False, rows={"autopay_enrollments": changed},
                 deleted={"autopay_enrollments": deleted}, summary=report)


SOURCE = Source(
    name=ORIGIN,
    label="autopay roster",
    entities=(Entity("autopay_enrollments", ("customer_id", "valid_from"), disposition="merge",
                     owned=(("origin", ORIGIN),)),),
    company=lambda settings, companies: company_in_file(companies, settings.company_id),
    fetch=fetch,
    books=False,
    infers_autopay=True,
    importer=Importer("autopay", lambda file, content=None, company_id=None, mapping=None, on=None: RosterSettings(
        file, content, company_id, dict(mapping or {}), on), columns=CANONICAL_COLUMNS),
)
