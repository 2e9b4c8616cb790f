"""Source: a company's books from the files any accounting system exports (CSV or Excel).

Two kinds of export, read with the shared file reader (etl/tabular.py: limits, encodings, header
variants, `--map COLUMN=HEADER`, every bad cell named):

- **generic files** (Sage, Zoho Books, a PSA's billing, a sheet): an invoices file, and a
  payments file and a credit notes file if there are any (`KINDS`); a file's kind is told by its
  headers, by its name, or by the user (`payments=FILE`). A payment that names the invoice it
  paid is applied to it; one that does not is applied to its customer's oldest open invoices
  first (the balance-forward rule `allocate` applies once for every source of this module);
- **QuickBooks Desktop's standard reports** (`LAYOUTS`), recognised by their layout: the title
  rows (company, report, date), the header row (`Type`, `Date`, `Num`, ...), a section row per
  customer (or per aging period), the transactions, a `Total ...` row per section whose amount
  must add up, and `TOTAL`. *Open Invoices* and *A/R Aging Detail* list what was open on one date:
  the books they make are a **snapshot** (`Company.snapshot_on`), whose aging is known at that
  date only. *Customer Balance Detail* and *Transaction List by Customer* hold every transaction
  that moved a customer's balance: the full history, so everything can be known.

Each import is the whole of the company's books as the files stand (a complete batch, every
table replaced): importing the same files again changes nothing, a newer export updates the books
in place, and an export older than the one loaded is refused unless confirmed (`replace_all`).
Every file is checked whole before anything is written; amounts that do not add up (a section
total, a running balance, a payment applied beyond an invoice, a stated balance its payments do
not explain), duplicated invoice numbers, mixed currencies without rates, a report of another
system, and a layout that is not one of these are refused with the file, row, column and fix.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from pathlib import Path

import pandas as pd

from core.errors import InputError
from etl import tabular
from etl.batch import BOOK_ENTITIES, Batch, Company, Importer, Progress, Source, SourceState
from etl.tabular import Column, Problems, Records, Sheet, amount, day, rate, stored_text

NAME = "files"
COMPANY_SOURCE = "files"
DEFAULT_COMPANY = Company(COMPANY_SOURCE, "books", "Imported books")
ZERO = Decimal("0.00")
CENT = Decimal("0.01")

# --- generic files ---------------------------------------------------------------------------

_CUSTOMER = Column("customer", ("customer", "customer name", "client", "client name", "company", "company name",
                                "account", "account name", "display name", "contact", "contact name", "name"),
                   required=True)
_CUSTOMER_ID = Column("customer_id", ("customer id", "customer number", "customer no", "customer #", "client id",
                                      "account id", "account number", "contact id", "company id"))
_CURRENCY = Column("currency", ("currency", "currency code", "currency iso"))
_RATE = Column("exchange_rate", ("exchange rate", "currency rate", "fx rate", "rate to home currency"))
_APPLIED_TO = Column("invoice", ("invoice", "invoice number", "invoice no", "invoice #", "invoice id", "applied to",
                                 "applied to invoice", "paid invoice"))
_APPLIED = Column("applied", ("applied", "amount applied", "applied amount", "amount applied to invoice",
                              "payment applied", "credit applied"))

KINDS: dict[str, tuple[Column, ...]] = {
    "invoices": (
        Column("number", ("invoice", "invoice number", "invoice no", "invoice #", "invoice id", "inv #", "inv no",
                          "number", "num", "reference", "document number", "doc number"), required=True),
        _CUSTOMER, _CUSTOMER_ID,
        Column("date", ("date", "invoice date", "issue date", "issued", "issued on", "txn date", "transaction date",
                        "document date"), required=True),
        Column("due_date", ("due date", "due", "due on", "payment due", "date due")),
        Column("terms", ("terms", "payment terms", "payment terms label")),
        Column("total", ("total", "invoice total", "amount", "invoice amount", "gross", "gross amount",
                         "total amount", "total inc tax", "total including tax"), required=True),
        Column("balance", ("balance", "balance due", "open balance", "amount due", "outstanding", "amount outstanding",
                           "unpaid", "remaining")),
        _CURRENCY, _RATE,
        Column("status", ("status", "invoice status")),
        Column("kind", ("kind", "invoice kind", "invoice type", "category")),
    ),
    "payments": (
        Column("number", ("payment", "payment number", "payment no", "payment #", "payment id", "receipt",
                          "receipt number", "receipt no", "reference", "reference number", "transaction id",
                          "check number", "cheque number")),
        _CUSTOMER, _CUSTOMER_ID,
        Column("date", ("date", "payment date", "date received", "received on", "paid on", "receipt date",
                        "txn date", "transaction date"), required=True),
        Column("amount", ("amount", "payment amount", "amount received", "amount paid", "total", "total amount",
                          "paid"), required=True),
        _APPLIED_TO, _APPLIED,
        Column("method", ("method", "payment method", "payment mode", "mode", "payment type", "type")),
        _CURRENCY, _RATE,
    ),
    "credit_notes": (
        Column("number", ("credit note", "credit note number", "credit note no", "credit note #", "credit memo",
                          "credit memo number", "credit memo #", "credit number", "credit #", "number", "num",
                          "reference", "document number"), required=True),
        _CUSTOMER, _CUSTOMER_ID,
        Column("date", ("date", "credit note date", "credit memo date", "credit date", "issue date", "txn date"),
               required=True),
        Column("total", ("total", "credit note total", "credit total", "amount", "credit amount", "total amount"),
               required=True),
        _APPLIED_TO, _APPLIED,
        _CURRENCY, _RATE,
        Column("status", ("status", "credit note status")),
    ),
}
# Headers that only a file of one kind has: how a file's kind is told when nobody says it.
_KIND_SIGNS = {
    "payments": {"payment", "payment number", "payment no", "payment #", "payment id", "payment date",
                 "amount received", "receipt", "receipt number", "date received", "payment amount"},
    "credit_notes": {"credit note", "credit note number", "credit note no", "credit note #", "credit memo",
                     "credit memo number", "credit memo #", "credit number", "credit note date", "credit amount"},
    "invoices": {"invoice", "invoice number", "invoice no", "invoice #", "invoice id", "invoice date",
                 "invoice total", "invoice amount", "inv #", "due date"},
}
_ONE = {"invoices": "an invoice", "payments": "a payment", "credit_notes": "a credit note"}
COLUMN_NAMES = tuple(dict.fromkeys(column.name for columns in KINDS.values() for column in columns))

_VOID = {"void", "voided", "cancelled", "canceled", "deleted"}
_NOT_BOOKS = {"draft", "pending approval", "awaiting approval", "quote", "estimate"}
_METHODS = {"card": {"card", "credit card", "debit card", "visa", "mastercard", "amex", "american express", "discover",
                     "stripe", "cc"},
            "ach": {"ach", "bank transfer", "bank", "eft", "direct debit", "echeck", "e check", "wire", "bacs", "sepa"},
            "check": {"check", "cheque", "chq"}, "cash": {"cash"}}

# --- QuickBooks Desktop reports --------------------------------------------------------------

_QBD_COLUMNS = (
    Column("type", ("type",), required=True), Column("date", ("date",), required=True), Column("num", ("num",)),
    Column("name", ("name",)), Column("terms", ("terms",)), Column("due_date", ("due date",)),
    Column("aging", ("aging",)), Column("open_balance", ("open balance",)), Column("amount", ("amount",)),
    Column("balance", ("balance",)), Column("account", ("account",)), Column("split", ("split",)),
    Column("debit", ("debit",)), Column("credit", ("credit",)), Column("currency", ("currency",)),
)


@dataclass(frozen=True)
class Layout:
    """A QuickBooks Desktop report: its title, the columns it must have, what its sections are,
    and what it supports (`snapshot`: only what was open on its date)."""

    title: str
    columns: tuple[str, ...]
    sections: str  # 'customer' or 'aging period'
    snapshot: bool
    supports: str


LAYOUTS = {
    "open_invoices": Layout("Open Invoices", ("type", "date", "num", "due_date", "open_balance"), "customer", True,
                            "the aging at its date only: it lists what was open then, not how it got there"),
    "ar_aging_detail": Layout("A/R Aging Detail", ("type", "date", "num", "name", "due_date", "open_balance"),
                              "aging period", True,
                              "the aging at its date only: it lists what was open then, not how it got there"),
    "customer_balance_detail": Layout("Customer Balance Detail",
                                      ("type", "date", "num", "due_date", "account", "amount", "balance"),
                                      "customer", False, "everything: every transaction that moved a balance"),
    "transaction_list_by_customer": Layout("Transaction List by Customer",
                                           ("type", "date", "num", "due_date", "account", "split"),
                                           "customer", False, "everything: every transaction of each customer"),
}
# QuickBooks Desktop transaction types that move a customer's balance: the table each becomes and
# its document type. A General Journal line goes by its sign; the rest must move the balance the
# way their type does.
_QBD_TYPES = {"invoice": ("invoices", "invoice"), "statement charge": ("invoices", "statement_charge"),
              "check": ("invoices", "refund"), "payment": ("payments", "payment"), "deposit": ("payments", "deposit"),
              "credit memo": ("credit_memos", "credit_memo"), "discount": ("credit_memos", "credit_memo"),
              "general journal": (None, "journal_entry")}
_MONTHS = {name: number for number, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], start=1) for name in names}
_LONG_DATE = re.compile(r"([A-Za-z]+)\.? (\d{1,2}),? (\d{4})|(\d{1,2}) ([A-Za-z]+)\.? (\d{4})|(\d{1,2}/\d{1,2}/\d{2,4})")


# --- what a file holds, before it is books -----------------------------------------------------


@dataclass
class Item:
    """One A/R record read from a file: an invoice-like item (`table` 'invoices') or a credit
    (a payment or credit memo), its amount always positive, `where` it was read (file row N)."""

    table: str
    id: str
    customer: str
    txn_date: date
    amount: Decimal
    where: str
    number: str | None = None
    due_date: date | None = None
    terms: str | None = None
    currency: str | None = None
    rate: Decimal | None = None
    doc_type: str = "invoice"
    method: str = "other"
    status: str = "posted"
    kind: str = "other"
    balance: Decimal | None = None  # an invoice's open balance the export states
    applies: list[tuple[str, Decimal | None, str]] = field(default_factory=list)  # invoice number, amount, where
    unapplied: Decimal = ZERO
    snapshot: bool = False  # an open item of a snapshot: its amount is what was open


@dataclass
class Read:
    """What the files of one import hold: items, customers (id -> name, parent), the date the
    export describes and whether it is a snapshot, and what was passed over."""

    items: list[Item] = field(default_factory=list)
    customers: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    described: list[str] = field(default_factory=list)
    on: date | None = None
    snapshot: bool = False
    warnings: list[str] = field(default_factory=list)
    company_name: str | None = None
    applications: list[dict] = field(default_factory=list)
    index: dict[tuple[str, str], Item] = field(default_factory=dict)  # a report's items by table and id


@dataclass(frozen=True)
class FilesSettings:
    """One import: the files (each a path, or a name with `content` as uploaded, optionally
    'kind=' first), the company, headers to map, the date the files describe (default: their
    own, else today) and `replace_all` (confirm an export older than the one loaded)."""

    files: tuple[tuple[str, bytes | None], ...]
    company_id: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    on: date | None = None
    replace_all: bool = False


def settings_for(file, content=None, company_id=None, mapping=None, on=None, replace_all=False) -> FilesSettings:
    paths = [file] if isinstance(file, str) else list(file)
    contents = [content] if isinstance(file, str) else list(content or [None] * len(paths))
    return FilesSettings(tuple(zip(paths, contents)), company_id, dict(mapping or {}), on, replace_all)


@dataclass
class FilesReport:
    files: list[str]
    described: list[str]
    counts: dict[str, int]
    on: date
    snapshot: bool

    def describe(self, result) -> str:
        held = ", ".join(f"{n:,} {table.replace('_', ' ')}" for table, n in self.counts.items())
        known = (f"a snapshot of {self.on:%d %B %Y}: the aging is known at that date only" if self.snapshot
                 else f"the history to {self.on:%d %B %Y}")
        return f"{', '.join(self.files)} ({'; '.join(self.described)}): {held}; {known}."


def company(settings: FilesSettings, companies: pd.DataFrame) -> Company:
    """The company a files import is for: the one named, the file's only imported one, or a new one."""
    ours = companies[companies["source"] == COMPANY_SOURCE] if companies is not None else pd.DataFrame()
    chosen = ours[ours["company_id"] == settings.company_id] if settings.company_id else ours
    if len(chosen) == 1:
        row = chosen.iloc[0]
        return Company(COMPANY_SOURCE, row["company_id"], row["name"], row["home_currency"],
                       None if pd.isna(row["data_through"]) else row["data_through"],
                       None if pd.isna(row["snapshot_on"]) else row["snapshot_on"])
    if settings.company_id:
        return Company(COMPANY_SOURCE, stored_text(settings.company_id), settings.company_id)
    if chosen.empty:
        return DEFAULT_COMPANY
    raise InputError(f"the database holds several imported companies ({', '.join(ours['company_id'])}); "
                     "choose one with --company ID")


# --- reading generic files ---------------------------------------------------------------------


def _kind_of(name: str, sheet: Sheet, asked: str | None) -> tuple[str, int]:
    """The file's kind and the index of its header row: as the user said, else by the headers
    only one kind has, else by the file's name."""
    if asked:
        row = tabular.header_row(sheet, KINDS[asked])
        return asked, 0 if row is None else row
    for index, row in enumerate(sheet.rows[:20]):
        keys = {tabular.header_key(cell) for cell in row if tabular.text(cell)}
        for kind in ("payments", "credit_notes", "invoices"):
            if keys & _KIND_SIGNS[kind] and tabular.header_row(sheet, KINDS[kind]) == index:
                return kind, index
    stem = Path(name).stem.lower()
    for kind, hint in (("payments", "pay"), ("payments", "receipt"), ("credit_notes", "credit"), ("invoices", "inv")):
        if hint in stem:
            row = tabular.header_row(sheet, KINDS[kind])
            if row is not None:
                return kind, row
    raise InputError([f"{name}: cannot tell whether it holds invoices, payments or credit notes, nor whether it is a "
                      "QuickBooks Desktop report: say which, e.g. invoices={name} (docs/sources/files.md lists the "
                      "columns each needs)"])


def _method(value) -> str:
    written = " ".join(re.findall(r"[a-z0-9]+", tabular.text(value).lower()))
    return next((method for method, spellings in _METHODS.items() if written in spellings), "other")


def _currency(value) -> str | None:
    written = tabular.text(value).upper()
    if not written:
        return None
    if not re.fullmatch(r"[A-Z]{3}", written):
        raise ValueError(f"{tabular.text(value)!r} is not a currency code: write it as USD, CAD, GBP, ...")
    return written


def _stable_id(*parts) -> str:
    """An id for a record its system exported without one: the same record, the same id."""
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()[:12]


def _generic_header(name: str, sheet: Sheet, kind: str, index: int, mapping: dict[str, str],
                    used: set[str]) -> tabular.Header:
    """Where the kind's columns are; a mapping applies to the files that have its header."""
    columns = KINDS[kind]
    keys = {tabular.header_key(cell) for cell in sheet.rows[index]}
    mine = {column: header for column, header in mapping.items()
            if any(c.name == column for c in columns) and tabular.header_key(header) in keys}
    used.update(mine)
    return tabular.find_columns(name, sheet.rows[index], columns, mine, row=sheet.numbers[index],
                                what=kind.replace("_", " "))


def _date_cells(sheet: Sheet, index: int, header: tabular.Header, columns: Sequence[str]) -> tabular.DateCells:
    return tabular.DateCells(sheet, [(i, header.positions[c]) for i in range(index + 1, len(sheet.rows))
                                     for c in columns if c in header], lambda position: header.headers[position])


def _read_generic(name: str, sheet: Sheet, kind: str, index: int, header: tabular.Header,
                  reading: tabular.DateReading, read: Read, problems: Problems) -> None:
    table = {"invoices": "invoices", "payments": "payments", "credit_notes": "credit_memos"}[kind]
    when = partial(day, reading=reading)
    total_column = "amount" if kind == "payments" else "total"
    grouped: dict[str, Item] = {}
    seen: dict[tuple, int] = defaultdict(int)
    described = 0
    for record in Records(sheet, header, problems, start=index + 1):
        before = problems.count
        customer_name = record.get("customer")
        customer_id = record.get("customer_id") or customer_name
        values = {"date": record.get("date", when), "total": record.get(total_column, amount),
                  "number": record.get("number"), "currency": record.get("currency", _currency),
                  "rate": record.get("exchange_rate", lambda v: rate(v) if tabular.text(v) else None)}
        status = tabular.text(record.raw("status")).lower()
        if problems.count > before:
            continue
        if not customer_name:
            record.fail("customer", "no customer: fill it in or delete the row")
            continue
        if status in _NOT_BOOKS:
            continue  # a draft or a quote is not A/R
        where = f"{name} row {record.number}"
        if values["total"] < 0:
            record.fail(total_column, f"{values['total']} is negative: {_ONE[kind]} is recorded as a positive "
                        "amount (a refund or a credit goes in its own file)")
            continue
        read.customers.setdefault(customer_id, (customer_name, None))
        if kind == "invoices":
            if not values["number"]:
                record.fail("number", "an invoice with no number: fill in its number")
                continue
            item = Item(table, values["number"], customer_id, values["date"], values["total"], where, values["number"],
                        due_date=record.get("due_date", when), terms=record.get("terms") or None,
                        currency=values["currency"], rate=values["rate"],
                        status="voided" if status in _VOID else "posted", kind=_invoice_kind(record.raw("kind")),
                        balance=record.get("balance", amount))
        else:
            number = values["number"]
            key = (customer_id, values["date"], values["total"], number)
            item_id = number if number and kind == "credit_notes" else _stable_id(kind, *key, seen[key] if not number else "")
            if not number:
                seen[key] += 1
            item = Item(table, item_id, customer_id, values["date"], values["total"], where, number,
                        currency=values["currency"], rate=values["rate"], doc_type="payment" if kind == "payments"
                        else "credit_memo", method=_method(record.raw("method")),
                        status="voided" if status in _VOID else "posted")
            applied_to = record.get("invoice")
            if applied_to:
                item.applies.append((applied_to, record.get("applied", amount) if "applied" in header else None, where))
        if problems.count > before:
            continue
        first = grouped.get(item.id)
        if first is None:
            grouped[item.id] = item
            described += 1
        elif number_matches(first, item):  # a line-item export, or one payment over a row per invoice it paid
            first.applies.extend(item.applies)
        else:
            record.fail("number", f"{_ONE[kind].split(' ', 1)[1]} {item.id} is also on {first.where}, with a "
                        "different customer, date or amount: every number must be one record (a line-item export "
                        "repeats the same totals on each line)")
    read.items.extend(grouped.values())
    read.described.append(f"{described:,} {kind.replace('_', ' ')}")


def number_matches(first: Item, again: Item) -> bool:
    return ((first.customer, first.txn_date, first.amount, first.currency, first.balance)
            == (again.customer, again.txn_date, again.amount, again.currency, again.balance))


def _invoice_kind(value) -> str:
    written = tabular.text(value).lower()
    return written if written in ("recurring", "project", "hardware", "other") else "other"


# --- reading QuickBooks Desktop reports --------------------------------------------------------


def _long_date(text: str) -> date | None:
    found = _LONG_DATE.search(text)
    if not found:
        return None
    try:
        if found.group(1):
            return date(int(found.group(3)), _MONTHS[found.group(1).lower()], int(found.group(2)))
        if found.group(4):
            return date(int(found.group(6)), _MONTHS[found.group(5).lower()], int(found.group(4)))
        return day(found.group(7))
    except (KeyError, ValueError):
        return None


@dataclass
class Title:
    report: str | None = None  # the report's title as written
    company: str | None = None
    on: date | None = None  # the report's date: 'As of ...', or the end of its period
    period: str | None = None  # a period other than all dates, as written


def _title(sheet: Sheet, header_index: int) -> Title:
    """The title rows above a report's header: company, report name, date (QuickBooks Desktop
    writes them when the report header is exported)."""
    title = Title()
    known = {layout.title.lower(): layout.title for layout in LAYOUTS.values()}
    for row in sheet.rows[:header_index]:
        cells = [tabular.text(cell) for cell in row if tabular.text(cell)]
        if len(cells) != 1:
            continue
        written = cells[0]
        lower = written.lower()
        if lower in known or lower in ("a/r aging detail", "accounts receivable aging detail", "ar aging detail"):
            title.report = written
        elif lower.startswith("as of"):
            title.on = _long_date(written)
        elif lower.startswith(("all transactions", "all dates")):
            pass
        elif (" through " in lower or " - " in lower) and _long_date(written.split(" through ")[-1].split(" - ")[-1]):
            title.period, title.on = written, _long_date(written.split(" through ")[-1].split(" - ")[-1])
        elif lower in ("accrual basis", "cash basis") or re.fullmatch(r"[\d/:apm. ]+", lower):
            pass
        elif title.company is None and title.report is None:
            title.company = written
        else:
            title.report = title.report or written
    return title


def _qbd_header(sheet: Sheet) -> int | None:
    for index, row in enumerate(sheet.rows[:20]):
        keys = {tabular.header_key(cell) for cell in row if tabular.text(cell)}
        if {"type", "date", "num"} <= keys:
            return index
    return None


def _other_system(name: str, sheet: Sheet) -> str | None:
    """A report exported by another system, told by its headers: what it is and what to do instead."""
    for row in sheet.rows[:20]:
        keys = {tabular.header_key(cell) for cell in row if tabular.text(cell)}
        if "transaction type" in keys or "past due" in keys:
            return (f"{name} looks like a QuickBooks Online report ('Transaction Type' / 'Past Due' columns), not a "
                    "QuickBooks Desktop one: connect QuickBooks Online instead (python -m etl connect quickbooks)")
        if keys & {"older", "1 month", "2 months", "3 months"} or {"invoice reference", "contact"} <= keys:
            return (f"{name} looks like a Xero or aged-balance summary (a column per aging period, no transactions): "
                    "export the invoices and payments instead (docs/sources/files.md)")
    return None


def _layout_of(name: str, sheet: Sheet, index: int, title: Title, mapping: dict) -> tuple[str, tabular.Header]:
    header = tabular.find_columns(name, sheet.rows[index], _QBD_COLUMNS, {}, row=sheet.numbers[index])
    present = set(header.positions)
    if "split" in present and ("amount" in present or {"debit", "credit"} <= present):
        found = "transaction_list_by_customer"
    elif {"amount", "balance", "account"} <= present:
        found = "customer_balance_detail"
    elif "open_balance" in present:  # a history report may have it too, as an added column
        found = "ar_aging_detail" if "name" in present else "open_invoices"
    else:
        found = None
    named = next((key for key, layout in LAYOUTS.items() if title.report and
                  tabular.header_key(title.report) == tabular.header_key(layout.title)), None)
    if title.report and tabular.header_key(title.report) in ("accounts receivable aging detail", "ar aging detail"):
        named = "ar_aging_detail"
    if title.report and named is None:
        raise InputError([f"{name} is QuickBooks Desktop's {title.report!r} report, which does not hold what "
                          f"customers owe invoice by invoice: export {', '.join(layout.title for layout in LAYOUTS.values())} "
                          "instead (docs/sources/files.md)"])
    if found is None or (named and named != found):
        what = f"is titled {title.report!r} but" if title.report else "is a report whose"
        expected = LAYOUTS[named or "open_invoices"]
        raise InputError([
            f"{name} {what} row {sheet.numbers[index]} has the columns {', '.join(repr(h) for h in header.headers if h)}: "
            f"ledgerlight reads QuickBooks Desktop's {', '.join(layout.title for layout in LAYOUTS.values())} with "
            f"their standard columns (the {expected.title} needs {', '.join(expected.columns)}); export it again "
            "without removing columns (docs/sources/files.md)"])
    missing = [column for column in LAYOUTS[found].columns if column not in present]
    if missing:
        shown = ", ".join(column.replace("_", " ").title() for column in missing)
        raise InputError([f"{name} is QuickBooks Desktop's {LAYOUTS[found].title} without the {shown} column: in "
                          f"QuickBooks Desktop, Customize Report > Display > Columns, tick {shown}, and export it again "
                          "(without due dates, nothing says which invoices are overdue)"])
    if mapping:
        raise InputError([f"{name} is a QuickBooks Desktop report, read by its own column names: leave out --map"])
    return found, header


def _read_report(name: str, sheet: Sheet, index: int, read: Read, on: date | None, latest: date,
                 problems: Problems, mapping: dict) -> None:
    title = _title(sheet, index)
    found, header = _layout_of(name, sheet, index, title, mapping)
    layout = LAYOUTS[found]
    if title.period and not layout.snapshot:
        raise InputError([f"{name} is a {layout.title} for {title.period} only: a history must start at the "
                          "beginning; run the report with Dates: All and export it again"])
    report_on = on or title.on
    first_data = min(header.positions.values())
    dates = partial(day, reading=tabular.DateReading(latest=latest))
    amount_column = "open_balance" if layout.snapshot else "amount" if "amount" in header else None
    sections: list[list] = []  # [label, depth, sum, first row number] from the outermost
    grand = ZERO
    running: Decimal | None = None
    items_before = len(read.items)
    for record in Records(sheet, header, problems, start=index + 1):
        labels = [(column, tabular.text(record.cells[column])) for column in range(min(first_data, len(record.cells)))
                  if tabular.text(record.cells[column])]
        kind = tabular.text(record.raw("type"))
        if labels and not kind:
            depth, label = labels[0]
            # A Transaction List adds up nothing (its documents' amounts would not make a sum).
            stated = None if found == "transaction_list_by_customer" else _stated_total(record, header, amount_column)
            if label.upper() == "TOTAL":
                if stated is not None and stated != grand:
                    record.fail(amount_column, f"TOTAL says {stated:,} but the rows above add up to {grand:,}: "
                                "amounts do not add up; export the report again, unfiltered")
                break
            if label.lower().startswith("total "):
                while sections and sections[-1][0] != label[6:] and sections[-1][1] >= depth:
                    sections.pop()
                if not sections or sections[-1][0] != label[6:]:
                    record.fail(None, f"{label!r} closes no section: the report's rows are out of order; export it again")
                    continue
                section = sections.pop()
                if stated is not None and stated != section[2]:
                    record.fail(amount_column, f"{label!r} says {stated:,} but its rows add up to {section[2]:,}: "
                                "amounts do not add up; export the report again, unfiltered")
                running = None
                continue
            while sections and sections[-1][1] >= depth:
                sections.pop()
            sections.append([label, depth, ZERO, record.number])
            running = None
            continue
        if not kind:
            record.fail(None, "neither a section, a total nor a transaction: export the report again without "
                        "changing its layout")
            continue
        if tabular.header_key(kind) == "type":
            continue  # the header again, as a multi-page export repeats it
        before = problems.count
        value = record.get(amount_column, amount) if amount_column else _debit_credit(record)
        txn_date = record.get("date", dates)
        if problems.count > before or value is None or txn_date is None:
            if txn_date is None and problems.count == before:
                record.fail("date", "no date: every transaction has one")
            continue
        for section in sections:
            section[2] += value
        grand += value
        if found == "customer_balance_detail":
            stated_balance = record.get("balance", amount)
            running = (running or ZERO) + value
            if stated_balance is not None and stated_balance != running:
                record.fail("balance", f"the balance is {stated_balance:,} after an amount of {value:,}, but the rows "
                            f"above make it {running:,}: the report starts mid-history or was filtered; run it with "
                            "Dates: All and export it again")
                running = stated_balance
        effect = _ar_effect(record, value, found)
        if effect is None or effect == 0:
            continue
        customer = (tabular.text(record.raw("name")) if layout.sections == "aging period"
                    else ":".join(section[0] for section in sections))
        if not customer:
            record.fail("name" if layout.sections == "aging period" else None,
                        "no customer: the transaction is outside any customer's section")
            continue
        if layout.snapshot:
            due = record.get("due_date", dates)
            aging = tabular.text(record.raw("aging"))
            if aging and due and re.fullmatch(r"-?\d+", aging):
                implied_on = date.fromordinal(due.toordinal() + int(aging))
                if report_on is None:
                    report_on = implied_on
                if implied_on != report_on:
                    record.fail("aging", f"{aging} days past the due date {due} means the report is as of "
                                f"{implied_on}, not {report_on}: pass --on {implied_on}, or export it again")
            if found == "ar_aging_detail" and sections and effect > 0:
                _check_period(record, sections[0][0], aging)
        _qbd_item(record, name, kind, customer, txn_date, effect, read, layout, dates)
    problems.check()
    for customer in {item.customer for item in read.items[items_before:]}:
        parts = customer.split(":")
        for depth in range(1, len(parts) + 1):  # 'Acme:Project X' is a job of the customer 'Acme'
            read.customers.setdefault(":".join(parts[:depth]), (":".join(parts[:depth]),
                                                                ":".join(parts[:depth - 1]) or None))
    read.on = report_on
    read.snapshot = layout.snapshot
    read.company_name = title.company
    read.described.append(f"QuickBooks Desktop {layout.title}: {layout.supports}")


def _stated_total(record, header, amount_column) -> Decimal | None:
    if amount_column is None or not tabular.text(record.raw(amount_column)):
        return None
    return record.get(amount_column, amount)


def _debit_credit(record) -> Decimal | None:
    debit = record.get("debit", lambda v: amount(v) if tabular.text(v) else ZERO)
    credit = record.get("credit", lambda v: amount(v) if tabular.text(v) else ZERO)
    return None if debit is None or credit is None else debit - credit


def _is_receivable(account: str) -> bool:
    return "accounts receivable" in account.lower() or bool(re.search(r"\ba/?r\b", account.lower()))


def _ar_effect(record, value: Decimal, layout: str) -> Decimal | None:
    """How much a report row raises (positive) or lowers what the customer owes. In a Transaction
    List the amount is the Account column's: a row whose Split is A/R moves A/R the other way."""
    if layout != "transaction_list_by_customer":
        return value
    if _is_receivable(tabular.text(record.raw("account"))):
        return value
    if _is_receivable(tabular.text(record.raw("split"))):
        return -value
    return None  # an estimate, a sales receipt, a deposit of cash: not A/R


_PERIOD = re.compile(r"(\d+)\s*-\s*(\d+)|>\s*(\d+)|over\s+(\d+)")


def _check_period(record, period: str, aging: str) -> None:
    days = int(aging) if re.fullmatch(r"-?\d+", aging or "") else 0
    if period.lower() == "current":
        fits = days <= 0
    else:
        found = _PERIOD.search(period)
        if not found:
            record.fail(None, f"{period!r} is not an aging period of QuickBooks Desktop's A/R Aging Detail")
            return
        low, high = (int(found.group(1)), int(found.group(2))) if found.group(1) else (int(found.group(3) or found.group(4)) + 1, None)
        fits = days >= low and (high is None or days <= high)
    if not fits:
        record.fail("aging", f"{days} days past due, but it is listed under {period!r}: amounts do not add up; "
                    "export the report again")


def _qbd_item(record, name: str, kind: str, customer: str, txn_date: date, effect: Decimal, read: Read,
              layout: Layout, dates) -> None:
    known = _QBD_TYPES.get(kind.lower())
    if known is None:
        record.fail("type", f"{kind!r} is not a customer transaction ledgerlight knows (it knows "
                    f"{', '.join(t.title() for t in _QBD_TYPES)}): export the report again, unfiltered")
        return
    table, doc_type = known
    if table is None:
        table, doc_type = ("invoices", "journal_entry") if effect > 0 else ("credit_memos", "journal_entry")
    if (table == "invoices") != (effect > 0):
        record.fail("type", f"a {kind} that {'raises' if effect > 0 else 'lowers'} what the customer owes: a {kind} "
                    f"{'lowers' if effect > 0 else 'raises'} it; export the report again")
        return
    number = tabular.text(record.raw("num")) or None
    where = f"{name} row {record.number}"
    if table == "invoices" and doc_type == "invoice":
        if not number:
            record.fail("num", "an invoice with no number: number it in QuickBooks Desktop")
            return
        item_id = number
    else:
        item_id = f"{doc_type}:{number}" if number and doc_type in ("credit_memo", "statement_charge") else \
            _stable_id(doc_type, customer, txn_date, abs(effect), number or "", record.number if not number else "")
    # A history report with the Open Balance column added says how much of each invoice is still
    # open at the report's date: the payments then settle exactly that, whatever they paid.
    stated = (record.get("open_balance", amount) if table == "invoices" and not layout.snapshot
              and tabular.text(record.raw("open_balance")) else None)
    item = Item(table, item_id, customer, txn_date, abs(effect), where, number, doc_type=doc_type,
                due_date=record.get("due_date", dates), terms=tabular.text(record.raw("terms")) or None,
                currency=record.get("currency", _currency), snapshot=layout.snapshot, balance=stated)
    clash = read.index.get((table, item_id))
    if clash is not None:
        record.fail("num", f"{kind} {number} is also on {clash.where}: every invoice number must be one invoice "
                    "(in QuickBooks Desktop: Edit > Preferences > Sales & Customers > warn about duplicate invoice numbers)")
        return
    read.items.append(item)
    read.index[(table, item_id)] = item


# --- from items to books -----------------------------------------------------------------------


def allocate(items: list[Item], problems: Problems) -> list[dict]:
    """The applications of credits to invoices: those the files state, then, for a credit that
    names no invoice, the balance-forward rule: its customer's oldest open invoices first (by
    date, then due date, then number), in the credit's currency, on the later of the two dates.
    An invoice whose export states its open balance takes only what leaves that balance open.
    Whatever no invoice takes stays the credit's unapplied amount."""
    invoices = {item.id: item for item in items if item.table == "invoices" and item.status == "posted"}
    by_number = {item.number: item for item in invoices.values() if item.number}
    room = {}
    for item in invoices.values():
        room[item.id] = item.amount if item.balance is None else item.amount - item.balance
        if item.balance is not None and not ZERO <= item.balance <= item.amount:
            problems.add(f"{item.where}: the balance {item.balance:,} is not between 0 and the total {item.amount:,}: "
                         "amounts do not add up")
    applications: dict[tuple[str, str], dict] = {}
    credits = sorted((item for item in items if item.table != "invoices" and item.status == "posted"),
                     key=lambda item: (item.txn_date, item.id))

    def apply(credit: Item, invoice: Item, value: Decimal) -> None:
        key = (credit.id, invoice.id)
        row = applications.setdefault(key, {
            "application_id": f"{credit.id}>{invoice.id}", "invoice_id": invoice.id,
            "payment_id": credit.id if credit.table == "payments" else None,
            "credit_memo_id": credit.id if credit.table == "credit_memos" else None,
            "applied_on": max(credit.txn_date, invoice.txn_date), "amount": ZERO})
        row["amount"] += value
        room[invoice.id] -= value
        credit.unapplied -= value

    for credit in credits:
        credit.unapplied = credit.amount
        for number, value, where in credit.applies:
            invoice = by_number.get(number)
            if invoice is None:
                problems.add(f"{where}: applied to invoice {number!r}, which no file of this import holds: import "
                             "the invoices file with it, or leave the invoice out of the row")
                continue
            if invoice.customer != credit.customer or (invoice.currency or "") != (credit.currency or ""):
                problems.add(f"{where}: applied to invoice {number!r} of another customer or currency "
                             f"({invoice.where}): amounts do not add up")
                continue
            value = min(credit.unapplied, room[invoice.id]) if value is None else value
            if value > room[invoice.id] or value > credit.unapplied or value < 0:
                problems.add(f"{where}: applies {value:,} to invoice {number!r}, which has {room[invoice.id]:,} left "
                             f"to pay, from a credit with {credit.unapplied:,} left: amounts do not add up")
                continue
            apply(credit, invoice, value)
    oldest_first = defaultdict(list)
    for invoice in sorted(invoices.values(), key=lambda i: (i.txn_date, i.due_date or i.txn_date, i.id)):
        oldest_first[(invoice.customer, invoice.currency or "")].append(invoice)
    paid_up_to = defaultdict(int)  # per customer, the invoices before this one have no room left
    for credit in credits:
        if credit.applies or credit.snapshot:  # what a snapshot lists as unapplied is unapplied
            continue
        key = (credit.customer, credit.currency or "")
        queue = oldest_first[key]
        while credit.unapplied > 0 and paid_up_to[key] < len(queue):
            invoice = queue[paid_up_to[key]]
            if room[invoice.id] > 0:
                apply(credit, invoice, min(credit.unapplied, room[invoice.id]))
            if room[invoice.id] <= 0:
                paid_up_to[key] += 1
    for invoice in invoices.values():
        if invoice.balance is not None and room[invoice.id] != 0:
            problems.add(f"{invoice.where}: the export says {invoice.balance:,} of invoice {invoice.number} is open, "
                         f"but its customer's payments and credits leave {invoice.balance + room[invoice.id]:,} open: "
                         "amounts do not add up (is a payment missing from the payments file?)")
    return [row for row in applications.values() if row["amount"] != 0]


def _home_currency(read: Read, company: Company, known: bool, problems: Problems) -> str:
    """The company's home currency, and every amount in another one must carry its rate to it."""
    unrated = {item.currency for item in read.items if item.currency and item.rate is None}
    home = company.home_currency if known or len(unrated) != 1 else next(iter(unrated))
    if not known and len(unrated) > 1:
        listed = ", ".join(sorted(unrated))
        problems.add(f"the files hold amounts in {listed} with no exchange rate: add an exchange_rate column (the rate "
                     "of each row's currency to your home currency), or export the amounts in your home currency")
        return home
    for item in read.items:
        if item.currency and item.currency != home and item.rate is None:
            problems.add(f"{item.where}: an amount in {item.currency}, not the home currency {home}, with no exchange "
                         f"rate: add an exchange_rate column ({item.currency} to {home}), or export it in {home}")
    return home


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def books_of(read: Read, home: str) -> dict[str, pd.DataFrame]:
    """The canonical tables the items make."""
    items = read.items
    applications = read.applications
    currency_of = defaultdict(set)
    for item in items:
        currency_of[item.customer].add(item.currency or home)
    customers = pd.DataFrame([
        {"customer_id": customer_id, "name": name, "parent_id": parent,
         "currency": next(iter(currency_of[customer_id])) if len(currency_of[customer_id]) == 1 else home,
         "active": True}
        for customer_id, (name, parent) in sorted(read.customers.items())])

    def money_fields(item: Item) -> dict:
        return {"customer_id": item.customer, "txn_date": item.txn_date, "currency": item.currency or home,
                "exchange_rate": item.rate or Decimal(1), "status": item.status, "doc_type": item.doc_type}

    tables = {
        "customers": customers,
        "invoices": pd.DataFrame([
            {"invoice_id": item.id, "doc_number": item.number, **money_fields(item), "due_date": item.due_date,
             "terms": item.terms, "total": item.amount, "home_total": _money(item.amount * (item.rate or 1)),
             "kind": item.kind}
            for item in items if item.table == "invoices"]),
        "payments": pd.DataFrame([
            {"payment_id": item.id, **money_fields(item), "amount": item.amount,
             "unapplied_amount": item.unapplied if item.status == "posted" else ZERO, "method": item.method}
            for item in items if item.table == "payments"]),
        "credit_memos": pd.DataFrame([
            {"credit_memo_id": item.id, **money_fields(item), "total": item.amount,
             "unapplied_amount": item.unapplied if item.status == "posted" else ZERO}
            for item in items if item.table == "credit_memos"]),
        "applications": pd.DataFrame(applications),
    }
    return {table: frame for table, frame in tables.items() if not frame.empty}


# --- the run -----------------------------------------------------------------------------------


def _file_and_kind(file: str) -> tuple[str | None, str]:
    kind, equals, path = file.partition("=")
    normal = kind.strip().lower().replace("-", "_").replace(" ", "_")
    normal = {"credits": "credit_notes", "credit_memos": "credit_notes"}.get(normal, normal)
    return (normal, path) if equals and normal in KINDS else (None, file)


def read_files(settings: FilesSettings, today: date) -> tuple[Read, list[str]]:
    """Every file of an import read and checked; raises InputError naming each problem."""
    if not settings.files:
        raise InputError("no file given: name the invoices file, and the payments and credit notes files if any")
    read, names, used = Read(), [], set()
    on = settings.on or today
    latest = tabular.latest_date(on)
    reports, generic = 0, []
    for file, content in settings.files:
        asked, path = _file_and_kind(file)
        name, data = tabular.read_bytes(path, content)
        names.append(name)
        sheet = tabular.read_sheet(name, data, choose_sheet=_report_sheet)
        problems = Problems(name)
        index = None if asked else _qbd_header(sheet)
        if index is not None:
            reports += 1
            _read_report(name, sheet, index, read, settings.on, latest, problems, settings.mapping)
            continue
        other = _other_system(name, sheet)
        if other and not asked:
            raise InputError([other])
        kind, index = _kind_of(name, sheet, asked)
        generic.append((name, sheet, kind, index, _generic_header(name, sheet, kind, index, settings.mapping, used)))
    if generic:
        problems = Problems(", ".join(names))
        reading = tabular.date_reading([_date_cells(sheet, index, header, ("date", "due_date"))
                                        for _, sheet, _, index, header in generic], latest, problems)
        problems.check()
        if reading.assumed:
            read.warnings.append(f"{', '.join(names)}: every date could be read either way round; read as month/day "
                                 "(the US way). If they are day/month, write them as YYYY-MM-DD")
        for name, sheet, kind, index, header in generic:
            problems = Problems(name)
            _read_generic(name, sheet, kind, index, header, reading, read, problems)
            problems.check()
    if reports and len(settings.files) > 1:
        raise InputError([f"{', '.join(names)}: a QuickBooks Desktop report holds the books on its own: import it "
                          "alone, not with other files"])
    unused = sorted(set(settings.mapping) - used)
    if unused:
        raise InputError([f"no file has the header {settings.mapping[unused[0]]!r} (mapped to {unused[0]}): check "
                          f"the spelling; the files are {', '.join(names)}"])
    if not reports:
        _generic_snapshot_or_history(read, names)
    read.on = read.on or on
    return read, names


def _generic_snapshot_or_history(read: Read, names: list[str]) -> None:
    """Generic invoices with no payments or credit notes: their stated balances are a snapshot of
    the export's date; without balances nothing says what was paid, so they are refused."""
    invoices = [item for item in read.items if item.table == "invoices"]
    if not invoices:
        raise InputError([f"{', '.join(names)}: no invoices: the invoices file is needed (payments and credit "
                          "notes apply to its invoices)"])
    if any(item.table != "invoices" for item in read.items):
        return
    if any(item.balance is None for item in invoices):
        raise InputError([f"{', '.join(names)}: invoices but no payments, and no balance column: ledgerlight "
                          "cannot tell what has been paid. Import the payments export too (payments=FILE), or "
                          "export the invoices with their balance due"])
    read.snapshot = True
    read.items = [item for item in invoices if item.status == "posted" and item.balance > 0]
    for item in read.items:
        item.amount, item.balance, item.snapshot = item.balance, None, True
    read.described.append("invoices with their balance and no payments: a snapshot of what is open")


def _report_sheet(names: list[str]) -> int:
    """QuickBooks Desktop's Excel export puts 'QuickBooks Export Tips' first, the report after."""
    return next((i for i, name in enumerate(names) if "export tips" not in name.lower()), 0)


def fetch(settings: FilesSettings, state: SourceState, progress: Progress) -> Batch:
    progress(0.05, "Reading the files")
    read, names = read_files(settings, state.today)
    held = state.company
    known = held.data_through is not None
    if known and read.on < held.data_through and not settings.replace_all:
        raise InputError([f"{', '.join(names)} describe {read.on}, before the {held.data_through} of the books "
                          f"loaded for {held.name}: import the newer export, or confirm going back with --replace-all"])
    problems = Problems(", ".join(names))
    home = _home_currency(read, held, known, problems)
    for item in read.items:
        item.currency = item.currency or home
    read.applications = allocate(read.items, problems)
    problems.check()
    progress(0.6, "Mapping the books")
    company = Company(COMPANY_SOURCE, held.company_id, held.name if known or not read.company_name else
                      stored_text(read.company_name), home, read.on, read.on if read.snapshot else None)
    books = books_of(read, home)
    counts = {table: len(frame) for table, frame in books.items() if table != "applications"}
    report = FilesReport(names, read.described, counts, read.on, read.snapshot)
    return Batch(company, kind="import", complete=True, rows=books, warnings=read.warnings, summary=report)


SOURCE = Source(
    name=NAME,
    label="file export",
    entities=BOOK_ENTITIES,
    company=company,
    fetch=fetch,
    importer=Importer("files", settings_for, columns=COLUMN_NAMES, several=True),
)
