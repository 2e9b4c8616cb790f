"""A Xero look-alike on 127.0.0.1 for the connector's tests.

It imitates, on the wire, the parts of Xero the A/R connector uses, closely enough that the
official `xero-python` SDK (ApiClient, OAuth2Token/TokenApi, AccountingApi, IdentityApi) talks to
it unchanged once its endpoints are pointed here. Every payload follows Xero's published API
reference and OpenAPI spec (XeroAPI/Xero-OpenAPI xero_accounting.yaml, xero-identity.yaml) and the
SDK's recorded cassettes; tests/fixtures/xero/NOTES.md cites the source of each shape (§n below).

* OAuth 2.0 (§1): `/identity/connect/authorize` (already consented: redirects with code
  "good-code"), `/connect/token` with the `authorization_code` and `refresh_token` grants
  (client credentials in the form, as the SDK sends them, or as HTTP Basic), refresh tokens that
  rotate on every refresh, the previous one still accepted for a 30-minute grace period (Xero's
  FAQ), then `invalid_grant`. Access tokens last 30 minutes of the server clock.
* `/Connections` (§2): every organisation of the server, one authorisation event.
* Accounting API under `/api.xro/2.0` (§3-§11), per organisation by the `xero-tenant-id` header:
  Organisation, Currencies, Contacts, Invoices, Payments, CreditNotes, Overpayments, Prepayments,
  RepeatingInvoices, BatchPayments and Reports/AgedReceivablesByContact; `page`/`pageSize`
  paging with a `pagination` block, `If-Modified-Since`, `where` (`Field=="value"` joined by AND or
  OR), `includeArchived` for contacts. Balances (AmountDue, AmountPaid, RemainingCredit, statuses
  PAID/AUTHORISED, contact Balances) are derived from the payments and allocations on every read,
  so they cannot drift; every change stamps `UpdatedDateUTC` with the server clock `now`.
* Rate limits (§12): per organisation `minute_limit` requests per `minute_seconds` (60 a real
  minute, as Xero; a test shortens it) and `day_limit` a day (5,000), and the app's minute limit;
  each answer carries X-DayLimit-Remaining, X-MinLimit-Remaining and X-AppMinLimit-Remaining; past
  a limit, 429 with Retry-After and X-Rate-Limit-Problem ('minute', 'day' or 'appminute').
* Scripted faults per endpoint (`fail_next`) and a per-endpoint count of every request
  (`requests`).

Choices where Xero's behaviour is undocumented, or a test server must pick one:

* Lists are ordered by UpdatedDateUTC, then id, so a record changed while a client pages comes
  again on a later page rather than being skipped; `If-Modified-Since` keeps records changed at
  or after the given instant. Deleted and voided documents stay in the lists with their status.
* A refund of an overpayment or prepayment (AROVERPAYMENTPAYMENT, ARPREPAYMENTPAYMENT) nests the
  credit as `Overpayment`/`Prepayment` with its id and currency but not its contact; a refund of
  a credit note nests it as `Invoice` of Type ACCRECCREDIT, with its contact, as the spec's example.
* Deleting a batch payment deletes its payments (each stamped).
* A contact's UpdatedDateUTC moves only when the contact itself is edited, not when its balance
  changes.
* The Aged Receivables by contact report lists each document of the contact dated on or before
  `date` with an amount due at that date (payments and allocations dated after it do not count):
  invoices with their amount due, and credit notes, overpayments and prepayments with what
  remained of them as a negative amount due and no due date. Amounts are in the organisation's
  base currency, each document's at its own rate (amount / CurrencyRate, to the cent). From-date
  defaults to the contact's first document, so the opening balance is 0.00.
* CurrencyRate is units of the document's currency per unit of the base currency (§5).
"""

from __future__ import annotations

import base64
import collections
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable
from urllib.parse import parse_qs, urlencode

from tests.qbo_server import _HTTPServer, _Request, _Response, _ScriptedFault, _ScriptedServer

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_PAGE = 1000
DEFAULT_PAGE = 100
GRACE = timedelta(minutes=30)      # a rotated refresh token still works this long (Xero's FAQ)
ACCESS_LIFETIME = 1800             # seconds (Xero's FAQ: 30 minutes)
DEFAULT_NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
ENDPOINTS = ("token", "connections", "organisation", "currencies", "contacts", "invoices", "payments", "creditnotes",
             "overpayments", "prepayments", "batchpayments", "repeatinginvoices", "reports", "any")
FAULTS = ("401", "429", "500", "503", "truncated", "reset", "stall")
CURRENCY_NAMES = {"USD": "United States Dollar", "NZD": "New Zealand Dollar", "AUD": "Australian Dollar",
                  "GBP": "British Pound", "EUR": "Euro", "CAD": "Canadian Dollar"}
REFUND_TYPES = {"CreditNote": "ARCREDITPAYMENT", "Overpayment": "AROVERPAYMENTPAYMENT", "Prepayment": "ARPREPAYMENTPAYMENT"}


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _ms(moment: datetime | date) -> str:
    """Xero's JSON dates: '/Date(1539993600000+0000)/' (§3)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def _day_string(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def _dump(payload) -> bytes:
    # Xero sends amounts as JSON numbers; float's shortest repr keeps two-decimal amounts exact.
    return json.dumps(payload, default=lambda o: float(o) if isinstance(o, Decimal) else str(o)).encode()


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------

@dataclass
class _Contact:
    id: str
    name: str
    email: str | None
    status: str
    is_supplier: bool
    currency: str | None
    terms: tuple[int, str] | None
    updated: datetime


@dataclass
class _Invoice:
    id: str
    type: str                    # ACCREC | ACCPAY
    number: str
    contact_id: str
    date: date
    due_date: date | None
    total: Decimal
    currency: str
    rate: Decimal
    status: str                  # DRAFT SUBMITTED AUTHORISED PAID VOIDED DELETED
    repeating_id: str | None
    reference: str
    updated: datetime


@dataclass
class _Allocation:
    id: str
    invoice_id: str
    amount: Decimal
    date: date


@dataclass
class _Credit:
    id: str
    kind: str                    # CreditNote | Overpayment | Prepayment
    type: str                    # ACCRECCREDIT, RECEIVE-OVERPAYMENT, RECEIVE-PREPAYMENT (or the AP ones)
    number: str
    contact_id: str
    date: date
    total: Decimal
    currency: str
    rate: Decimal
    status: str
    updated: datetime
    allocations: list[_Allocation] = field(default_factory=list)


@dataclass
class _Payment:
    id: str
    type: str                    # ACCRECPAYMENT, ARCREDITPAYMENT, AROVERPAYMENTPAYMENT, ARPREPAYMENTPAYMENT, ACCPAYPAYMENT
    target: tuple[str, str]      # ('Invoice' | 'CreditNote' | 'Overpayment' | 'Prepayment', id)
    date: date
    amount: Decimal
    rate: Decimal
    status: str                  # AUTHORISED | DELETED
    reference: str
    updated: datetime
    batch_id: str | None = None


@dataclass
class _Repeating:
    id: str
    contact_id: str
    total: Decimal
    currency: str
    unit: str
    period: int
    start: date
    next: date | None
    end: date | None
    status: str
    reference: str
    type: str = "ACCREC"


@dataclass
class _Batch:
    id: str
    date: date
    payment_ids: list[str]
    status: str
    reference: str
    updated: datetime


# --------------------------------------------------------------------------------------------
# One organisation's books
# --------------------------------------------------------------------------------------------

class Organisation:
    """One Xero organisation (tenant): its settings and books, and the verbs a test uses to
    change them as a person would in Xero. Every verb stamps what it changes with `server.now`."""

    def __init__(self, server: "XeroServer", tenant_id: str, name: str, base_currency: str,
                 currencies: tuple[str, ...] = ()):
        self.server, self.tenant_id, self.name, self.base_currency = server, tenant_id, name, base_currency
        self.currencies = tuple(dict.fromkeys((base_currency, *currencies)))
        self.contacts: dict[str, _Contact] = {}
        self.invoices: dict[str, _Invoice] = {}
        self.credits: dict[str, _Credit] = {}
        self.payments: dict[str, _Payment] = {}
        self.repeating: dict[str, _Repeating] = {}
        self.batches: dict[str, _Batch] = {}
        self.minute: collections.deque = collections.deque()   # monotonic times of this minute's requests
        self.today_requests = 0
        self._numbers: collections.Counter = collections.Counter()
        self.overrides: dict[str, dict] = {}   # record id -> fields sent in place of the ledger's

    def corrupt(self, record_id: str, **fields) -> None:
        """Send these fields as they are in the record's JSON (a malformed record, as a broken
        integration upstream might leave one), and stamp it so an incremental read sees it."""
        self.overrides.setdefault(record_id, {}).update(fields)
        for records in (self.invoices, self.credits, self.payments, self.contacts):
            if record_id in records:
                records[record_id].updated = self.now

    @property
    def now(self) -> datetime:
        return self.server.now

    def _id(self) -> str:
        return self.server.new_id()

    def _number(self, prefix: str) -> str:
        self._numbers[prefix] += 1
        return f"{prefix}-{self._numbers[prefix]:04d}"

    def _rate(self, currency: str, rate) -> Decimal:
        if currency == self.base_currency:
            return Decimal("1.000000")
        if rate is None:
            raise ValueError(f"a {currency} document needs a CurrencyRate in this test ledger")
        return Decimal(str(rate))

    # ---- contacts --------------------------------------------------------------------------------

    def add_contact(self, name, *, email=None, supplier=False, currency=None, terms=None, archived=False) -> str:
        contact = _Contact(self._id(), name, email, "ARCHIVED" if archived else "ACTIVE", supplier, currency, terms,
                           self.now)
        self.contacts[contact.id] = contact
        return contact.id

    def edit_contact(self, contact_id, **fields) -> None:
        contact = self.contacts[contact_id]
        if "archived" in fields:
            contact.status = "ARCHIVED" if fields.pop("archived") else "ACTIVE"
        for name, value in fields.items():
            setattr(contact, name, value)
        contact.updated = self.now

    # ---- invoices ----------------------------------------------------------------------------------

    def add_invoice(self, contact_id, when, total, *, due=None, currency=None, rate=None, status="AUTHORISED",
                    number=None, repeating_id=None, type="ACCREC", reference="") -> str:
        currency = currency or self.base_currency
        invoice = _Invoice(self._id(), type, number or self._number("INV" if type == "ACCREC" else "BILL"), contact_id,
                           when, due, _money(total), currency, self._rate(currency, rate), status, repeating_id,
                           reference, self.now)
        self.invoices[invoice.id] = invoice
        return invoice.id

    def add_invoices(self, contact_id, rows, **common) -> list[str]:
        return [self.add_invoice(contact_id, when, total, **common) for when, total in rows]

    def edit_invoice(self, invoice_id, *, total=None, due=None, status=None) -> None:
        invoice = self.invoices[invoice_id]
        if total is not None:
            if self._applied(invoice_id):
                raise ValueError("Xero refuses to change the total of an invoice with payments or credits on it")
            invoice.total = _money(total)
        if due is not None:
            invoice.due_date = due
        if status is not None:
            invoice.status = status
        invoice.updated = self.now

    def approve_invoice(self, invoice_id) -> None:
        self.edit_invoice(invoice_id, status="AUTHORISED")

    def void_invoice(self, invoice_id) -> None:
        invoice = self.invoices[invoice_id]
        if self._applied(invoice_id):
            raise ValueError("Xero voids an invoice only once its payments and allocations are removed")
        if invoice.status != "AUTHORISED":
            raise ValueError("Xero voids approved invoices; drafts are deleted")
        invoice.status, invoice.updated = "VOIDED", self.now

    def delete_invoice(self, invoice_id) -> None:
        invoice = self.invoices[invoice_id]
        if invoice.status not in ("DRAFT", "SUBMITTED"):
            raise ValueError("Xero deletes only draft and submitted invoices; approved ones are voided")
        invoice.status, invoice.updated = "DELETED", self.now

    # ---- payments ----------------------------------------------------------------------------------

    def add_payment(self, invoice_id, when, amount, *, rate=None, reference="", batch_id=None) -> str:
        invoice = self.invoices[invoice_id]
        if invoice.status not in ("AUTHORISED", "PAID"):
            raise ValueError(f"Xero takes payments on approved invoices, not {invoice.status}")
        payment = _Payment(self._id(), "ACCRECPAYMENT" if invoice.type == "ACCREC" else "ACCPAYPAYMENT",
                           ("Invoice", invoice_id), when, _money(amount),
                           self._rate(invoice.currency, rate if rate is not None else invoice.rate), "AUTHORISED",
                           reference, self.now, batch_id)
        if _money(amount) > self._due(invoice, None):
            raise ValueError("Xero refuses a payment larger than the amount due (an overpayment is its own record)")
        self.payments[payment.id] = payment
        self._settle(invoice)
        return payment.id

    def delete_payment(self, payment_id) -> None:
        payment = self.payments[payment_id]
        payment.status, payment.updated = "DELETED", self.now
        self._touch_target(payment.target)

    def add_batch_payment(self, when, amounts: dict[str, str], reference="") -> tuple[str, list[str]]:
        batch_id = self._id()
        ids = [self.add_payment(invoice_id, when, amount, batch_id=batch_id) for invoice_id, amount in amounts.items()]
        self.batches[batch_id] = _Batch(batch_id, when, ids, "AUTHORISED", reference, self.now)
        return batch_id, ids

    def delete_batch_payment(self, batch_id) -> None:
        batch = self.batches[batch_id]
        batch.status, batch.updated = "DELETED", self.now
        for payment_id in batch.payment_ids:
            self.delete_payment(payment_id)

    # ---- credits: credit notes, overpayments, prepayments --------------------------------------------

    def _add_credit(self, kind, type, prefix, contact_id, when, total, currency, rate, status="AUTHORISED") -> str:
        currency = currency or self.base_currency
        credit = _Credit(self._id(), kind, type, self._number(prefix) if prefix else "", contact_id, when, _money(total),
                         currency, self._rate(currency, rate), status, self.now)
        self.credits[credit.id] = credit
        return credit.id

    def add_credit_note(self, contact_id, when, total, *, currency=None, rate=None, status="AUTHORISED") -> str:
        return self._add_credit("CreditNote", "ACCRECCREDIT", "CN", contact_id, when, total, currency, rate, status)

    def add_overpayment(self, contact_id, when, total, *, currency=None, rate=None) -> str:
        return self._add_credit("Overpayment", "RECEIVE-OVERPAYMENT", "", contact_id, when, total, currency, rate)

    def add_prepayment(self, contact_id, when, total, *, currency=None, rate=None) -> str:
        return self._add_credit("Prepayment", "RECEIVE-PREPAYMENT", "", contact_id, when, total, currency, rate)

    def allocate(self, credit_id, invoice_id, amount, when) -> str:
        credit, invoice = self.credits[credit_id], self.invoices[invoice_id]
        amount = _money(amount)
        if credit.currency != invoice.currency or credit.contact_id != invoice.contact_id:
            raise ValueError("Xero allocates a credit to an invoice of the same contact and currency")
        if amount > self._remaining(credit, None) or amount > self._due(invoice, None):
            raise ValueError("Xero refuses to allocate more than the credit holds or the invoice owes")
        allocation = _Allocation(self._id(), invoice_id, amount, when)
        credit.allocations.append(allocation)
        credit.updated = self.now
        self._settle(invoice)
        self._settle_credit(credit)
        return allocation.id

    def remove_allocation(self, credit_id, allocation_id) -> None:
        credit = self.credits[credit_id]
        allocation = next(a for a in credit.allocations if a.id == allocation_id)
        credit.allocations.remove(allocation)
        credit.updated = self.now
        self._settle(self.invoices[allocation.invoice_id])
        self._settle_credit(credit)

    def refund(self, credit_id, when, amount, *, rate=None, reference="") -> str:
        """Money paid back to the customer out of a credit (a cash refund)."""
        credit = self.credits[credit_id]
        if _money(amount) > self._remaining(credit, None):
            raise ValueError("Xero refuses to refund more than the credit holds")
        payment = _Payment(self._id(), REFUND_TYPES[credit.kind], (credit.kind, credit_id), when, _money(amount),
                           self._rate(credit.currency, rate if rate is not None else credit.rate), "AUTHORISED",
                           reference, self.now)
        self.payments[payment.id] = payment
        self._settle_credit(credit)
        return payment.id

    def void_credit(self, credit_id) -> None:
        credit = self.credits[credit_id]
        if credit.allocations or self._refunds(credit, None):
            raise ValueError("Xero voids a credit only once its allocations and refunds are removed")
        credit.status, credit.updated = "VOIDED", self.now

    # ---- repeating invoices --------------------------------------------------------------------------

    def add_repeating_invoice(self, contact_id, total, *, unit="MONTHLY", period=1, start, next=None, end=None,
                              status="AUTHORISED", reference="", currency=None) -> str:
        template = _Repeating(self._id(), contact_id, _money(total), currency or self.base_currency, unit, period, start,
                              next, end, status, reference)
        self.repeating[template.id] = template
        return template.id

    def delete_repeating_invoice(self, template_id) -> None:
        self.repeating[template_id].status = "DELETED"

    # ---- what the books add up to -----------------------------------------------------------------------

    def _live_payments(self, target: tuple[str, str], as_of: date | None) -> list[_Payment]:
        return [p for p in self.payments.values() if p.target == target and p.status == "AUTHORISED"
                and (as_of is None or p.date <= as_of)]

    def _allocations_to(self, invoice_id: str, as_of: date | None) -> list[tuple[_Credit, _Allocation]]:
        return [(c, a) for c in self.credits.values() for a in c.allocations
                if a.invoice_id == invoice_id and (as_of is None or a.date <= as_of)]

    def _applied(self, invoice_id: str) -> bool:
        return bool(self._live_payments(("Invoice", invoice_id), None) or self._allocations_to(invoice_id, None))

    def _paid(self, invoice: _Invoice, as_of: date | None) -> Decimal:
        return sum((p.amount for p in self._live_payments(("Invoice", invoice.id), as_of)), ZERO)

    def _credited(self, invoice: _Invoice, as_of: date | None) -> Decimal:
        return sum((a.amount for _, a in self._allocations_to(invoice.id, as_of)), ZERO)

    def _due(self, invoice: _Invoice, as_of: date | None) -> Decimal:
        return invoice.total - self._paid(invoice, as_of) - self._credited(invoice, as_of)

    def _refunds(self, credit: _Credit, as_of: date | None) -> Decimal:
        return sum((p.amount for p in self._live_payments((credit.kind, credit.id), as_of)), ZERO)

    def _remaining(self, credit: _Credit, as_of: date | None) -> Decimal:
        allocated = sum((a.amount for a in credit.allocations if as_of is None or a.date <= as_of), ZERO)
        return credit.total - allocated - self._refunds(credit, as_of)

    def _settle(self, invoice: _Invoice) -> None:
        if invoice.status in ("AUTHORISED", "PAID"):
            invoice.status = "PAID" if self._due(invoice, None) == 0 else "AUTHORISED"
        invoice.updated = self.now

    def _settle_credit(self, credit: _Credit) -> None:
        if credit.status in ("AUTHORISED", "PAID"):
            credit.status = "PAID" if self._remaining(credit, None) == 0 else "AUTHORISED"
        credit.updated = self.now

    def _touch_target(self, target: tuple[str, str]) -> None:
        kind, target_id = target
        if kind == "Invoice":
            self._settle(self.invoices[target_id])
        else:
            self._settle_credit(self.credits[target_id])

    def _base(self, amount: Decimal, rate: Decimal) -> Decimal:
        return (amount / rate).quantize(CENT, rounding=ROUND_HALF_UP)

    def _balances(self, contact_id: str) -> dict:
        today = self.now.date()
        outstanding = overdue = ZERO
        for invoice in self.invoices.values():
            if invoice.contact_id == contact_id and invoice.type == "ACCREC" and invoice.status == "AUTHORISED":
                due = self._base(self._due(invoice, None), invoice.rate)
                outstanding += due
                if (invoice.due_date or invoice.date) < today:
                    overdue += due
        for credit in self.credits.values():
            if credit.contact_id == contact_id and credit.type in ("ACCRECCREDIT", "RECEIVE-OVERPAYMENT",
                                                                   "RECEIVE-PREPAYMENT") and credit.status == "AUTHORISED":
                outstanding -= self._base(self._remaining(credit, None), credit.rate)
        return {"AccountsReceivable": {"Outstanding": outstanding, "Overdue": overdue},
                "AccountsPayable": {"Outstanding": ZERO, "Overdue": ZERO}}

    # ---- JSON (§3-§11) ---------------------------------------------------------------------------------

    def _contact_ref(self, contact_id: str) -> dict:
        return {"ContactID": contact_id, "Name": self.contacts[contact_id].name, "Addresses": [], "Phones": [],
                "ContactGroups": [], "ContactPersons": [], "HasValidationErrors": False}

    def contact_json(self, contact: _Contact, balances: bool) -> dict:
        body = {"ContactID": contact.id, "ContactStatus": contact.status, "Name": contact.name,
                "EmailAddress": contact.email or "", "BankAccountDetails": "", "Addresses": [], "Phones": [],
                "UpdatedDateUTC": _ms(contact.updated), "ContactGroups": [], "IsSupplier": contact.is_supplier,
                "IsCustomer": any(i.contact_id == contact.id and i.type == "ACCREC" for i in self.invoices.values()),
                "ContactPersons": [], "HasAttachments": False, "HasValidationErrors": False}
        if contact.currency:
            body["DefaultCurrency"] = contact.currency
        if contact.terms:
            body["PaymentTerms"] = {"Sales": {"Day": contact.terms[0], "Type": contact.terms[1]}}
        if balances:  # "only returned when using paging" (§4)
            body["Balances"] = self._balances(contact.id)
        return body

    def invoice_json(self, invoice: _Invoice) -> dict:
        paid, credited = self._paid(invoice, None), self._credited(invoice, None)
        live = invoice.status in ("AUTHORISED", "PAID")
        payments = [{"PaymentID": p.id, "Date": _ms(p.date), "Amount": p.amount, "CurrencyRate": p.rate,
                     "HasAccount": False, "HasValidationErrors": False}
                    for p in self._live_payments(("Invoice", invoice.id), None)]
        credits = collections.defaultdict(list)
        for credit, allocation in self._allocations_to(invoice.id, None):
            credits[credit.kind].append({f"{credit.kind}ID": credit.id, "ID": credit.id, "Date": _ms(allocation.date),
                                         "AppliedAmount": allocation.amount, "Total": credit.total,
                                         **({"CreditNoteNumber": credit.number} if credit.kind == "CreditNote" else {})})
        body = {"Type": invoice.type, "InvoiceID": invoice.id, "InvoiceNumber": invoice.number,
                "Reference": invoice.reference, "Payments": payments, "CreditNotes": credits["CreditNote"],
                "Prepayments": credits["Prepayment"], "Overpayments": credits["Overpayment"],
                "AmountDue": invoice.total - paid - credited if live else ZERO if invoice.status != "DRAFT" else invoice.total,
                "AmountPaid": paid, "AmountCredited": credited, "CurrencyRate": invoice.rate, "IsDiscounted": False,
                "HasAttachments": False, "HasErrors": False, "Contact": self._contact_ref(invoice.contact_id),
                "DateString": _day_string(invoice.date), "Date": _ms(invoice.date), "Status": invoice.status,
                "LineAmountTypes": "Exclusive", "LineItems": [], "SubTotal": invoice.total, "TotalTax": ZERO,
                "Total": invoice.total, "UpdatedDateUTC": _ms(invoice.updated), "CurrencyCode": invoice.currency}
        if invoice.due_date:
            body.update(DueDateString=_day_string(invoice.due_date), DueDate=_ms(invoice.due_date))
        if invoice.repeating_id:
            body["RepeatingInvoiceID"] = invoice.repeating_id
        if invoice.status == "PAID":
            dates = [p.date for p in self._live_payments(("Invoice", invoice.id), None)]
            dates += [a.date for _, a in self._allocations_to(invoice.id, None)]
            body["FullyPaidOnDate"] = _ms(max(dates))
        return body

    def _payment_target_json(self, payment: _Payment) -> tuple[str, dict]:
        kind, target_id = payment.target
        if kind == "Invoice":
            invoice = self.invoices[target_id]
            return "Invoice", {"Type": invoice.type, "InvoiceID": invoice.id, "InvoiceNumber": invoice.number,
                               "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                               "HasErrors": False, "IsDiscounted": False, "Contact": self._contact_ref(invoice.contact_id),
                               "LineItems": [], "CurrencyCode": invoice.currency}
        credit = self.credits[target_id]
        if kind == "CreditNote":  # the spec's ARCREDITPAYMENT example nests the credit note as an Invoice
            return "Invoice", {"Type": credit.type, "InvoiceID": credit.id, "InvoiceNumber": credit.number,
                               "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                               "HasErrors": False, "IsDiscounted": False, "Contact": self._contact_ref(credit.contact_id),
                               "LineItems": [], "CurrencyCode": credit.currency}
        return kind, {f"{kind}ID": credit.id, "ID": credit.id, "CurrencyCode": credit.currency, "LineItems": []}

    def payment_json(self, payment: _Payment) -> dict:
        nested_key, nested = self._payment_target_json(payment)
        body = {"PaymentID": payment.id, "Date": _ms(payment.date), "BankAmount": payment.amount,
                "Amount": payment.amount, "Reference": payment.reference, "CurrencyRate": payment.rate,
                "PaymentType": payment.type, "Status": payment.status, "UpdatedDateUTC": _ms(payment.updated),
                "HasAccount": True, "IsReconciled": False,
                "Account": {"AccountID": "5690f1e8-1d02-4893-90c2-ee1a69eff942", "Code": "090"},
                nested_key: nested, "HasValidationErrors": False}
        if payment.batch_id:
            batch = self.batches[payment.batch_id]
            body["BatchPaymentID"] = batch.id
            body["BatchPayment"] = {"Account": {"AccountID": "5690f1e8-1d02-4893-90c2-ee1a69eff942"},
                                    "BatchPaymentID": batch.id, "Date": _ms(batch.date), "Type": "RECBATCH",
                                    "Status": batch.status, "TotalAmount": str(self._batch_total(batch)),
                                    "UpdatedDateUTC": _ms(batch.updated), "IsReconciled": "false"}
        return body

    def credit_json(self, credit: _Credit) -> dict:
        remaining = self._remaining(credit, None)
        allocations = [{"AllocationID": a.id, "Amount": a.amount, "Date": _ms(a.date),
                        "Invoice": {"InvoiceID": a.invoice_id, "InvoiceNumber": self.invoices[a.invoice_id].number,
                                    "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                                    "HasErrors": False, "IsDiscounted": False, "LineItems": []}}
                       for a in credit.allocations]
        refunds = [{"PaymentID": p.id, "Date": _ms(p.date), "Amount": p.amount, "Reference": p.reference,
                    "CurrencyRate": p.rate, "HasAccount": False, "HasValidationErrors": False}
                   for p in self._live_payments((credit.kind, credit.id), None)]
        body = {f"{credit.kind}ID": credit.id, "ID": credit.id, "CurrencyRate": credit.rate, "Type": credit.type,
                "Reference": "", "RemainingCredit": remaining if credit.status != "VOIDED" else ZERO,
                "Allocations": allocations, "Payments": refunds, "HasAttachments": False,
                "AppliedAmount": credit.total - remaining, "Contact": self._contact_ref(credit.contact_id),
                "DateString": _day_string(credit.date), "Date": _ms(credit.date), "Status": credit.status,
                "LineAmountTypes": "Exclusive" if credit.kind != "Overpayment" else "NoTax", "LineItems": [],
                "SubTotal": credit.total, "TotalTax": ZERO, "Total": credit.total,
                "UpdatedDateUTC": _ms(credit.updated), "CurrencyCode": credit.currency}
        if credit.kind == "CreditNote":
            body["CreditNoteNumber"] = credit.number
        return body

    def repeating_json(self, template: _Repeating) -> dict:
        schedule = {"Period": template.period, "Unit": template.unit, "DueDate": 20, "DueDateType": "DAYSAFTERBILLDATE",
                    "StartDate": _ms(template.start)}
        if template.next:
            schedule["NextScheduledDate"] = _ms(template.next)
        if template.end:
            schedule["EndDate"] = _ms(template.end)
        return {"Schedule": schedule, "RepeatingInvoiceID": template.id, "ID": template.id, "Type": template.type,
                "Reference": template.reference, "HasAttachments": False, "ApprovedForSending": False,
                "SendCopy": False, "MarkAsSent": False, "IncludePDF": False,
                "Contact": self._contact_ref(template.contact_id), "Status": template.status,
                "LineAmountTypes": "Exclusive", "LineItems": [], "SubTotal": template.total, "TotalTax": ZERO,
                "Total": template.total, "CurrencyCode": template.currency}

    def _batch_total(self, batch: _Batch) -> Decimal:
        return sum((self.payments[p].amount for p in batch.payment_ids), ZERO)

    def batch_json(self, batch: _Batch) -> dict:
        payments = [{"Invoice": {"InvoiceID": self.payments[p].target[1], "Payments": [], "CreditNotes": [],
                                 "Prepayments": [], "Overpayments": [], "HasErrors": False, "IsDiscounted": False,
                                 "LineItems": []},
                     "PaymentID": p, "Amount": self.payments[p].amount, "BankAmount": self.payments[p].amount}
                    for p in batch.payment_ids]
        return {"Account": {"AccountID": "5690f1e8-1d02-4893-90c2-ee1a69eff942", "CurrencyCode": self.base_currency},
                "Reference": batch.reference, "BatchPaymentID": batch.id, "DateString": _day_string(batch.date),
                "Date": _ms(batch.date), "Payments": payments, "Type": "RECBATCH", "Status": batch.status,
                "TotalAmount": self._batch_total(batch), "UpdatedDateUTC": _ms(batch.updated), "IsReconciled": False}

    def organisation_json(self) -> dict:
        return {"APIKey": "", "Name": self.name, "LegalName": self.name, "PaysTax": True, "Version": "GLOBAL",
                "OrganisationType": "COMPANY", "BaseCurrency": self.base_currency, "CountryCode": "NZ",
                "IsDemoCompany": False, "OrganisationStatus": "ACTIVE", "FinancialYearEndDay": 31,
                "FinancialYearEndMonth": 3, "SalesTaxBasis": "PAYMENTS", "SalesTaxPeriod": "TWOMONTHS",
                "CreatedDateUTC": _ms(datetime(2020, 1, 1, tzinfo=timezone.utc)), "OrganisationEntityType": "COMPANY",
                "Timezone": "NEWZEALANDSTANDARDTIME", "ShortCode": "!test", "OrganisationID": self.tenant_id,
                "Edition": "BUSINESS", "Class": "STANDARD", "ExternalLinks": [], "PaymentTerms": {}}

    # ---- the aged receivables report (§11) -----------------------------------------------------------------

    def aged_receivables(self, contact_id: str, report_date: date) -> dict:
        contact = self.contacts[contact_id]
        lines = []
        for invoice in sorted(self.invoices.values(), key=lambda i: (i.date, i.number)):
            if invoice.contact_id != contact_id or invoice.type != "ACCREC" or invoice.status not in ("AUTHORISED", "PAID"):
                continue
            due = self._due(invoice, report_date)
            if invoice.date <= report_date and due != 0:
                lines.append((invoice.date, invoice.number, invoice.due_date, "invoiceID", invoice.id,
                              self._base(invoice.total, invoice.rate),
                              self._base(self._paid(invoice, report_date), invoice.rate),
                              self._base(self._credited(invoice, report_date), invoice.rate), self._base(due, invoice.rate)))
        for credit in sorted(self.credits.values(), key=lambda c: (c.date, c.id)):
            if (credit.contact_id != contact_id or credit.status not in ("AUTHORISED", "PAID")
                    or credit.type not in ("ACCRECCREDIT", "RECEIVE-OVERPAYMENT", "RECEIVE-PREPAYMENT")):
                continue
            left = self._remaining(credit, report_date)
            if credit.date <= report_date and left != 0:
                used = credit.total - left
                lines.append((credit.date, credit.number or credit.kind, None, f"{credit.kind[0].lower()}{credit.kind[1:]}ID",
                              credit.id, -self._base(credit.total, credit.rate), ZERO, -self._base(used, credit.rate),
                              -self._base(left, credit.rate)))
        lines.sort(key=lambda line: (line[0], line[1]))
        first = lines[0][0] if lines else report_date

        def cell(value, attribute=None):
            found = {"Value": value}
            if attribute:
                found["Attributes"] = [{"Value": attribute[1], "Id": attribute[0]}]
            return found

        rows = []
        for when, number, due_date, id_name, record_id, total, paid, credited, due in lines:
            overdue = (report_date - due_date).days if due_date else 0
            values = [_day_string(when), number, _day_string(due_date) if due_date else "",
                      f"{overdue} days overdue" if overdue > 0 else "", f"{total:.2f}", f"{paid:.2f}", f"{credited:.2f}",
                      f"{due:.2f}"]
            rows.append({"RowType": "Row", "Cells": [cell(v, (id_name, record_id)) for v in values]})
        sums = [sum((line[n] for line in lines), ZERO) for n in (5, 6, 7, 8)]
        summary = ["", "", "", *[f"{amount:.2f}" for amount in sums]]
        long_date = f"{report_date.day} {report_date:%B %Y}"
        return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "ledgerlight tests",
                "DateTimeUTC": _ms(self.now), "Reports": [{
                    "ReportName": "Aged Receivables By Contact", "ReportType": "AgedReceivablesByContact",
                    "ReportTitles": ["Invoices", contact.name, f"From {first.day} {first:%B %Y} to {long_date}",
                                     f"Showing payments to {long_date}"],
                    "ReportDate": long_date, "UpdatedDateUTC": _ms(self.now), "Fields": [],
                    "Rows": [
                        {"RowType": "Header", "Cells": [cell(v) for v in ("Date", "Number", "Due Date", "", "Total", "Paid",
                                                                          "Credited", "Due")]},
                        {"RowType": "Section", "Title": "", "Rows": [{"RowType": "Row", "Cells": [cell(v) for v in (
                            _day_string(first), "Opening Balance", "", "", "", "", "", "0.00")]}]},
                        {"RowType": "Section", "Title": "", "Rows": [
                            *rows, {"RowType": "SummaryRow", "Cells": [cell(v) for v in ("Total", *summary)]}]},
                        {"RowType": "Section", "Title": "", "Rows": [
                            {"RowType": "SummaryRow", "Cells": [cell(v) for v in ("Closing Balance", *summary)]}]},
                    ]}]}

    # ---- lists ------------------------------------------------------------------------------------------------

    def records(self, resource: str, archived: bool) -> list[tuple[datetime, str, Callable[[], dict]]]:
        """(updated, id, render) of every record of a list, before filtering."""
        if resource == "Contacts":
            return [(c.updated, c.id, lambda c=c: c) for c in self.contacts.values() if archived or c.status == "ACTIVE"]
        if resource == "Invoices":
            return [(i.updated, i.id, lambda i=i: self.invoice_json(i)) for i in self.invoices.values()]
        if resource == "Payments":
            return [(p.updated, p.id, lambda p=p: self.payment_json(p)) for p in self.payments.values()]
        if resource in ("CreditNotes", "Overpayments", "Prepayments"):
            return [(c.updated, c.id, lambda c=c: self.credit_json(c)) for c in self.credits.values()
                    if f"{c.kind}s" == resource]
        if resource == "BatchPayments":
            return [(b.updated, b.id, lambda b=b: self.batch_json(b)) for b in self.batches.values()]
        if resource == "RepeatingInvoices":
            return [(self.now, r.id, lambda r=r: self.repeating_json(r)) for r in self.repeating.values()]
        raise KeyError(resource)


# --------------------------------------------------------------------------------------------
# where="Type==\"ACCREC\" OR ..." (§3): the subset the connector and a careful client use
# --------------------------------------------------------------------------------------------

_CLAUSE = re.compile(r'\s*([A-Za-z.]+)\s*==\s*"([^"]*)"\s*')


def _where(text: str | None) -> Callable[[dict], bool]:
    if not text:
        return lambda record: True
    alternatives = []
    for alternative in re.split(r"\s+OR\s+", text.strip()):
        clauses = []
        for clause in re.split(r"\s+AND\s+", alternative):
            found = _CLAUSE.fullmatch(clause)
            if not found:
                raise ValueError(f"the where clause {clause!r} is not Field==\"value\"")
            clauses.append(found.groups())
        alternatives.append(clauses)
    return lambda record: any(all(str(record.get(name)) == value for name, value in clauses) for clauses in alternatives)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

class XeroServer(_ScriptedServer):
    """Xero's identity service and Accounting API on 127.0.0.1 at an ephemeral port; use as a
    context manager. Point the SDK at it with `api_url` (/Connections and /api.xro/2.0),
    `identity_url` (/connect/token) and `login_url`. `organisations` maps tenant id -> books;
    `books` is the first."""

    fixed_headers = {"Server": "Kestrel"}

    def __init__(self, organisations=(("Koala Managed IT", "NZD", ("USD", "AUD")),), *, client_id="xero-client",
                 client_secret="xero-secret", redirect_uri="http://localhost:8501/", refresh_token="xrt-0",
                 now: datetime | None = None, minute_limit=60, minute_seconds=60.0, day_limit=5000,
                 app_minute_limit=10000):
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.now = now or DEFAULT_NOW
        self._ids = 0
        self.organisations: dict[str, Organisation] = {}
        for name, base, currencies in organisations:
            tenant = self.new_id()
            self.organisations[tenant] = Organisation(self, tenant, name, base, currencies)
        self.books = next(iter(self.organisations.values()))
        self.tenant_id = self.books.tenant_id
        self.current_refresh_token, self.previous_refresh_token, self.rotated_at = refresh_token, None, None
        self.access_token, self.access_issued = "xat-0", self.now
        self.refreshes = 0
        self.revoked = False
        self.disconnected: set[str] = set()
        self.minute_limit, self.minute_seconds, self.day_limit = minute_limit, minute_seconds, day_limit
        self.app_minute_limit = app_minute_limit
        self._app_minute: collections.deque = collections.deque()
        self.requests: collections.Counter = collections.Counter()
        self.request_log: list[tuple[str, str, str, dict]] = []   # (endpoint, method, path?query, headers)
        self._faults: list[_ScriptedFault] = []
        self._sequence = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._http = self._thread = None
        self.base_url = self.api_url = self.identity_url = self.login_url = ""

    def new_id(self) -> str:
        self._ids += 1
        return str(uuid.UUID(int=(0x5E50 << 112) + self._ids))

    # ---- lifecycle --------------------------------------------------------------------------------------

    def __enter__(self) -> "XeroServer":
        self._stopping.clear()
        self._http = _HTTPServer(self)
        self.base_url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self.api_url, self.identity_url = self.base_url, self.base_url
        self.login_url = self.base_url + "/identity/connect/authorize"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="xero-test-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stopping.set()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    def tick(self, minutes: int = 1) -> None:
        """Let time pass on the server's clock (it stands still otherwise), as between edits and syncs."""
        self.now += timedelta(minutes=minutes)

    def fail_next(self, endpoint: str, fault: str, times: int = 1, **options) -> None:
        """Answer the next `times` requests to `endpoint` with `fault`: "401" (an access token Xero
        no longer takes), "429" (retry_after seconds, problem 'minute'|'day'|'appminute'), "500",
        "503" (an HTML page; retry_after optional), "truncated" (half the body, its length honest),
        "reset" (the whole length announced, the connection reset half way), "stall" (seconds,
        default 5, then the answer). On "token", `rotated=True` makes the damaged answer one the
        server acted on (the refresh token rotated, the client never learns the new one)."""
        if endpoint not in ENDPOINTS or fault not in FAULTS:
            raise ValueError(f"unknown endpoint {endpoint!r} or fault {fault!r}")
        with self._lock:
            self._faults.append(_ScriptedFault(endpoint, fault, times, options))

    # ---- request flow ----------------------------------------------------------------------------------

    def _route(self, request: _Request) -> tuple[str, Callable[[_Request], _Response]]:
        path = request.path.rstrip("/")
        if path == "/connect/token":
            return "token", self._token
        if path == "/identity/connect/authorize":
            return "authorize", self._authorize
        if path.lower() == "/connections":
            return "connections", self._connections
        found = re.fullmatch(r"/api\.xro/2\.0/(\w+)(?:/(\w+))?", path)
        if found:
            resource, sub = found.groups()
            if resource == "Reports" and sub == "AgedReceivablesByContact":
                return "reports", self._accounting(self._report)
            if sub is None and resource in ("Organisation", "Currencies", "Contacts", "Invoices", "Payments", "CreditNotes",
                                            "Overpayments", "Prepayments", "BatchPayments", "RepeatingInvoices"):
                return resource.lower(), self._accounting(lambda r, org, res=resource: self._list(r, org, res))
        return "other", lambda r: _Response(404, b"The resource you're looking for cannot be found", "text/plain")

    any_kinds = tuple(e for e in ENDPOINTS if e not in ("connections", "any"))

    def _log(self, kind: str, request: _Request) -> None:
        query = f"?{urlencode(request.params)}" if request.params else ""
        self.request_log.append((kind, request.method, request.path + query, dict(request.headers.items())))

    _NAMES = ("_sequence", "current_refresh_token", "previous_refresh_token", "rotated_at", "access_token",
              "access_issued", "refreshes")

    def _token_state(self) -> tuple:
        return tuple(getattr(self, name) for name in self._NAMES)

    def _restore_token_state(self, state: tuple) -> None:
        for name, value in zip(self._NAMES, state):
            setattr(self, name, value)

    def _json(self, status: int, payload, headers=None) -> _Response:
        return _Response(status, _dump(payload), "application/json; charset=utf-8", headers=dict(headers or {}))

    def _problem(self, status: int, title: str, detail: str, headers=None) -> _Response:
        """The API gateway's problem answer (401, 403; §1)."""
        return self._json(status, {"Type": None, "Title": title, "Status": status, "Detail": detail,
                                   "Instance": str(uuid.uuid4()), "Extensions": {}}, headers)

    def _validation(self, message: str) -> _Response:
        return self._json(400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": message})

    def _scripted_response(self, fault: _ScriptedFault) -> _Response:
        retry = {"Retry-After": str(fault.options["retry_after"])} if fault.options.get("retry_after") is not None else {}
        if fault.kind == "401":
            return self._problem(401, "Unauthorized", "TokenExpired: token expired (scripted by the test)",
                                 {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if fault.kind == "429":
            return _Response(429, b"", "text/plain", {**retry, "X-Rate-Limit-Problem": fault.options.get("problem", "minute")})
        if fault.kind == "500":
            return _Response(500, b"An error occurred in Xero. Check the API Status page http://status.developer.xero.com "
                                  b"for current service status. Contact the API support team at api@xero.com for more "
                                  b"assistance.", "text/plain")
        return _Response(503, b"<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable"
                              b"</h1></body></html>", "text/html", retry)

    # ---- OAuth (§1, §2) ------------------------------------------------------------------------------------

    def _client_of(self, request: _Request, form: dict) -> tuple[str | None, str | None]:
        scheme, _, encoded = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
                return client_id, secret
            except ValueError:
                return None, None
        return form.get("client_id"), form.get("client_secret")

    def _token(self, request: _Request) -> _Response:
        form = {key: values[-1] for key, values in parse_qs(request.body).items()}
        if request.method != "POST" or self._client_of(request, form) != (self.client_id, self.client_secret):
            return self._json(400, {"error": "invalid_client"})
        grant = form.get("grant_type")
        with self._lock:
            if grant == "refresh_token":
                token = form.get("refresh_token")
                in_grace = (token == self.previous_refresh_token and self.rotated_at is not None
                            and self.now - self.rotated_at <= GRACE)
                if self.revoked or not (token == self.current_refresh_token or in_grace):
                    return self._json(400, {"error": "invalid_grant"})
                self.refreshes += 1
                if token == self.current_refresh_token:
                    self.previous_refresh_token, self.rotated_at = token, self.now
            elif grant == "authorization_code":
                if form.get("code") != "good-code" or form.get("redirect_uri") != self.redirect_uri:
                    return self._json(400, {"error": "invalid_grant"})
                self.previous_refresh_token, self.rotated_at = None, None
            else:
                return self._json(400, {"error": "unsupported_grant_type"})
            self._sequence += 1
            self.current_refresh_token = f"xrt-{self._sequence}"
            self.access_token, self.access_issued = f"xat-{self._sequence}", self.now
            self.revoked = False
            return self._json(200, {"id_token": f"xid-{self._sequence}", "access_token": self.access_token,
                                    "expires_in": ACCESS_LIFETIME, "token_type": "Bearer",
                                    "refresh_token": self.current_refresh_token,
                                    "scope": form.get("scope") or "offline_access accounting.transactions.read"})

    def _authorize(self, request: _Request) -> _Response:
        query = urlencode({"code": "good-code", "state": request.params.get("state", ""), "scope": request.params.get("scope", "")})
        target = request.params.get("redirect_uri", self.redirect_uri)
        return _Response(302, b"", "text/plain", {"Location": f"{target}?{query}"})

    def _bearer_problem(self, request: _Request) -> str | None:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token != self.access_token or self.revoked:
            return "AuthenticationUnsuccessful"
        if (self.now - self.access_issued).total_seconds() > ACCESS_LIFETIME:
            return "TokenExpired: token expired"
        return None

    def _connections(self, request: _Request) -> _Response:
        problem = self._bearer_problem(request)
        if problem:
            return self._problem(401, "Unauthorized", problem)
        stamp = "2026-11-01T09:00:00.0000000"
        return self._json(200, [{"id": str(uuid.UUID(int=n + 1)), "authEventId": "5e5a7e1d-0000-4000-8000-000000000001",
                                 "tenantId": org.tenant_id, "tenantType": "ORGANISATION", "tenantName": org.name,
                                 "createdDateUtc": stamp, "updatedDateUtc": stamp}
                                for n, org in enumerate(self.organisations.values()) if org.tenant_id not in self.disconnected])

    # ---- the Accounting API (§3-§12) --------------------------------------------------------------------------

    def _limits(self, org: Organisation) -> tuple[dict, _Response | None]:
        """Count a request against the organisation's and the app's limits (§12)."""
        clock = time.monotonic()
        for window in (org.minute, self._app_minute):
            while window and clock - window[0] >= self.minute_seconds:
                window.popleft()
        problem = None
        if org.today_requests >= self.day_limit:
            problem, wait = "day", 43200
        elif len(org.minute) >= self.minute_limit:
            problem, wait = "minute", max(1, math.ceil(self.minute_seconds - (clock - org.minute[0])))
        elif len(self._app_minute) >= self.app_minute_limit:
            problem, wait = "appminute", max(1, math.ceil(self.minute_seconds - (clock - self._app_minute[0])))
        if problem is None:
            org.minute.append(clock)
            self._app_minute.append(clock)
            org.today_requests += 1
        headers = {"X-DayLimit-Remaining": str(max(0, self.day_limit - org.today_requests)),
                   "X-MinLimit-Remaining": str(max(0, self.minute_limit - len(org.minute))),
                   "X-AppMinLimit-Remaining": str(max(0, self.app_minute_limit - len(self._app_minute)))}
        if problem:
            return headers, _Response(429, b"", "text/plain", {**headers, "Retry-After": str(wait),
                                                               "X-Rate-Limit-Problem": problem})
        return headers, None

    def _accounting(self, handler):
        def serve(request: _Request) -> _Response:
            problem = self._bearer_problem(request)
            if problem:
                return self._problem(401, "Unauthorized", problem, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            org = self.organisations.get(request.headers.get("xero-tenant-id") or "")
            if org is None or org.tenant_id in self.disconnected:
                return self._problem(403, "Forbidden", "AuthenticationUnsuccessful")
            with self._lock:
                headers, refused = self._limits(org)
                if refused:
                    return refused
                response = handler(request, org)
            response.headers.update(headers)
            return response
        return serve

    def _envelope(self, org: Organisation, key: str, records: list, pagination: dict | None = None) -> dict:
        body = {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "ledgerlight tests",
                "DateTimeUTC": _ms(self.now)}
        if pagination:
            body["pagination"] = pagination
        body[key] = records
        return body

    def _list(self, request: _Request, org: Organisation, resource: str) -> _Response:
        params = request.params
        if resource == "Organisation":
            return self._json(200, self._envelope(org, "Organisations", [org.organisation_json()]))
        if resource == "Currencies":
            return self._json(200, self._envelope(org, "Currencies", [
                {"Code": code, "Description": CURRENCY_NAMES.get(code, code)} for code in org.currencies]))
        try:
            matches = _where(params.get("where"))
            page = int(params["page"]) if params.get("page") else None
            size = int(params.get("pageSize") or DEFAULT_PAGE)
        except ValueError as error:
            return self._validation(str(error))
        if size < 1 or size > MAX_PAGE:
            return self._validation(f"pageSize must be between 1 and {MAX_PAGE}")
        since = request.headers.get("If-Modified-Since")
        if since and resource != "RepeatingInvoices":
            try:
                moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
            except ValueError:
                return self._validation(f"If-Modified-Since {since!r} is not a time")
            since_at = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        else:
            since_at = None
        archived = params.get("includeArchived", "").lower() == "true"
        listed = sorted(org.records(resource, archived), key=lambda item: (item[0], item[1]))
        if since_at is not None:
            listed = [item for item in listed if item[0] >= since_at]
        if resource == "Contacts":
            rendered = [org.contact_json(render(), balances=page is not None) for _, _, render in listed]
        else:
            rendered = [render() for _, _, render in listed]
        rendered = [{**record, **org.overrides.get(record_id, {})} for record, (_, record_id, _) in zip(rendered, listed)]
        rendered = [record for record in rendered if matches(record)]
        if page is None or resource in ("BatchPayments", "RepeatingInvoices"):
            return self._json(200, self._envelope(org, resource, rendered))
        chunk = rendered[(page - 1) * size: page * size]
        pagination = {"page": page, "pageSize": size, "pageCount": max(1, math.ceil(len(rendered) / size)),
                      "itemCount": len(rendered)}
        return self._json(200, self._envelope(org, resource, chunk, pagination))

    def _report(self, request: _Request, org: Organisation) -> _Response:
        contact_id = request.params.get("contactId")
        if not contact_id or contact_id not in org.contacts:
            return self._json(400, {"ErrorNumber": 10, "Type": "ValidationException",
                                    "Message": "A validation exception occurred",
                                    "Elements": [{"ValidationErrors": [{"Message": "contactId is not a contact"}]}]})
        try:
            report_date = date.fromisoformat(request.params["date"]) if request.params.get("date") else self.now.date()
        except ValueError:
            return self._validation(f"date {request.params['date']!r} is not a date")
        return self._json(200, org.aged_receivables(contact_id, report_date))
