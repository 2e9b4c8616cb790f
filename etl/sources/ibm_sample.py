"""Source: IBM's public accounts-receivable sample (WA_Fn-UseC_-Accounts-Receivable.csv).

2,466 invoices of 100 customers, each settled in full on `SettledDate` (see
../shared/data/public/README.md). Each invoice becomes one invoice, one payment of the full
amount and one application on the settlement date. Real data nobody on this project wrote:
the tests check ledgerlight's days-to-pay against the file's own columns.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from pathlib import Path

import pandas as pd

from core.errors import InputError
from etl.batch import BOOK_ENTITIES, Batch, Company, Importer, Progress, Source, SourceState, paid_in_full

COMPANY = Company("file", "ibm-ar-sample", "IBM A/R sample")

COLUMNS = ["countryCode", "customerID", "PaperlessDate", "invoiceNumber", "InvoiceDate", "DueDate",
           "InvoiceAmount", "Disputed", "SettledDate", "PaperlessBill", "DaysToSettle", "DaysLate"]


def read_rows(path: Path) -> pd.DataFrame:
    """The file as text (invoice numbers keep their leading zeros), dates parsed, amounts exact."""
    try:
        rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"{path} could not be read as CSV ({exc}); give the IBM sample's own file") from None
    missing = [c for c in COLUMNS if c not in rows.columns]
    if missing:
        raise InputError(f"{path}: not the IBM A/R sample (missing columns: {', '.join(missing)})")
    try:
        for column in ("PaperlessDate", "InvoiceDate", "DueDate", "SettledDate"):
            rows[column] = pd.to_datetime(rows[column], format="%m/%d/%Y").dt.date
        rows["InvoiceAmount"] = rows["InvoiceAmount"].map(Decimal)
    except (ValueError, ArithmeticError) as exc:
        raise InputError(f"{path}: not the IBM A/R sample as published ({exc})") from None
    return rows


def read_books(path: Path) -> tuple[Company, dict[str, pd.DataFrame]]:
    rows = read_rows(path)
    settled = rows["SettledDate"]
    updated = [datetime.combine(day, time(12)) for day in settled]
    customers = rows.groupby("customerID", as_index=False).agg(country=("countryCode", "first"))
    books = {
        "customers": pd.DataFrame({
            "customer_id": customers["customerID"],
            "name": customers["customerID"] + " (country " + customers["country"] + ")",
            "terms": "Net 30",
        }),
        "invoices": pd.DataFrame({
            "invoice_id": rows["invoiceNumber"], "doc_number": rows["invoiceNumber"],
            "customer_id": rows["customerID"], "txn_date": rows["InvoiceDate"], "due_date": rows["DueDate"],
            "terms": "Net 30", "total": rows["InvoiceAmount"], "home_total": rows["InvoiceAmount"],
            "updated_at": updated,
        }),
        **paid_in_full(pd.DataFrame({"invoice_id": rows["invoiceNumber"], "customer_id": rows["customerID"],
                                     "amount": rows["InvoiceAmount"], "settled_on": settled})),
    }
    return Company(COMPANY.source, COMPANY.company_id, COMPANY.name, data_through=max(settled)), books


def fetch(path: Path, state: SourceState, progress: Progress) -> Batch:
    progress(0.0, f"Reading {Path(path).name}")
    company, books = read_books(Path(path))
    return Batch(company, kind="import", complete=True, rows=books)


SOURCE = Source(
    name="ibm_sample",
    label="IBM A/R sample",
    entities=BOOK_ENTITIES,
    company=lambda path, companies: COMPANY,
    fetch=fetch,
    importer=Importer("ibm-sample", lambda file, **options: Path(file)),
)
