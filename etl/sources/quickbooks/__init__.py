"""Source: QuickBooks Online, through python-quickbooks and intuit-oauth (../shared/spec/quickbooks.md).

A sync fetches everything it needs first, holding no database connection; the pipeline then
writes it in one short transaction: DuckDB lets one process write at a time, and the dashboard
in another process must not be locked out for the length of a slow API conversation.

- Full sync: every Customer (active or not), Invoice, Payment, CreditMemo, JournalEntry, Deposit,
  Purchase, RecurringTransaction, Term, PaymentMethod and Account, paged 1,000 at a time, and the
  company's Preferences and CompanyInfo (its home currency and name): the whole truth for its books.
- Incremental sync: one CDC request for everything changed since the last succeeded run's
  cursor (deletions are only visible there). Past CDC's 30-day window, or when the answer holds
  1,000 objects (QuickBooks' cap for a whole answer, which may have cut it short), it falls back to
  a full sync, which also catches deletions.
- Each sync fetches QuickBooks' own AgedReceivables for the sync date, for reconciliation.
- What the records mean for A/R: mapping.py, and tests/fixtures/quickbooks/NOTES.md for the
  wire formats and their sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pandas as pd

from core.errors import SettingsError, SyncError
from core.settings import settings as current_settings
from etl.batch import BOOK_ENTITIES, Batch, Company, Entity, Progress, Source, SourceState, stepped
from etl.sources.quickbooks import mapping
from etl.sources.quickbooks.api import CONNECTOR, SOURCE as NAME, QuickBooksConnection, QuickBooksSettings

CDC_WINDOW = timedelta(days=29)  # QuickBooks keeps 30 days of changes; leave a day's margin
CDC_CAP = 1000  # objects in one CDC answer, all entities together
REFS = ("Term", "PaymentMethod", "Account")
COMPANY_RECORDS = ("Preferences", "CompanyInfo")  # read on full syncs, kept with the refs
BOOK_RECORDS = ("Customer", "Invoice", "Payment", "CreditMemo", "JournalEntry", "Deposit", "Purchase",
                "RecurringTransaction")
# Canonical table and key column of each QuickBooks entity whose deletions CDC reports.
DELETABLE = {"Customer": ("customers", "customer_id"), "Invoice": ("invoices", "invoice_id"),
             "Payment": ("payments", "payment_id"), "CreditMemo": ("credit_memos", "credit_memo_id"),
             "RecurringTransaction": ("recurring_schedules", "schedule_id")}
# Stored rows a payment line may link to that were made from other records (mapping.Links).
DERIVED_ROWS = (("invoices", "journal_entry"), ("invoices", "refund"), ("credit_memos", "journal_entry"),
                ("credit_memos", "card_credit"), ("payments", "deposit"))


@dataclass
class SyncReport:
    """What a sync did, for the terminal and the Data & sync page."""

    mode: str  # 'full' or 'incremental'
    realm_id: str
    report_date: date
    requests: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def describe(self, result) -> str:
        written = ", ".join(f"{n:,} {table}" for table, n in result.counts.items() if n)
        asked = ", ".join(f"{n} {endpoint}" for endpoint, n in self.requests.items())
        noted = f" {len(self.warnings)} warning{'s' if len(self.warnings) > 1 else ''} in the run log." if self.warnings else ""
        return (f"{self.mode.capitalize()} sync of QuickBooks company {self.realm_id} done: "
                f"{written or 'nothing changed'} ({asked} requests).{noted}")


def company(settings: QuickBooksSettings, companies=None, today: date | None = None,
            refs: dict[str, dict[str, dict]] | None = None) -> Company:
    """The company, named and in the home currency QuickBooks gives (CompanyInfo, Preferences),
    else as the settings say."""
    if settings.realm_id is None:
        raise SettingsError("no QuickBooks company is connected yet: run `python -m etl connect quickbooks` "
                            "(or set QBO_REALM_ID and QBO_REFRESH_TOKEN)")
    info = next(iter((refs or {}).get("CompanyInfo", {}).values()), {})
    preferences = next(iter((refs or {}).get("Preferences", {}).values()), {})
    home = ((preferences.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}).get("value")
    return Company(NAME, settings.realm_id,
                   info.get("CompanyName") or settings.company_name or f"QuickBooks company {settings.realm_id}",
                   home or settings.home_currency or "USD", data_through=today)


def _cursor_is_fresh(cursor: str, today: date) -> bool:
    moment = datetime.fromisoformat(cursor)
    day = moment.astimezone(timezone.utc).date() if moment.tzinfo else moment.date()
    return today - day < CDC_WINDOW


def _live(records: list[dict]) -> list[dict]:
    return [record for record in records if record.get("status") != "Deleted"]


def _refs(stored: pd.DataFrame, fetched: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """Reference records by entity and id: those stored by earlier syncs, updated by this one's."""
    refs: dict[str, dict[str, dict]] = {entity: {} for entity in REFS + COMPANY_RECORDS}
    for row in stored.itertuples():
        refs.setdefault(row.entity, {})[row.ref_id] = json.loads(row.record)
    for entity in REFS + COMPANY_RECORDS:
        refs[entity].update({record["Id"]: record for record in _live(fetched.get(entity, []))})
    return refs


def _refs_frame(refs: dict[str, dict[str, dict]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"entity": entity, "ref_id": ref_id, "record": json.dumps(record, default=str)}
         for entity, records in refs.items() for ref_id, record in records.items()],
        columns=["entity", "ref_id", "record"],
    )


def _stored_derived(state: SourceState) -> list[tuple[str, dict]]:
    """Rows earlier syncs made from journal entries, deposits and purchases."""
    return [(table, row) for table, doc_type in DERIVED_ROWS
            for row in state.rows(table, doc_type=doc_type).to_dict("records")]


def _book_frames(fetched: dict[str, list[dict]], refs: dict[str, dict[str, dict]], home: str,
                 stored_derived: list[tuple[str, dict]], warnings: list[str]) -> dict[str, pd.DataFrame]:
    live = {entity: _live(fetched.get(entity, [])) for entity in BOOK_RECORDS}
    term_names = {ref_id: record.get("Name") for ref_id, record in refs["Term"].items()}
    books = mapping.accounts(list(refs["Account"].values()))
    derived = ([item for r in live["JournalEntry"] for item in mapping.journal_entry_items(r, books, home)]
               + [item for r in live["Deposit"] for item in mapping.deposit_items(r, books, refs["PaymentMethod"], home)]
               + [item for r in live["Purchase"] for item in mapping.purchase_items(r, books, home)])
    remade = {row["made_by"] for _, row in derived}
    links = mapping.Links([*[(t, r) for t, r in stored_derived if r["made_by"] not in remade], *derived])
    deposits = [d for d in (mapping.invoice_deposit(r, home) for r in live["Invoice"]) if d is not None]
    payments = live["Payment"]
    applications = [a for r in payments for a in mapping.payment_applications(r, links, warnings)]
    rows = {
        "customers": [mapping.customer_row(r, term_names, home) for r in live["Customer"]],
        "invoices": [mapping.invoice_row(r, term_names, home) for r in live["Invoice"]]
                    + [row for table, row in derived if table == "invoices"],
        "payments": [mapping.payment_row(r, refs["PaymentMethod"], home) for r in payments]
                    + [row for table, row in derived if table == "payments"] + [payment for payment, _ in deposits],
        "credit_memos": [mapping.credit_memo_row(r, home) for r in live["CreditMemo"]]
                        + [row for table, row in derived if table == "credit_memos"],
        "applications": applications + [application for _, application in deposits],
        "recurring_schedules": [s for s in (mapping.schedule_row(r, home) for r in live["RecurringTransaction"]) if s],
    }
    not_understood = {w.split()[2].rstrip(":") for w in warnings if w.startswith("QuickBooks Payment ")}
    for row in rows["payments"]:  # a payment read in part: its unapplied amount is derived, not checked
        if row["payment_id"] in not_understood:
            row["unapplied_amount"] = None
    return {table: pd.DataFrame(table_rows) for table, table_rows in rows.items()}


def _deleted(fetched: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    deleted = {}
    for entity, (table, key) in DELETABLE.items():
        ids = [r["Id"] for r in fetched.get(entity, []) if r.get("status") == "Deleted"]
        if ids:
            deleted[table] = pd.DataFrame({key: ids})
    return deleted


def aging_rows(report: dict) -> pd.DataFrame:
    """AgedReceivables as rows of (customer_id, customer, bucket, amount): each customer's own
    row (sub-customers sit in their parent's Section) and the grand total with customer_id ''."""
    titles = [column.get("ColTitle", "") for column in report.get("Columns", {}).get("Column", [])]
    rows = []

    def add(cells: list[dict], customer_id: str) -> None:
        for title, cell in zip(titles[1:], cells[1:]):
            rows.append({"customer_id": customer_id, "customer": cells[0].get("value"), "bucket": title,
                         "amount": mapping.money(cell.get("value") or 0)})

    def add_customers(block: list[dict]) -> None:
        for row in block:
            if row.get("group") == "GrandTotal":
                add(row["Summary"]["ColData"], "")
            elif "Rows" in row:
                add_customers(row["Rows"].get("Row", []))
            elif "ColData" in row:
                add(row["ColData"], row["ColData"][0].get("id", ""))

    add_customers(report.get("Rows", {}).get("Row", []))
    return pd.DataFrame(rows, columns=["customer_id", "customer", "bucket", "amount"])


def _read_everything(connection: QuickBooksConnection, progress: Progress) -> tuple[dict[str, list[dict]], str | None]:
    fetched, cursor = {}, None
    entities = REFS + COMPANY_RECORDS + BOOK_RECORDS
    for number, entity in enumerate(entities):
        at = 0.05 + 0.8 * number / len(entities)
        progress(at, f"Fetching {entity} records")
        where = " WHERE Active IN (true, false)" if entity in ("Customer", "Account") else ""  # else only active ones
        fetched[entity], server_time = connection.query_all(
            entity, where, lambda n, e=entity: progress(at, f"Fetching {e}: {n:,}"))
        cursor = cursor or server_time
    return fetched, cursor


def fetch(settings: QuickBooksSettings, state: SourceState, progress: Progress) -> Batch:
    """Everything changed since the last sync (or everything), and QuickBooks' own aging today."""
    mode = "incremental" if state.cursor and _cursor_is_fresh(state.cursor, state.today) else "full"
    connection = None
    step, tell = stepped(progress)
    try:
        step(0.02, "Connecting to QuickBooks")
        connection = QuickBooksConnection(settings, tell=tell)
        fetched, cursor = {}, None
        if mode == "incremental":
            step(0.1, "Fetching changes since the last sync")
            fetched, cursor = connection.changes_since(REFS + BOOK_RECORDS, state.cursor)
            if sum(len(records) for records in fetched.values()) >= CDC_CAP:
                mode = "full"  # the answer may have been cut at QuickBooks' cap: read everything instead
        if mode == "full":
            fetched, cursor = _read_everything(connection, step)
        step(0.88, "Fetching QuickBooks' A/R aging for reconciliation")
        report = connection.aged_receivables(state.today)
    except SyncError as exc:
        exc.kind, exc.requests = mode, dict(connection.requests) if connection else {}
        raise
    incremental = mode == "incremental"
    refs = _refs(state.rows("source_refs") if incremental else pd.DataFrame(columns=["entity", "ref_id", "record"]), fetched)
    the_company = company(settings, today=state.today, refs=refs)
    warnings: list[str] = []
    books = _book_frames(fetched, refs, the_company.home_currency, _stored_derived(state) if incremental else [], warnings)
    requests = dict(connection.requests)
    return Batch(
        the_company, kind=mode, complete=not incremental,
        rows={**books, "source_refs": _refs_frame(refs)},
        deleted=_deleted(fetched) if incremental else {},
        remade=[f"{entity}:{r['Id']}" for entity in BOOK_RECORDS for r in fetched.get(entity, [])] if incremental else [],
        cursor=cursor or current_settings().now().replace(tzinfo=timezone.utc).isoformat(),
        aging=aging_rows(report).assign(report_date=state.today),
        requests=requests,
        warnings=warnings,
        summary=SyncReport(mode, settings.realm_id, state.today, requests, warnings),
    )


SOURCE = Source(
    name=NAME,
    label="QuickBooks Online",
    entities=(*BOOK_ENTITIES, Entity("source_refs", ("entity", "ref_id"))),
    company=company,
    fetch=fetch,
    infers_autopay=True,
    connector=CONNECTOR,
)
