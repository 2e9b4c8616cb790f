"""Source: Xero, through the official xero-python SDK (docs/sources/xero.md).

A peer of QuickBooks on the same contract (etl/batch.py): a sync fetches everything it needs
first, holding no database connection, and the pipeline writes it in one short transaction.

- Full sync: the Organisation (its name and base currency) and Currencies, every Contact (archived
  ones too), and every sales Invoice, receivables Payment, sales CreditNote, Overpayment and
  Prepayment received, BatchPayment and repeating sales invoice, paged 1,000 at a time.
- Incremental sync: the same lists asked with `If-Modified-Since` the last succeeded run's cursor
  (Xero's DateTimeUTC at that run's first request), so only what changed comes back, voids and
  deletions included (Xero keeps them with their status). Contacts are read whole every time: the
  paged list carries each contact's balance, which says whose aging to ask for, and costs one
  request per 1,000 contacts. Repeating invoices have no `If-Modified-Since`: read whole too.
- Reconciliation: Xero's own Aged Receivables by contact (Reports/AgedReceivablesByContact), for
  every contact with a balance, at the sync date: each item's amount due by its due date, which the
  reconciliation buckets by ledgerlight's own rule.
- What the records mean for A/R: mapping.py; the wire formats and their sources:
  tests/fixtures/xero/NOTES.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal

import pandas as pd

from core.errors import SettingsError, SyncError
from core.settings import settings as current_settings
from etl.batch import BOOK_ENTITIES, Batch, Company, Progress, Source, SourceState, stepped
from etl.amounts import cents
from etl.sources.xero import mapping
from etl.sources.xero.api import CONNECTOR, DAILY_LIMIT, SOURCE as NAME, XeroConnection, XeroSettings

# The paged lists a sync reads: (endpoint, SDK method, the answer's key, the receivables filter).
LISTS = (
    ("invoices", "get_invoices", "Invoices", 'Type=="ACCREC"'),
    ("creditnotes", "get_credit_notes", "CreditNotes", 'Type=="ACCRECCREDIT"'),
    ("overpayments", "get_overpayments", "Overpayments", 'Type=="RECEIVE-OVERPAYMENT"'),
    ("prepayments", "get_prepayments", "Prepayments", 'Type=="RECEIVE-PREPAYMENT"'),
    ("payments", "get_payments", "Payments",
     " OR ".join(f'PaymentType=="{kind}"' for kind in (mapping.INVOICE_PAYMENT, *mapping.REFUNDS))),
)
# Records whose rows an incremental sync replaces: each names what it made ('Payment:<id>').
MAKERS = {"Payments": "Payment", "CreditNotes": "CreditNote", "Overpayments": "Overpayment", "Prepayments": "Prepayment"}


@dataclass
class SyncReport:
    """What a sync did, for the terminal and the Data & sync page."""

    mode: str  # 'full' or 'incremental'
    tenant_id: str
    organisation: str
    report_date: date
    requests: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    day_requests_left: int | None = None

    def describe(self, result) -> str:
        written = ", ".join(f"{n:,} {table}" for table, n in result.counts.items() if n)
        asked = ", ".join(f"{n} {endpoint}" for endpoint, n in self.requests.items())
        left = (f" Xero allows {self.day_requests_left:,} more of its {DAILY_LIMIT:,} daily requests for this "
                "organisation." if self.day_requests_left is not None else "")
        noted = f" {len(self.warnings)} warning{'s' if len(self.warnings) > 1 else ''} in the run log." if self.warnings else ""
        return (f"{self.mode.capitalize()} sync of Xero organisation {self.organisation} ({self.tenant_id}) done: "
                f"{written or 'nothing changed'} ({asked} requests).{left}{noted}")


def company(settings: XeroSettings, companies: pd.DataFrame | None = None, today: date | None = None,
            organisation: dict | None = None) -> Company:
    """The organisation, named and in the base currency Xero gives (Organisation), else as the
    file already knows it."""
    if settings.tenant_id is None:
        raise SettingsError("no Xero organisation is connected yet: run `python -m etl connect xero` "
                            "(or set XERO_TENANT_ID and XERO_REFRESH_TOKEN)")
    known = {}
    if companies is not None and not companies.empty:
        mine = companies[(companies["source"] == NAME) & (companies["company_id"] == settings.tenant_id)]
        known = mine.iloc[0].to_dict() if len(mine) else {}
    organisation = organisation or {}
    return Company(NAME, settings.tenant_id,
                   organisation.get("Name") or known.get("name") or f"Xero organisation {settings.tenant_id}",
                   organisation.get("BaseCurrency") or known.get("home_currency") or "USD", data_through=today)


def _since(cursor: str) -> datetime:
    moment = datetime.fromisoformat(cursor)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# --- Xero's Aged Receivables by contact, as source_aging rows ------------------------------------


def _cell_day(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None


def report_rows(contact_id: str, report: dict, warnings: list[str]) -> list[dict]:
    """One contact's Aged Receivables by contact as (customer_id, customer, bucket, amount) rows:
    what is due, summed by due date (a credit's date when it has none) under the title
    'due:YYYY-MM-DD', which the reconciliation places in ledgerlight's own due-date buckets
    (models/marts/source_aging_report.sql), and the contact's total. Amounts as the report gives
    them (the base currency)."""
    sheet = (report.get("Reports") or [{}])[0]
    titles = sheet.get("ReportTitles") or []
    name = titles[1] if len(titles) > 1 else contact_id
    columns: dict[str, int] = {}
    by_due: dict[date, Decimal] = {}
    closing = None

    def walk(rows: list[dict]) -> None:
        nonlocal closing
        for row in rows:
            cells = [cell.get("Value") for cell in row.get("Cells") or []]
            due = columns.get("Due", len(cells) - 1)
            if row.get("RowType") == "Header":
                columns.update({title: n for n, title in enumerate(cells)})
            elif row.get("RowType") == "Section":
                walk(row.get("Rows") or [])
            elif row.get("RowType") == "SummaryRow" and cells and cells[0] == "Closing Balance":
                closing = cents(cells[due] or 0)
            elif row.get("RowType") == "Row" and cells and cents(cells[due] or 0):
                when = _cell_day(cells[columns["Due Date"]]) or _cell_day(cells[columns["Date"]])
                if not any(cell.get("Attributes") for cell in row["Cells"]):  # documents before the from-date
                    warnings.append(f"Xero's aged receivables for {name} start with an opening balance of "
                                    f"{cents(cells[due])}; it is compared as due on {when}")
                by_due[when] = by_due.get(when, Decimal("0.00")) + cents(cells[due])

    walk(sheet.get("Rows") or [])
    total = closing if closing is not None else sum(by_due.values(), Decimal("0.00"))
    return ([{"customer_id": contact_id, "customer": name, "bucket": f"due:{when.isoformat()}", "amount": amount}
             for when, amount in sorted(by_due.items())]
            + [{"customer_id": contact_id, "customer": name, "bucket": "total", "amount": total}])


def aging_rows(per_contact: list[dict], report_date: date) -> pd.DataFrame:
    """Every contact's rows and the grand total (customer_id '') per title, dated."""
    frame = pd.DataFrame(per_contact, columns=["customer_id", "customer", "bucket", "amount"])
    totals = [{"customer_id": "", "customer": "All customers", "bucket": bucket,
               "amount": sum(frame.loc[frame["bucket"] == bucket, "amount"], Decimal("0.00"))}
              for bucket in sorted(set(frame["bucket"]) | {"total"})]
    return pd.concat([frame, pd.DataFrame(totals)], ignore_index=True).assign(report_date=report_date)


def _balance(contact: dict) -> Decimal:
    receivable = (contact.get("Balances") or {}).get("AccountsReceivable") or {}
    return abs(cents(receivable.get("Outstanding") or 0)) + abs(cents(receivable.get("Overdue") or 0))


def _open(record: dict) -> bool:
    left = record.get("AmountDue", record.get("RemainingCredit"))
    return mapping.status(record) == "posted" and cents(left or 0) != 0


# --- reading ---------------------------------------------------------------------------------------


def _read(connection: XeroConnection, since: datetime | None, step: Progress) -> dict[str, list[dict]]:
    fetched: dict[str, list[dict]] = {}
    step(0.08, "Fetching Xero contacts")
    fetched["Contacts"], _ = connection.read_pages("contacts", "get_contacts", "Contacts", include_archived=True,
                                                   on_page=lambda n: step(0.08, f"Fetching contacts: {n:,}"))
    for number, (endpoint, method, key, where) in enumerate(LISTS):
        at = 0.12 + 0.55 * number / len(LISTS)
        step(at, f"Fetching {key}" + (" changed since the last sync" if since else ""))
        fetched[key], _ = connection.read_pages(endpoint, method, key, since, where=where,
                                                on_page=lambda n, k=key, a=at: step(a, f"Fetching {k}: {n:,}"))
    step(0.68, "Fetching batch payments and repeating invoices")
    batches = connection.read("batchpayments", "get_batch_payments", **({"if_modified_since": since} if since else {}))
    fetched["BatchPayments"] = [b for b in batches.get("BatchPayments") or [] if b.get("Type", "RECBATCH") == "RECBATCH"]
    repeating = connection.read("repeatinginvoices", "get_repeating_invoices", where='Type=="ACCREC"')
    fetched["RepeatingInvoices"] = repeating.get("RepeatingInvoices") or []
    return fetched


def _by_id(records: list[dict], key: str) -> list[dict]:
    """The last of each record: a record changed while the pages were read comes again later."""
    return list({record[key]: record for record in records}.values())


def _book_rows(fetched: dict[str, list[dict]], home: str, state: SourceState, incremental: bool,
               warnings: list[str]) -> tuple[dict[str, list[dict]], dict[str, list[str]]]:
    rows: dict[str, list[dict]] = {table: [] for table in
                                   ("customers", "invoices", "payments", "credit_memos", "applications", "recurring_schedules")}
    deleted: dict[str, list[str]] = {"invoices": [], "payments": [], "credit_memos": [], "recurring_schedules": []}
    for invoice in fetched["Invoices"]:
        if mapping.status(invoice) is None:
            deleted["invoices"].append(invoice["InvoiceID"])
        else:
            rows["invoices"].append(mapping.invoice_row(invoice, home))
    for note in fetched["CreditNotes"]:
        if mapping.status(note) is None:
            deleted["credit_memos"].append(note["CreditNoteID"])
            continue
        for table, row in mapping.credit_note_rows(note, home):
            rows[table].append(row)
    for entity in ("Overpayment", "Prepayment"):
        for credit in fetched[f"{entity}s"]:
            if mapping.status(credit) is None:
                deleted["payments"].append(credit[f"{entity}ID"])
                continue
            for table, row in mapping.received_credit_rows(credit, entity, home):
                rows[table].append(row)
    # A deleted batch payment takes its payments with it.
    gone = {p.get("PaymentID") for b in fetched["BatchPayments"] if b.get("Status") == "DELETED"
            for p in b.get("Payments") or []}
    known = {row["invoice_id"]: row["customer_id"] for row in rows["invoices"]}
    known |= {row["credit_memo_id"]: row["customer_id"] for row in rows["credit_memos"]}
    known |= {row["payment_id"]: row["customer_id"] for row in rows["payments"]}
    payments = [p for p in fetched["Payments"] if p.get("PaymentID") not in gone]
    if incremental and any(not (mapping.paid_document(p)[1].get("Contact") or {}).get("ContactID") for p in payments):
        for table, key in (("invoices", "invoice_id"), ("credit_memos", "credit_memo_id"), ("payments", "payment_id")):
            known = {**dict(zip(state.rows(table)[key], state.rows(table)["customer_id"])), **known}
    for payment in payments:
        if payment.get("Status") == "DELETED" and payment.get("PaymentType") == mapping.INVOICE_PAYMENT:
            deleted["payments"].append(payment["PaymentID"])
        for table, row in mapping.payment_rows(payment, home, known):
            rows[table].append(row)
    deleted["payments"] += sorted(gone - {None})
    # Customers: every contact but those only ever billed by (suppliers), unless A/R names them.
    named = {row["customer_id"] for table in ("invoices", "payments", "credit_memos") for row in rows[table]}
    rows["customers"] = [mapping.customer_row(c, home) for c in fetched["Contacts"]
                         if c.get("IsCustomer") or not c.get("IsSupplier") or c["ContactID"] in named]
    schedules = [mapping.schedule_row(r, home) for r in fetched["RepeatingInvoices"]]
    rows["recurring_schedules"] = [s for s in schedules if s]
    if incremental:  # read whole every time: what is no longer there, or no longer scheduled, went
        current = {s["schedule_id"] for s in rows["recurring_schedules"]}
        deleted["recurring_schedules"] = sorted(set(state.rows("recurring_schedules")["schedule_id"]) - current)
    else:
        _check_amounts_due(fetched["Invoices"], rows["applications"], warnings)
    return rows, deleted


def _check_amounts_due(invoices: list[dict], applications: list[dict], warnings: list[str]) -> None:
    """After a full read every application of every invoice is known: each posted invoice's amount
    due must be what Xero says (AmountDue), or something that pays invoices went unread."""
    applied: dict[str, Decimal] = {}
    for application in applications:
        applied[application["invoice_id"]] = applied.get(application["invoice_id"], Decimal(0)) + application["amount"]
    for invoice in invoices:
        if mapping.status(invoice) != "posted" or invoice.get("AmountDue") is None:
            continue
        left = cents(invoice.get("Total")) - applied.get(invoice["InvoiceID"], Decimal(0))
        if left != cents(invoice["AmountDue"]):
            number = f" ({invoice['InvoiceNumber']})" if invoice.get("InvoiceNumber") else ""
            warnings.append(f"Xero Invoice {invoice['InvoiceID']}{number}: Xero says {cents(invoice['AmountDue'])} is due, "
                            f"the payments and credits read leave {left}")


def fetch(settings: XeroSettings, state: SourceState, progress: Progress) -> Batch:
    """Everything changed since the last sync (or everything), and Xero's own aging today."""
    incremental = state.cursor is not None
    mode = "incremental" if incremental else "full"
    connection = None
    step, tell = stepped(progress)
    try:
        step(0.02, "Connecting to Xero")
        connection = XeroConnection(settings, tell=tell)
        answer = connection.read("organisation", "get_organisations")
        organisation = (answer.get("Organisations") or [{}])[0]
        cursor = mapping.moment(answer.get("DateTimeUTC"))
        home = organisation.get("BaseCurrency") or "USD"
        enabled = {c.get("Code") for c in connection.read("currencies", "get_currencies").get("Currencies") or []}
        fetched = _read(connection, _since(state.cursor) if incremental else None, step)
        warnings: list[str] = []
        rows, deleted = _book_rows({k: _by_id(v, _ID[k]) if k in _ID else v for k, v in fetched.items()},
                                   home, state, incremental, warnings)
        foreign = sorted({row["currency"] for table in ("invoices", "payments", "credit_memos") for row in rows[table]}
                         - enabled - {home})
        warnings += [f"Xero documents in {code}, which is not among the organisation's currencies" for code in foreign]
        targets = {c["ContactID"]: None for c in fetched["Contacts"] if _balance(c)}
        targets |= {mapping.contact_of(r, key[:-1]): None for key in ("Invoices", "CreditNotes", "Overpayments", "Prepayments")
                    for r in fetched[key] if _open(r)}
        per_contact = []
        for number, contact_id in enumerate(targets):
            step(0.72 + 0.2 * number / max(len(targets), 1),
                 f"Fetching Xero's aged receivables for reconciliation ({number + 1} of {len(targets)} contacts)")
            per_contact += report_rows(contact_id, connection.aged_receivables(contact_id, state.today), warnings)
    except SyncError as exc:
        exc.kind, exc.requests = mode, dict(connection.requests) if connection else {}
        raise
    the_company = company(settings, today=state.today, organisation=organisation)
    requests = dict(connection.requests)
    return Batch(
        the_company, kind=mode, complete=not incremental,
        rows={table: pd.DataFrame(table_rows) for table, table_rows in rows.items()},
        deleted={table: pd.DataFrame({_KEYS[table]: ids}) for table, ids in deleted.items() if ids and incremental},
        remade=[f"{maker}:{r[_ID[key]]}" for key, maker in MAKERS.items() for r in fetched[key]] if incremental else [],
        cursor=(cursor or current_settings().now()).replace(tzinfo=timezone.utc).isoformat(),
        aging=aging_rows(per_contact, state.today),
        requests=requests,
        warnings=warnings,
        summary=SyncReport(mode, settings.tenant_id, the_company.name, state.today, requests, warnings,
                           connection.day_requests_left),
    )


_ID = {"Contacts": "ContactID", "Invoices": "InvoiceID", "CreditNotes": "CreditNoteID", "Overpayments": "OverpaymentID",
       "Prepayments": "PrepaymentID", "Payments": "PaymentID"}
_KEYS = {"invoices": "invoice_id", "payments": "payment_id", "credit_memos": "credit_memo_id",
         "recurring_schedules": "schedule_id"}


SOURCE = Source(
    name=NAME,
    label="Xero",
    entities=BOOK_ENTITIES,
    company=company,
    fetch=fetch,
    infers_autopay=True,
    connector=CONNECTOR,
)
