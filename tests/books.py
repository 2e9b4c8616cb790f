"""Small hand-made books for tests, written through the real pipeline into a real DuckDB file.

Rows are plain dicts with only the fields that matter to a test; defaults fill the rest
(USD at rate 1, home_total = round(total x rate, 2)).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

from etl import pipeline
from etl.batch import Company
from etl.sources import autopay_roster, tables

TEST_COMPANY = Company("test", "c1", "Hand-made MSP", data_through=date(2026, 3, 31))


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _invoice(row: dict) -> dict:
    rate = Decimal(str(row.get("exchange_rate", "1")))
    total = money(row["total"])
    return {
        "status": "posted",
        "currency": "USD",
        "kind": "recurring",
        "doc_number": row["invoice_id"],
        **row,
        "total": total,
        "exchange_rate": rate,
        "home_total": money(total * rate),
    }


def customers_frame(customers: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"currency": "USD", "active": True, **r} for r in customers])


def _with_money(row: dict, *fields: str) -> dict:
    filled = {"currency": "USD", "exchange_rate": 1, "unapplied_amount": 0, **row}
    rate = Decimal(str(filled["exchange_rate"]))
    return {**filled, "exchange_rate": rate, **{f: money(filled[f]) for f in fields}}


def write_book(
    path: Path,
    customers: list[dict],
    invoices: list[dict] = (),
    payments: list[dict] = (),
    credit_memos: list[dict] = (),
    applications: list[dict] = (),
    company: Company = TEST_COMPANY,
) -> Path:
    books = {
        "customers": customers_frame(customers),
        "invoices": pd.DataFrame([_invoice(r) for r in invoices]),
        "payments": pd.DataFrame([_with_money(r, "amount", "unapplied_amount") for r in payments]),
        "credit_memos": pd.DataFrame([_with_money(r, "total", "unapplied_amount") for r in credit_memos]),
        "applications": pd.DataFrame([{"amount": money(r["amount"]), "credit_memo_id": None, **r} for r in applications]),
    }
    return load_books(path, books, company)


def load_books(path: Path, books: dict[str, pd.DataFrame], company: Company = TEST_COMPANY) -> Path:
    """Write ready-made book tables through the real pipeline into the DuckDB file at `path`."""
    pipeline.run(path, tables.SOURCE, tables.Tables(company, books))
    return path


# The book most metric tests read. Worked out by hand at 2026-03-31 (due-date basis):
#   I1 1000.00 due 03-31, 400.00 paid 03-15, 600.00 paid 04-10 (after as-of) -> 600.00 current
#   I2  250.00 due 02-14, 50.00 credit memo applied 03-01 via a 0.00 payment -> 200.00, 45 dpd, 31-60
#   I3  120.50 due 2025-12-01, unpaid                                  -> 120.50, 120 dpd, 91+
#   I4  300.00 due 03-07, paid in full 03-20                           -> not open
#   I5  voided                                                         -> nowhere
#   I6 1000.00 CAD at 0.73 due 03-03, 333.33 CAD paid 03-25 -> 666.67 CAD = 486.67 USD, 28 dpd, 1-30
#   I7  500.00 dated 04-02, after as-of                                -> nowhere
#   I8   80.00 sub-customer, no due date, dated 01-20 (due then)       -> 80.00, 70 dpd, 61-90
#   P6   75.00 unapplied payment from Birch                            -> customer credit, not in buckets
#   CM2  25.00 credit memo for Elm, never applied (Elm owes nothing)   -> customer credit only
SAMPLE_CUSTOMERS = [
    {"customer_id": "C1", "name": "Acme Dental", "email": "ap@acme.example", "terms": "Net 30"},
    {"customer_id": "C2", "name": "Birch Legal", "email": "billing@birch.example", "terms": "Net 15"},
    {"customer_id": "C3", "name": "Cedar CPA", "currency": "CAD", "terms": "Net 30"},
    {"customer_id": "C4", "name": "Dune Clinic", "parent_id": "C1"},
    {"customer_id": "C5", "name": "Elm Dental", "email": "office@elm.example"},
]
SAMPLE_INVOICES = [
    {"invoice_id": "I1", "customer_id": "C1", "txn_date": date(2026, 3, 1), "due_date": date(2026, 3, 31), "total": "1000.00"},
    {"invoice_id": "I2", "customer_id": "C1", "txn_date": date(2026, 1, 15), "due_date": date(2026, 2, 14), "total": "250.00", "kind": "project"},
    {"invoice_id": "I3", "customer_id": "C2", "txn_date": date(2025, 11, 1), "due_date": date(2025, 12, 1), "total": "120.50"},
    {"invoice_id": "I4", "customer_id": "C2", "txn_date": date(2026, 2, 20), "due_date": date(2026, 3, 7), "total": "300.00"},
    {"invoice_id": "I5", "customer_id": "C2", "txn_date": date(2026, 3, 2), "due_date": date(2026, 3, 17), "total": "0.00", "status": "voided"},
    {"invoice_id": "I6", "customer_id": "C3", "txn_date": date(2026, 2, 1), "due_date": date(2026, 3, 3), "total": "1000.00", "currency": "CAD", "exchange_rate": "0.73"},
    {"invoice_id": "I7", "customer_id": "C1", "txn_date": date(2026, 4, 2), "due_date": date(2026, 5, 2), "total": "500.00"},
    {"invoice_id": "I8", "customer_id": "C4", "txn_date": date(2026, 1, 20), "due_date": None, "total": "80.00"},
]
SAMPLE_PAYMENTS = [
    {"payment_id": "P1", "customer_id": "C1", "txn_date": date(2026, 3, 15), "amount": "400.00", "method": "check"},
    {"payment_id": "P2", "customer_id": "C1", "txn_date": date(2026, 4, 10), "amount": "600.00", "method": "ach"},
    {"payment_id": "P3", "customer_id": "C2", "txn_date": date(2026, 3, 20), "amount": "300.00", "method": "ach"},
    {"payment_id": "P4", "customer_id": "C1", "txn_date": date(2026, 3, 1), "amount": "0.00", "method": "other"},
    {"payment_id": "P5", "customer_id": "C3", "txn_date": date(2026, 3, 25), "amount": "333.33", "method": "card", "currency": "CAD", "exchange_rate": "0.74"},
    {"payment_id": "P6", "customer_id": "C2", "txn_date": date(2026, 3, 28), "amount": "75.00", "unapplied_amount": "75.00", "method": "check"},
]
SAMPLE_CREDIT_MEMOS = [
    {"credit_memo_id": "CM1", "customer_id": "C1", "txn_date": date(2026, 3, 1), "total": "50.00"},
    {"credit_memo_id": "CM2", "customer_id": "C5", "txn_date": date(2026, 2, 10), "total": "25.00", "unapplied_amount": "25.00"},
]
SAMPLE_APPLICATIONS = [
    {"application_id": "A1", "invoice_id": "I1", "payment_id": "P1", "applied_on": date(2026, 3, 15), "amount": "400.00"},
    {"application_id": "A2", "invoice_id": "I1", "payment_id": "P2", "applied_on": date(2026, 4, 10), "amount": "600.00"},
    {"application_id": "A3", "invoice_id": "I4", "payment_id": "P3", "applied_on": date(2026, 3, 20), "amount": "300.00"},
    {"application_id": "A4", "invoice_id": "I2", "payment_id": "P4", "credit_memo_id": "CM1", "applied_on": date(2026, 3, 1), "amount": "50.00"},
    {"application_id": "A5", "invoice_id": "I6", "payment_id": "P5", "applied_on": date(2026, 3, 25), "amount": "333.33"},
]


def write_sample_book(path: Path) -> Path:
    return write_book(
        path,
        SAMPLE_CUSTOMERS,
        SAMPLE_INVOICES,
        SAMPLE_PAYMENTS,
        SAMPLE_CREDIT_MEMOS,
        SAMPLE_APPLICATIONS,
    )


def import_roster(db: Path, file: str, content: bytes | None = None, company_id: str | None = None,
                  mapping: dict | None = None, imported_on: date | None = None, replace_all: bool = False):
    """A roster imported through the real pipeline, as `python -m etl import autopay` does; the roster's report."""
    settings = autopay_roster.SOURCE.importer.settings(file, content=content, company_id=company_id,
                                                       mapping=mapping, on=imported_on, replace_all=replace_all)
    return pipeline.run(db, autopay_roster.SOURCE, settings).summary
