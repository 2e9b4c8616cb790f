"""Source: HighRadius's public payment-date-prediction sample (`dataset.csv` of its internship
projects, copied into many public repositories: 50,000 invoice rows of 2019-2020, USD and CAD;
see docs/sources/highradius_sample.md for where it comes from and what was checked).

Each row is one invoice (`doc_id`) of a customer (`cust_number`), posted on `posting_date`, due on
`due_in_date` (written YYYYMMDD.0), for `total_open_amount` in `invoice_currency`. A closed row
(`isOpen` 0) was cleared on `clear_date`: it becomes one payment of the full amount and one
application on that date. An open row (`isOpen` 1, no `clear_date`: the rows HighRadius held back
to be predicted) stays open. The books are kept in USD, the file's main currency: it holds no
exchange rate, so its CAD rows are left out and counted. A row repeated with the same `doc_id` is
one invoice (the first row kept, the repeats counted). Real data nobody on this project wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd

from etl import tabular
from etl.batch import BOOK_ENTITIES, Batch, Company, Importer, Progress, Source, SourceState, paid_in_full
from etl.tabular import Column, Problems, Records

HOME_CURRENCY = "USD"
COMPANY = Company("file", "highradius-sample", "HighRadius A/R sample (USD)", HOME_CURRENCY)

COLUMNS = ["business_code", "cust_number", "name_customer", "clear_date", "doc_id", "posting_date", "due_in_date",
           "invoice_currency", "total_open_amount", "cust_payment_terms", "isOpen"]
# The fields that make a row an invoice: two rows of one doc_id that agree on them are one invoice.
FIELDS = ["customer_id", "name", "posting_date", "due_date", "clear_date", "currency", "amount", "terms"]
LATEST = date(2030, 12, 31)  # the file runs to 2020; a later date is a broken cell
_DOC_ID = re.compile(r"(\d+)(?:\.0+)?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})(?:\.0+)?")


def document_number(value) -> str:
    """`doc_id` as written (1929003413.0, a float's text): its digits."""
    written = tabular.text(value)
    found = _DOC_ID.fullmatch(written)
    if not found:
        raise ValueError(f"{written!r} is not a document number: digits, as 1929003413.0")
    return found.group(1)


def customer_number(value) -> str:
    """`cust_number`: numbers keep the file's ten digits (the file writes 0200769623 in one row and
    200769623 in another for the same customer); codes such as CCCA02 stay as written."""
    written = tabular.stored_text(value)
    if not written:
        raise ValueError("is empty: every invoice names its customer")
    return written.zfill(10) if written.isdigit() else written


def compact_day(value) -> date:
    """`due_in_date` as written (20190405.0)."""
    written = tabular.text(value)
    found = _COMPACT_DATE.fullmatch(written)
    if not found:
        raise ValueError(f"{written!r} is not a date as the file writes them (YYYYMMDD.0, e.g. 20190405.0)")
    return tabular.day("-".join(found.groups()), tabular.DateReading(latest=LATEST))


def day(value) -> date | None:
    """`clear_date` as written (2019-04-05 00:00:00); None when empty."""
    return tabular.day(value, tabular.DateReading(latest=LATEST))


def posted(value) -> date:
    """`posting_date` (2019-03-21): every invoice has one."""
    found = day(value)
    if found is None:
        raise ValueError("is empty: every invoice has the date it was posted")
    return found


def currency_code(value) -> str:
    written = tabular.text(value).upper()
    if not re.fullmatch(r"[A-Z]{3}", written):
        raise ValueError(f"{tabular.text(value)!r} is not a currency code such as USD or CAD")
    return written


def open_flag(value) -> bool:
    written = tabular.text(value)
    if written not in ("0", "1"):
        raise ValueError(f"{written!r} is not 0 (cleared) or 1 (open)")
    return written == "1"


def read_rows(path: Path) -> pd.DataFrame:
    """Every row of the file, checked: one row per CSV row (`row`: its number in the file), ids as
    text, dates parsed, amounts exact. A bad cell is named with its row and column, all at once."""
    name, content = tabular.read_bytes(str(path))
    sheet = tabular.read_sheet(name, content)
    headers = {tabular.text(cell) for cell in sheet.rows[0]}
    missing = [column for column in COLUMNS if column not in headers]
    if missing:
        raise tabular.refuse(f"{path}: not the HighRadius payment-date sample (missing columns: {', '.join(missing)})")
    problems = Problems(name)
    header = tabular.find_columns(name, sheet.rows[0], [Column(column, required=True) for column in COLUMNS])
    rows = []
    for record in Records(sheet, header, problems):
        row = {"row": record.number, "doc_id": record.get("doc_id", document_number),
               "customer_id": record.get("cust_number", customer_number), "name": record.get("name_customer"),
               "posting_date": record.get("posting_date", posted), "due_date": record.get("due_in_date", compact_day),
               "clear_date": record.get("clear_date", day), "currency": record.get("invoice_currency", currency_code),
               "amount": record.get("total_open_amount", tabular.amount), "terms": record.get("cust_payment_terms"),
               "is_open": record.get("isOpen", open_flag)}
        if row["is_open"] is False and not tabular.text(record.raw("clear_date")):
            record.fail("clear_date", "is empty but isOpen is 0 (cleared): give the date it was cleared, or isOpen 1")
        if row["is_open"] and row["clear_date"] is not None:
            record.fail("clear_date", f"is {row['clear_date']} but isOpen is 1 (open): one of the two is wrong")
        if row["amount"] is not None and row["amount"] < 0:
            record.fail("total_open_amount", f"{row['amount']} is negative: an invoice's amount is 0 or more")
        rows.append(row)
    problems.check()
    if not rows:
        raise tabular.refuse(f"{path} has a header row but no invoices")
    return pd.DataFrame(rows)


def ledger(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows that become the books, and a sentence for each kind of row left out: repeats of a
    doc_id (the first row kept; those that disagree with it are counted apart), rows in another
    currency than USD, and rows of no amount."""
    notes = []
    repeated = rows.duplicated("doc_id")
    if repeated.any():
        signature = rows[FIELDS].apply(lambda row: repr(tuple(row)), axis=1)
        first = signature[~repeated].set_axis(rows.loc[~repeated, "doc_id"])
        differing = int((signature[repeated].to_numpy() != first.loc[rows.loc[repeated, "doc_id"]].to_numpy()).sum())
        notes.append(f"{_rows(repeated.sum())} repeating the doc_id of an earlier row left out (the earlier row "
                     f"kept){f'; {differing:,} of them differ from it' if differing else ''}")
    kept = rows[~repeated]
    foreign = kept["currency"] != HOME_CURRENCY
    if foreign.any():
        counts = kept.loc[foreign, "currency"].value_counts()
        listed = ", ".join(f"{count:,} in {currency}" for currency, count in counts.items())
        notes.append(f"{_rows(foreign.sum())} ({listed}) left out: the books are in {HOME_CURRENCY} and the file "
                     "holds no exchange rate")
    kept = kept[~foreign]
    empty = kept["amount"] == 0
    if empty.any():
        notes.append(f"{_rows(empty.sum())} of 0.00 left out: they bring no cash")
    kept = kept[~empty].reset_index(drop=True)
    if kept.empty:
        raise tabular.refuse(f"the file holds no invoice in {HOME_CURRENCY} of more than 0.00: nothing to load")
    return kept, notes


def _rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


def books_of(rows: pd.DataFrame) -> tuple[Company, dict[str, pd.DataFrame]]:
    """The canonical tables of the kept rows: the company's data runs to the last clearing."""
    closed = rows[~rows["is_open"]].reset_index(drop=True)
    at_noon = [datetime.combine(on, time(12)) for on in rows["clear_date"].where(~rows["is_open"], rows["posting_date"])]
    customers = rows.groupby("customer_id", as_index=False, sort=True).agg(name=("name", "first"), terms=("terms", "first"))
    names = customers["name"].str.strip()
    books = {
        "customers": pd.DataFrame({
            "customer_id": customers["customer_id"],
            "name": names.where(names != "", "customer") + " (" + customers["customer_id"] + ")",
            "terms": customers["terms"],
        }),
        "invoices": pd.DataFrame({
            "invoice_id": rows["doc_id"], "doc_number": rows["doc_id"], "customer_id": rows["customer_id"],
            "txn_date": rows["posting_date"], "due_date": rows["due_date"], "terms": rows["terms"],
            "total": rows["amount"], "currency": HOME_CURRENCY, "home_total": rows["amount"], "updated_at": at_noon,
        }),
        **paid_in_full(closed.rename(columns={"doc_id": "invoice_id", "clear_date": "settled_on"}),
                       currency=HOME_CURRENCY),
    }
    data_through = max(closed["clear_date"], default=max(rows["posting_date"]))
    return Company(COMPANY.source, COMPANY.company_id, COMPANY.name, HOME_CURRENCY, data_through=data_through), books


def read_books(path: Path) -> tuple[Company, dict[str, pd.DataFrame]]:
    return books_of(ledger(read_rows(path))[0])


@dataclass(frozen=True)
class LeftOut:
    """What the import says: what it wrote, and each kind of row it left out."""

    notes: list[str]

    def describe(self, result) -> str:
        written = ", ".join(f"{n:,} {table}" for table, n in result.counts.items() if n)
        return f"{result.company.name}: {written}." + "".join(f"\n  {note}." for note in self.notes)


def fetch(path: Path, state: SourceState, progress: Progress) -> Batch:
    progress(0.0, f"Reading {Path(path).name}")
    kept, notes = ledger(read_rows(Path(path)))
    company, books = books_of(kept)
    return Batch(company, kind="import", complete=True, rows=books, warnings=notes, summary=LeftOut(notes))


SOURCE = Source(
    name="highradius_sample",
    label="HighRadius A/R sample",
    entities=BOOK_ENTITIES,
    company=lambda path, companies: COMPANY,
    fetch=fetch,
    importer=Importer("highradius-sample", lambda file, **options: Path(file)),
)
