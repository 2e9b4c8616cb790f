"""A QuickBooks Online look-alike on 127.0.0.1 for the connector's tests.

It imitates, on the wire, the parts of Intuit's services the A/R connector uses, closely enough
that the real `intuitlib.client.AuthClient` and `quickbooks.QuickBooks` clients talk to it
unchanged (see /work/shared/spec/quickbooks.md):

* OAuth 2.0: the OpenID discovery document, the token endpoint (HTTP Basic client auth,
  `refresh_token` and `authorization_code` grants, refresh tokens that rotate on every refresh
  with the previous one answering 400 `invalid_grant`), revocation, userinfo, an empty JWKS.
  Token responses never carry an `id_token`, so intuitlib never fetches keys.
* Accounting API v3 under `/v3/company/{realm}`: `query` (POST text body or GET `?query=`),
  `cdc`, `reports/AgedReceivables`, and single-object reads (`/invoice/{id}`, ...).
* A small consistent A/R ledger: customers (with sub-customers), terms, payment methods,
  invoices, payments, credit memos and recurring invoice templates. Balances are derived
  from the applications on every read, so they can never drift; every change to a record
  (including a change of its balance by a payment) bumps its `SyncToken` and its
  `MetaData.LastUpdatedTime` to the server clock `now`.
* Scripted faults per request (`fail_next`) and a per-endpoint request counter (`requests`).

Choices where QuickBooks' behaviour is undocumented or where a test server must pick one:

* Timestamps are rendered in the company's time zone (America/Los_Angeles), like QBO, so
  clients must honour UTC offsets.
* A wrong realm answers 403 with fault code 3100 (`ApplicationAuthorizationFailed`,
  `AuthorizationFault`), which python-quickbooks raises as `ValidationException` (its code
  ranges put 3100 there). Authentication is checked before the realm, as QBO does.
* Only the current access token is accepted (QBO would accept an older unexpired one), so a
  client that forgets to hand a refreshed token to its session gets 401 at once.
* `changedSince` older than 30 days answers 400 with a `ValidationFault`, code 10000 and the
  detail QBO has been seen to send ("... which is older than fixed days is not supported").
* CDC returns, per entity, the changes ordered by `LastUpdatedTime` then `Id`, oldest first,
  capped at `cdc_limit` (1000) objects per entity.
* The AgedReceivables report puts unapplied payments and unused credit memo credit as negative
  amounts in the customer's "Current" column (QBO shows them as negatives on the customer
  but documents no bucket).
* A customer's `Balance` is live, but a customer's `LastUpdatedTime` moves only when the
  customer itself is edited (`edit_customer`), not when its invoices change.
* Voiding or deleting an invoice or credit memo unlinks it from payments: a payment with money
  loses just that line (its `UnappliedAmt` grows); a pure credit application (TotalAmt 0)
  loses all its lines, which returns the credit to the credit memo.
"""

from __future__ import annotations

import base64
import collections
import json
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

HOME_CURRENCY = "USD"
COMPANY_TZ = ZoneInfo("America/Los_Angeles")
CENT = Decimal("0.01")
MAX_PAGE = 1000
DEFAULT_PAGE = 100
CDC_WINDOW = timedelta(days=30)
ENTITIES = ("Customer", "Invoice", "Payment", "CreditMemo", "Term", "PaymentMethod", "RecurringTransaction")
TRANSACTIONS = ("Invoice", "Payment", "CreditMemo", "RecurringTransaction")
CURRENCY_NAMES = {"USD": "United States Dollar", "CAD": "Canadian Dollar", "EUR": "Euro",
                  "GBP": "British Pound Sterling"}
ENDPOINT_KINDS = ("query", "cdc", "report", "token", "read", "discovery", "any")
_ANY_KINDS = ("query", "cdc", "report", "read", "token")
# The server's clock when a test gives none: 09:00 in the company's time zone on 2026-11-25.
DEFAULT_NOW = datetime(2026, 11, 25, 17, 0, tzinfo=timezone.utc)
FAULT_KINDS = ("401", "429", "429-xml", "503", "200-fault", "truncated", "reset", "stall")


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(COMPANY_TZ).isoformat(timespec="seconds")


def _dump(payload) -> bytes:
    # QBO sends money as JSON numbers; float's shortest repr keeps two-decimal amounts exact.
    return json.dumps(payload, default=lambda o: float(o) if isinstance(o, Decimal) else str(o)).encode()


# --------------------------------------------------------------------------------------------
# Ledger records
# --------------------------------------------------------------------------------------------

@dataclass
class _Meta:
    created: datetime
    updated: datetime
    sync_token: int = 0


@dataclass
class _Customer:
    id: str
    name: str
    parent_id: str | None
    currency: str
    active: bool
    email: str | None
    terms_id: str | None
    meta: _Meta


@dataclass
class _Term:
    id: str
    name: str
    due_days: int
    meta: _Meta


@dataclass
class _PaymentMethod:
    id: str
    name: str
    type: str
    meta: _Meta


@dataclass
class _Invoice:
    id: str
    customer_id: str
    txn_date: date
    total: Decimal
    due_date: date
    doc_number: str
    currency: str
    exchange_rate: Decimal
    term_id: str | None
    template_id: str | None
    private_note: str | None
    meta: _Meta
    voided: bool = False


@dataclass
class _Line:
    amount: Decimal
    links: list[tuple[str, str]]       # (TxnId, TxnType)
    open_balance: Decimal | None = None  # the linked invoice's balance before this line (LineEx)
    reference: str | None = None         # the linked invoice's DocNumber (LineEx)


@dataclass
class _Payment:
    id: str
    customer_id: str
    txn_date: date
    total: Decimal
    lines: list[_Line]
    method_id: str | None
    currency: str
    exchange_rate: Decimal
    meta: _Meta


@dataclass
class _CreditMemo:
    id: str
    customer_id: str
    txn_date: date
    total: Decimal
    doc_number: str
    currency: str
    exchange_rate: Decimal
    meta: _Meta


@dataclass
class _Template:
    id: str
    customer_id: str
    amount: Decimal
    name: str
    interval: str
    num_interval: int
    day_of_month: int
    start_date: date
    end_date: date | None
    next_date: date
    previous_date: date | None
    active: bool
    meta: _Meta


class _Applications:
    """Who applied what to whom, optionally only payments dated on or before `as_of`."""

    def __init__(self, payments, as_of: date | None = None):
        self._by_target: dict[tuple[str, str], list[tuple[_Payment, _Line]]] = collections.defaultdict(list)
        for payment in payments:
            if as_of is not None and payment.txn_date > as_of:
                continue
            for line in payment.lines:
                for txn_id, txn_type in line.links:
                    self._by_target[(txn_type, txn_id)].append((payment, line))

    def applied(self, txn_type: str, txn_id: str) -> Decimal:
        return sum((line.amount for _, line in self._by_target[(txn_type, txn_id)]), Decimal("0.00"))

    def payment_ids(self, txn_type: str, txn_id: str) -> list[str]:
        return list(dict.fromkeys(payment.id for payment, _ in self._by_target[(txn_type, txn_id)]))


def _unapplied(payment: _Payment) -> Decimal:
    # Money applied to invoices uses the payment up; a credit memo line brings money in.
    balance = payment.total
    for line in payment.lines:
        types = {txn_type for _, txn_type in line.links}
        balance -= line.amount if "Invoice" in types else 0
        balance += line.amount if "CreditMemo" in types else 0
    return balance


class _QboFault(Exception):
    """A fault a data endpoint answers with: HTTP status plus QBO's {"Fault": ...} body."""

    def __init__(self, status: int, code: int | str, message: str, detail: str = "", kind: str = "ValidationFault"):
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.kind = status, str(code), message, detail, kind


def _parse_error(detail: str) -> _QboFault:
    return _QboFault(400, 4000, "Error parsing query", f"QueryParserError: {detail}")


# --------------------------------------------------------------------------------------------
# The ledger: mutations for tests, JSON exactly as the API spells it
# --------------------------------------------------------------------------------------------

class _Ledger:
    def __init__(self, now: datetime | None):
        self._lock = threading.RLock()
        self.now = now or DEFAULT_NOW
        self._records: dict[str, dict[str, Any]] = {entity: {} for entity in ENTITIES}
        self._deleted: list[tuple[str, str, datetime]] = []
        self._sequences = collections.Counter()
        self._doc_numbers = collections.Counter()

    @property
    def now(self) -> datetime:
        return self._now

    @now.setter
    def now(self, value: datetime):
        self._now = value if value.tzinfo else value.replace(tzinfo=timezone.utc)

    # ---- ids, metadata -------------------------------------------------------------------

    def _new_id(self, entity: str) -> str:
        # Transactions share one Id sequence in QBO; lists each have their own.
        sequence = "txn" if entity in TRANSACTIONS else entity
        self._sequences[sequence] += 1
        return str(self._sequences[sequence])

    def _new_doc_number(self, entity: str) -> str:
        self._doc_numbers[entity] += 1
        return str(1000 + self._doc_numbers[entity])

    def _meta(self) -> _Meta:
        return _Meta(created=self.now, updated=self.now)

    def _touch(self, record):
        record.meta.sync_token += 1
        record.meta.updated = self.now

    def _get(self, entity: str, record_id: str):
        try:
            return self._records[entity][str(record_id)]
        except KeyError:
            raise KeyError(f"no {entity} with Id {record_id}") from None

    def _store(self, entity: str, record) -> str:
        self._records[entity][record.id] = record
        return record.id

    # ---- lists -----------------------------------------------------------------------------

    def add_customer(self, name, *, parent_id=None, currency="USD", active=True, email=None, terms_id=None) -> str:
        with self._lock:
            if parent_id is not None:
                self._get("Customer", parent_id)
            customer = _Customer(self._new_id("Customer"), name, None if parent_id is None else str(parent_id),
                                 currency, active, email, None if terms_id is None else str(terms_id), self._meta())
            return self._store("Customer", customer)

    def edit_customer(self, customer_id, **fields):
        """Change name, active, email or terms_id of a customer; bumps SyncToken/LastUpdatedTime."""
        with self._lock:
            customer = self._get("Customer", customer_id)
            for key, value in fields.items():
                if key not in ("name", "active", "email", "terms_id"):
                    raise TypeError(f"edit_customer cannot change {key!r}")
                setattr(customer, key, value)
            self._touch(customer)

    def add_term(self, name, due_days) -> str:
        with self._lock:
            return self._store("Term", _Term(self._new_id("Term"), name, int(due_days), self._meta()))

    def add_payment_method(self, name, type="NON_CREDIT_CARD") -> str:
        with self._lock:
            method = _PaymentMethod(self._new_id("PaymentMethod"), name, type, self._meta())
            return self._store("PaymentMethod", method)

    # ---- invoices ----------------------------------------------------------------------------

    def add_invoice(self, customer_id, txn_date, total, *, due_date=None, doc_number=None, currency="USD",
                    exchange_rate="1", term_id=None, recurring_template_id=None, private_note=None) -> str:
        with self._lock:
            customer = self._get("Customer", customer_id)
            txn_date = _as_date(txn_date)
            term_id = str(term_id) if term_id is not None else customer.terms_id
            invoice = _Invoice(
                id=self._new_id("Invoice"), customer_id=customer.id, txn_date=txn_date, total=_money(total),
                due_date=_as_date(due_date) if due_date else self._due_date(txn_date, term_id),
                doc_number=doc_number or self._new_doc_number("Invoice"), currency=currency,
                exchange_rate=Decimal(str(exchange_rate)), term_id=term_id,
                template_id=None if recurring_template_id is None else str(recurring_template_id),
                private_note=private_note, meta=self._meta())
            return self._store("Invoice", invoice)

    def _due_date(self, txn_date: date, term_id: str | None) -> date:
        if term_id is None:
            return txn_date
        return txn_date + timedelta(days=self._get("Term", term_id).due_days)

    def edit_invoice(self, invoice_id, **fields):
        """Change total, due_date, doc_number, txn_date, private_note, exchange_rate or term_id."""
        converters = {"total": _money, "due_date": _as_date, "txn_date": _as_date, "doc_number": str,
                      "private_note": str, "exchange_rate": lambda v: Decimal(str(v)),
                      "term_id": lambda v: None if v is None else str(v)}
        unknown = set(fields) - set(converters)
        if unknown:
            raise TypeError(f"edit_invoice cannot change {sorted(unknown)}")
        changes = {key: converters[key](value) for key, value in fields.items()}
        with self._lock:
            invoice = self._get("Invoice", invoice_id)
            if changes.get("total", invoice.total) < self._applications().applied("Invoice", invoice.id):
                raise ValueError("an invoice total cannot drop below what has been applied to it")
            for key, value in changes.items():
                setattr(invoice, key, value)
            self._touch(invoice)

    def void_invoice(self, invoice_id):
        with self._lock:
            invoice = self._get("Invoice", invoice_id)
            self._unlink("Invoice", invoice.id)
            invoice.voided, invoice.total = True, Decimal("0.00")
            invoice.private_note = "Voided" + (f" - {invoice.private_note}" if invoice.private_note else "")
            self._touch(invoice)

    def delete_invoice(self, invoice_id):
        self._delete("Invoice", invoice_id)

    # ---- payments and credits ----------------------------------------------------------------------

    def add_payment(self, customer_id, txn_date, total, applied=None, *, method_id=None, currency="USD",
                    exchange_rate="1") -> str:
        with self._lock:
            customer = self._get("Customer", customer_id)
            applied = {str(k): _money(v) for k, v in (applied or {}).items()}
            if sum(applied.values(), Decimal(0)) > _money(total):
                raise ValueError("a payment cannot apply more than its total")
            lines = [self._invoice_line(customer.id, invoice_id, amount) for invoice_id, amount in applied.items()]
            payment = _Payment(self._new_id("Payment"), customer.id, _as_date(txn_date), _money(total), lines,
                               None if method_id is None else str(method_id), currency,
                               Decimal(str(exchange_rate)), self._meta())
            self._touch_links(payment.lines)
            return self._store("Payment", payment)

    def _invoice_line(self, customer_id: str, invoice_id: str, amount: Decimal) -> _Line:
        invoice = self._get("Invoice", invoice_id)
        balance = self._invoice_balance(invoice, self._applications())
        if invoice.customer_id != customer_id:
            raise ValueError(f"invoice {invoice_id} belongs to another customer")
        if amount > balance:
            raise ValueError(f"cannot apply {amount} to invoice {invoice_id} with balance {balance}")
        return _Line(amount, [(invoice.id, "Invoice")], balance, invoice.doc_number)

    def add_credit_memo(self, customer_id, txn_date, total, *, doc_number=None, currency="USD",
                        exchange_rate="1") -> str:
        with self._lock:
            customer = self._get("Customer", customer_id)
            memo = _CreditMemo(self._new_id("CreditMemo"), customer.id, _as_date(txn_date), _money(total),
                               doc_number or self._new_doc_number("CreditMemo"), currency,
                               Decimal(str(exchange_rate)), self._meta())
            return self._store("CreditMemo", memo)

    def apply_credit_memo(self, credit_memo_id, invoice_id, amount, txn_date, *, single_line=False) -> str:
        """Apply credit as QBO does: a Payment with TotalAmt 0 linking the invoice and the memo."""
        with self._lock:
            memo = self._get("CreditMemo", credit_memo_id)
            amount = _money(amount)
            remaining = memo.total - self._applications().applied("CreditMemo", memo.id)
            if amount > remaining:
                raise ValueError(f"credit memo {memo.id} has only {remaining} left")
            invoice_line = self._invoice_line(memo.customer_id, str(invoice_id), amount)
            memo_link = (memo.id, "CreditMemo")
            if single_line:
                lines = [_Line(amount, invoice_line.links + [memo_link])]
            else:
                lines = [invoice_line, _Line(amount, [memo_link])]
            payment = _Payment(self._new_id("Payment"), memo.customer_id, _as_date(txn_date), Decimal("0.00"),
                               lines, None, memo.currency, memo.exchange_rate, self._meta())
            self._touch_links(payment.lines)
            return self._store("Payment", payment)

    def delete_payment(self, payment_id):
        self._delete("Payment", payment_id)

    def delete_credit_memo(self, credit_memo_id):
        self._delete("CreditMemo", credit_memo_id)

    def _touch_links(self, lines: list[_Line], skip: tuple[str, str] | None = None):
        targets = {link for line in lines for link in line.links if link != skip}
        for txn_id, txn_type in targets:
            if txn_id in self._records[txn_type]:
                self._touch(self._records[txn_type][txn_id])

    def _unlink(self, txn_type: str, txn_id: str):
        for payment in self._records["Payment"].values():
            hit = [line for line in payment.lines if (txn_id, txn_type) in line.links]
            if not hit:
                continue
            dropped = payment.lines if payment.total == 0 else hit
            payment.lines = [line for line in payment.lines if all(line is not gone for gone in dropped)]
            self._touch(payment)
            self._touch_links(dropped, skip=(txn_id, txn_type))

    def _delete(self, entity: str, record_id):
        with self._lock:
            record = self._get(entity, record_id)
            if entity == "Payment":
                self._touch_links(record.lines)
            else:
                self._unlink(entity, record.id)
            del self._records[entity][record.id]
            self._deleted.append((entity, record.id, self.now))

    # ---- recurring templates ------------------------------------------------------------------------

    def add_recurring_invoice_template(self, customer_id, amount, *, name, interval="Monthly", num_interval=1,
                                       day_of_month=1, start_date, end_date=None, next_date, active=True,
                                       previous_date=None) -> str:
        with self._lock:
            customer = self._get("Customer", customer_id)
            template = _Template(self._new_id("RecurringTransaction"), customer.id, _money(amount), name, interval,
                                 int(num_interval), int(day_of_month), _as_date(start_date),
                                 _as_date(end_date) if end_date else None, _as_date(next_date),
                                 _as_date(previous_date) if previous_date else None, active, self._meta())
            return self._store("RecurringTransaction", template)

    # ---- derived amounts ----------------------------------------------------------------------------

    def _applications(self, as_of: date | None = None) -> _Applications:
        return _Applications(self._records["Payment"].values(), as_of)

    @staticmethod
    def _invoice_balance(invoice: _Invoice, apps: _Applications) -> Decimal:
        return Decimal("0.00") if invoice.voided else invoice.total - apps.applied("Invoice", invoice.id)

    def _customer_balances(self, apps: _Applications) -> dict[str, Decimal]:
        balances = collections.defaultdict(lambda: Decimal("0.00"))
        for invoice in self._records["Invoice"].values():
            balances[invoice.customer_id] += self._invoice_balance(invoice, apps)
        for payment in self._records["Payment"].values():
            balances[payment.customer_id] -= _unapplied(payment)
        for memo in self._records["CreditMemo"].values():
            balances[memo.customer_id] -= memo.total - apps.applied("CreditMemo", memo.id)
        return balances

    def _ancestry(self, customer: _Customer) -> list[_Customer]:
        chain = [customer]
        while chain[-1].parent_id is not None:
            chain.append(self._records["Customer"][chain[-1].parent_id])
        return chain[::-1]

    # ---- JSON -------------------------------------------------------------------------------------------

    def _render_all(self, entity: str) -> list[dict]:
        apps = self._applications()
        balances = self._customer_balances(apps) if entity == "Customer" else None
        return [self._render(entity, record, apps, balances) for record in self._records[entity].values()]

    def _render(self, entity: str, record, apps: _Applications, balances=None) -> dict:
        if entity == "Customer" and balances is None:
            balances = self._customer_balances(apps)
        renderers = {
            "Customer": lambda: self._customer_json(record, balances),
            "Invoice": lambda: self._invoice_json(record, apps),
            "Payment": lambda: self._payment_json(record),
            "CreditMemo": lambda: self._credit_memo_json(record, apps),
            "Term": lambda: self._term_json(record),
            "PaymentMethod": lambda: self._payment_method_json(record),
            "RecurringTransaction": lambda: self._template_json(record),
        }
        return renderers[entity]()

    @staticmethod
    def _common(record) -> dict:
        return {"domain": "QBO", "sparse": False, "Id": record.id, "SyncToken": str(record.meta.sync_token),
                "MetaData": {"CreateTime": _stamp(record.meta.created),
                             "LastUpdatedTime": _stamp(record.meta.updated)}}

    def _customer_ref(self, customer_id: str) -> dict:
        return {"value": customer_id, "name": self._records["Customer"][customer_id].name}

    @staticmethod
    def _currency_ref(currency: str) -> dict:
        return {"value": currency, "name": CURRENCY_NAMES.get(currency, currency)}

    def _customer_json(self, customer: _Customer, balances: dict[str, Decimal]) -> dict:
        chain = self._ancestry(customer)
        descendants = [c.id for c in self._records["Customer"].values()
                       if customer.id in {a.id for a in self._ancestry(c)}]
        body = {**self._common(customer), "DisplayName": customer.name, "CompanyName": customer.name,
                "PrintOnCheckName": customer.name, "FullyQualifiedName": ":".join(c.name for c in chain),
                "Active": customer.active, "Job": customer.parent_id is not None, "BillWithParent": False,
                "Balance": balances[customer.id],
                "BalanceWithJobs": sum((balances[i] for i in descendants), Decimal("0.00")),
                "CurrencyRef": self._currency_ref(customer.currency), "PreferredDeliveryMethod": "Email",
                "Taxable": False}
        if customer.parent_id is not None:
            body.update(ParentRef={"value": customer.parent_id}, Level=len(chain) - 1)
        if customer.email:
            body["PrimaryEmailAddr"] = {"Address": customer.email}
        if customer.terms_id:
            body["SalesTermRef"] = {"value": customer.terms_id}
        return body

    def _invoice_json(self, invoice: _Invoice, apps: _Applications) -> dict:
        balance = self._invoice_balance(invoice, apps)
        body = {**self._common(invoice), "DocNumber": invoice.doc_number, "TxnDate": invoice.txn_date.isoformat(),
                "DueDate": invoice.due_date.isoformat(), "CustomerRef": self._customer_ref(invoice.customer_id),
                "CurrencyRef": self._currency_ref(invoice.currency), "ExchangeRate": invoice.exchange_rate,
                "TotalAmt": invoice.total, "Balance": balance,
                "Line": self._sales_lines(invoice.total),
                "LinkedTxn": [{"TxnId": pid, "TxnType": "Payment"} for pid in apps.payment_ids("Invoice", invoice.id)],
                "TxnTaxDetail": {"TotalTax": 0}, "EmailStatus": "NotSet", "PrintStatus": "NotSet",
                "AllowOnlineCreditCardPayment": False, "AllowOnlineACHPayment": False, "Deposit": 0}
        if invoice.currency != HOME_CURRENCY:
            body["HomeTotalAmt"] = (invoice.total * invoice.exchange_rate).quantize(CENT)
            body["HomeBalance"] = (balance * invoice.exchange_rate).quantize(CENT)
        if invoice.term_id:
            body["SalesTermRef"] = {"value": invoice.term_id}
        if invoice.private_note:
            body["PrivateNote"] = invoice.private_note
        if invoice.template_id:
            body["RecurDataRef"] = {"value": invoice.template_id}
        return body

    @staticmethod
    def _sales_lines(total: Decimal) -> list[dict]:
        return [{"Id": "1", "LineNum": 1, "Description": "Managed services", "Amount": total,
                 "DetailType": "SalesItemLineDetail",
                 "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}, "UnitPrice": total,
                                         "Qty": 1, "TaxCodeRef": {"value": "NON"}}},
                {"Amount": total, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}]

    def _payment_json(self, payment: _Payment) -> dict:
        body = {**self._common(payment), "TxnDate": payment.txn_date.isoformat(),
                "CustomerRef": self._customer_ref(payment.customer_id),
                "CurrencyRef": self._currency_ref(payment.currency), "ExchangeRate": payment.exchange_rate,
                "TotalAmt": payment.total, "UnappliedAmt": _unapplied(payment), "ProcessPayment": False,
                "Line": [self._payment_line_json(line) for line in payment.lines]}
        if payment.total > 0:
            body["DepositToAccountRef"] = {"value": "4"}  # Undeposited Funds
        if payment.method_id:
            method = self._records["PaymentMethod"].get(payment.method_id)
            body["PaymentMethodRef"] = {"value": payment.method_id, **({"name": method.name} if method else {})}
        return body

    @staticmethod
    def _payment_line_json(line: _Line) -> dict:
        body = {"Amount": line.amount, "LinkedTxn": [{"TxnId": i, "TxnType": t} for i, t in line.links]}
        if line.open_balance is not None and len(line.links) == 1:
            pairs = [("txnId", line.links[0][0]), ("txnOpenBalance", str(line.open_balance)),
                     ("txnReferenceNumber", line.reference)]
            body["LineEx"] = {"any": [
                {"name": "{http://schema.intuit.com/finance/v3}NameValue",
                 "declaredType": "com.intuit.schema.finance.v3.NameValue",
                 "scope": "javax.xml.bind.JAXBElement$GlobalScope", "value": {"Name": name, "Value": value},
                 "nil": False, "globalScope": True, "typeSubstituted": False} for name, value in pairs]}
        return body

    def _credit_memo_json(self, memo: _CreditMemo, apps: _Applications) -> dict:
        remaining = memo.total - apps.applied("CreditMemo", memo.id)
        return {**self._common(memo), "DocNumber": memo.doc_number, "TxnDate": memo.txn_date.isoformat(),
                "CustomerRef": self._customer_ref(memo.customer_id),
                "CurrencyRef": self._currency_ref(memo.currency), "ExchangeRate": memo.exchange_rate,
                "TotalAmt": memo.total, "RemainingCredit": remaining, "Balance": remaining,
                "Line": self._sales_lines(memo.total),
                "LinkedTxn": [{"TxnId": pid, "TxnType": "Payment"} for pid in apps.payment_ids("CreditMemo", memo.id)]}

    def _term_json(self, term: _Term) -> dict:
        return {**self._common(term), "Name": term.name, "Active": True, "Type": "STANDARD",
                "DueDays": term.due_days, "DiscountDays": 0, "DiscountPercent": 0}

    def _payment_method_json(self, method: _PaymentMethod) -> dict:
        return {**self._common(method), "Name": method.name, "Active": True, "Type": method.type}

    def _template_json(self, template: _Template) -> dict:
        customer = self._records["Customer"][template.customer_id]
        schedule = {"IntervalType": template.interval, "NumInterval": template.num_interval,
                    "DayOfMonth": template.day_of_month, "StartDate": template.start_date.isoformat(),
                    "NextDate": template.next_date.isoformat()}
        if template.end_date:
            schedule["EndDate"] = template.end_date.isoformat()
        if template.previous_date:
            schedule["PreviousDate"] = template.previous_date.isoformat()
        invoice = {**self._common(template), "CustomerRef": self._customer_ref(customer.id),
                   "CurrencyRef": self._currency_ref(customer.currency), "TotalAmt": template.amount,
                   "Line": self._sales_lines(template.amount),
                   "RecurringInfo": {"Name": template.name, "RecurType": "Automated", "Active": template.active,
                                     "ScheduleInfo": schedule}}
        return {"Invoice": invoice}

    # ---- change data capture ----------------------------------------------------------------------

    def _changes(self, entity: str, since: datetime, limit: int) -> list[dict]:
        apps = self._applications()
        balances = self._customer_balances(apps) if entity == "Customer" else None
        changed = [(r.meta.updated, int(r.id), self._render(entity, r, apps, balances))
                   for r in self._records[entity].values() if r.meta.updated > since]
        changed += [(when, int(record_id), self._deleted_stub(record_id, when))
                    for kind, record_id, when in self._deleted if kind == entity and when > since]
        changed.sort(key=lambda item: item[:2])
        return [body for _, _, body in changed[:limit]]

    @staticmethod
    def _deleted_stub(record_id: str, when: datetime) -> dict:
        return {"domain": "QBO", "status": "Deleted", "Id": record_id, "MetaData": {"LastUpdatedTime": _stamp(when)}}

    # ---- the A/R aging report ----------------------------------------------------------------------

    def _aged_receivables(self, report_date: date, aging_period: int, num_periods: int, aging_method: str) -> dict:
        amounts = self._aged_amounts(report_date, aging_period, num_periods, aging_method)
        titles = ["Current"] + _bucket_titles(aging_period, num_periods) + ["Total"]
        rows = self._report_rows(self._children(None), amounts, len(titles) - 1)
        grand = [sum(column, Decimal("0.00")) for column in zip(*amounts.values())] or [Decimal(0)] * (len(titles) - 1)
        header = {"Time": _stamp(self.now), "ReportName": "AgedReceivables", "DateMacro": "today",
                  "StartPeriod": report_date.isoformat(), "EndPeriod": report_date.isoformat(),
                  "SummarizeColumnsBy": "Total", "Currency": HOME_CURRENCY,
                  "Option": [{"Name": "report_date", "Value": report_date.isoformat()},
                             {"Name": "NoReportData", "Value": "false" if rows else "true"}]}
        columns = [{"ColTitle": "", "ColType": "Customer"}] + [
            {"ColTitle": title, "ColType": "Money", "MetaData": [{"Name": "ColKey", "Value": title.lower()}]}
            for title in titles]
        if not rows:
            return {"Header": header, "Columns": {"Column": columns}, "Rows": {}}
        total_row = {"Summary": {"ColData": [{"value": "TOTAL"}] + _total_cells(grand)},
                     "type": "Section", "group": "GrandTotal"}
        return {"Header": header, "Columns": {"Column": columns}, "Rows": {"Row": rows + [total_row]}}

    def _aged_amounts(self, report_date, aging_period, num_periods, aging_method) -> dict[str, list[Decimal]]:
        """Home-currency open amounts per customer: [current, bucket 1..n]."""
        aged_on = self.now.astimezone(COMPANY_TZ).date() if aging_method == "Current" else report_date
        apps = self._applications(as_of=report_date)
        amounts: dict[str, list[Decimal]] = collections.defaultdict(lambda: [Decimal("0.00")] * (num_periods + 1))

        def add(customer_id, column, amount, rate):
            amounts[customer_id][column] += (amount * rate).quantize(CENT)

        for invoice in self._records["Invoice"].values():
            if invoice.voided or invoice.txn_date > report_date:
                continue
            days_late = (aged_on - invoice.due_date).days
            column = 0 if days_late <= 0 else min((days_late - 1) // aging_period, num_periods - 1) + 1
            add(invoice.customer_id, column, self._invoice_balance(invoice, apps), invoice.exchange_rate)
        for payment in self._records["Payment"].values():
            if payment.txn_date <= report_date:
                add(payment.customer_id, 0, -_unapplied(payment), payment.exchange_rate)
        for memo in self._records["CreditMemo"].values():
            if memo.txn_date <= report_date:
                add(memo.customer_id, 0, apps.applied("CreditMemo", memo.id) - memo.total, memo.exchange_rate)
        return {cid: cells + [sum(cells, Decimal("0.00"))] for cid, cells in amounts.items() if any(cells)}

    def _children(self, parent_id: str | None) -> list[_Customer]:
        kids = [c for c in self._records["Customer"].values() if c.parent_id == parent_id]
        return sorted(kids, key=lambda c: c.name.casefold())

    def _subtree_amounts(self, customer: _Customer, amounts, width) -> list[Decimal]:
        total = list(amounts.get(customer.id, [Decimal("0.00")] * width))
        for kid in self._children(customer.id):
            total = [a + b for a, b in zip(total, self._subtree_amounts(kid, amounts, width))]
        return total

    def _report_rows(self, customers: list[_Customer], amounts, width) -> list[dict]:
        """Data rows per customer; a parent with owing sub-customers becomes a Section holding its
        own row (if it owes anything itself) and its sub-customers' rows."""
        rows = []
        for customer in customers:
            subtree = self._subtree_amounts(customer, amounts, width)
            if not any(subtree):
                continue
            name_cell = {"value": customer.name, "id": customer.id}
            own = [{"ColData": [name_cell] + _data_cells(amounts[customer.id]), "type": "Data"}] \
                if customer.id in amounts else []
            kid_rows = self._report_rows(self._children(customer.id), amounts, width)
            if not kid_rows:
                rows += own
                continue
            rows.append({"Header": {"ColData": [name_cell] + [{"value": ""}] * width},
                         "Rows": {"Row": own + kid_rows},
                         "Summary": {"ColData": [{"value": f"Total {customer.name}"}] + _total_cells(subtree)},
                         "type": "Section"})
        return rows


def _bucket_titles(aging_period: int, num_periods: int) -> list[str]:
    titles = [f"{i * aging_period + 1} - {(i + 1) * aging_period}" for i in range(num_periods - 1)]
    return titles + [f"{(num_periods - 1) * aging_period + 1} and over"]


def _data_cells(values: list[Decimal]) -> list[dict]:
    """A customer's bucket cells leave zeros empty; its Total cell is always written."""
    *buckets, total = values
    return [{"value": f"{v:.2f}" if v else ""} for v in buckets] + [{"value": f"{total:.2f}"}]


def _total_cells(values: list[Decimal]) -> list[dict]:
    return [{"value": f"{v:.2f}"} for v in values]


# --------------------------------------------------------------------------------------------
# The query language subset
# --------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"""\s*(?:
      (?P<string>'(?:\\.|''|[^'\\])*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<symbol><=|>=|!=|<>|[=<>(),*])
    | (?P<word>[A-Za-z_][\w.]*)
    )""", re.X)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_COMPARISONS = {"=": lambda c: c == 0, "!=": lambda c: c != 0, "<>": lambda c: c != 0, "<": lambda c: c < 0,
                ">": lambda c: c > 0, "<=": lambda c: c <= 0, ">=": lambda c: c >= 0}


@dataclass
class _Condition:
    field: str
    op: str
    values: list


@dataclass
class _Query:
    entity: str
    count: bool = False
    conditions: list[_Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)   # (field, descending)
    start: int = 1
    max_results: int = DEFAULT_PAGE


def _entity_name(name: str) -> str:
    for entity in ENTITIES:
        if entity.lower() == name.lower():
            return entity
    raise _QboFault(400, 4001, "Invalid query", f"QueryValidationError: Invalid entity {name!r}")


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position, text = [], 0, text.strip()
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if not match:
            raise _parse_error(f'Encountered " {text[position:position + 10]!r}" at column {position + 1}')
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _QueryParser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self, offset=0) -> tuple[str, str] | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _parse_error("Encountered \"<EOF>\"")
        self.position += 1
        return token

    def at_word(self, *words) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].upper() in words

    def expect(self, value: str):
        kind, text = self.take()
        if text.upper() != value:
            raise _parse_error(f'Encountered "{text}", was expecting "{value}"')

    def parse(self) -> _Query:
        self.expect("SELECT")
        count = self.peek() and self.peek()[1].upper() == "COUNT"
        for expected in (["COUNT", "(", "*", ")"] if count else ["*"]):
            self.expect(expected)
        self.expect("FROM")
        query = _Query(entity=_entity_name(self.take()[1]), count=bool(count))
        if self.at_word("WHERE"):
            self.take()
            query.conditions = self._conditions()
        self._tail(query)
        return query

    def _conditions(self) -> list[_Condition]:
        conditions = [self._condition()]
        while self.at_word("AND"):
            self.take()
            conditions.append(self._condition())
        return conditions

    def _condition(self) -> _Condition:
        kind, name = self.take()
        if kind != "word":
            raise _parse_error(f'Encountered "{name}", was expecting a property name')
        if self.at_word("IN"):
            self.take()
            self.expect("(")
            values = [self._literal()]
            while self.peek() and self.peek()[1] == ",":
                self.take()
                values.append(self._literal())
            self.expect(")")
            return _Condition(name, "IN", values)
        if self.at_word("LIKE"):
            self.take()
            return _Condition(name, "LIKE", [self._literal()])
        kind, op = self.take()
        if op not in _COMPARISONS:
            raise _parse_error(f'Encountered "{op}", was expecting an operator')
        return _Condition(name, op, [self._literal()])

    def _literal(self):
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("\\'", "'").replace("''", "'").replace("\\\\", "\\")
        if kind == "number":
            return Decimal(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise _parse_error(f'Encountered "{text}", was expecting a value')

    def _tail(self, query: _Query):
        while self.peek() is not None:
            if self.at_word("ORDERBY") or (self.at_word("ORDER") and self.peek(1) and self.peek(1)[1].upper() == "BY"):
                self.position += 1 if self.at_word("ORDERBY") else 2
                query.order = self._order()
            elif self.at_word("STARTPOSITION"):
                self.take()
                query.start = max(1, self._integer())
            elif self.at_word("MAXRESULTS"):
                self.take()
                query.max_results = self._integer()
            else:
                raise _parse_error(f'Encountered "{self.peek()[1]}"')

    def _order(self) -> list[tuple[str, bool]]:
        order = []
        while True:
            name = self.take()[1]
            descending = False
            if self.at_word("ASC", "DESC"):
                descending = self.take()[1].upper() == "DESC"
            order.append((name, descending))
            if not (self.peek() and self.peek()[1] == ","):
                return order
            self.take()

    def _integer(self) -> int:
        kind, text = self.take()
        if kind != "number" or not text.lstrip("-").isdigit():
            raise _parse_error(f'Encountered "{text}", was expecting an integer')
        return int(text)


def _lookup(row: dict, dotted: str):
    value = row
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        key = next((k for k in value if k.lower() == part.lower()), None)
        value = value.get(key) if key else None
    return value.get("value") if isinstance(value, dict) else value


def _instant(text: str) -> datetime | None:
    if not isinstance(text, str) or not _DATE_RE.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text) if len(text) > 10 else datetime.combine(date.fromisoformat(text), time())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=COMPANY_TZ)


def _comparable(value, literal):
    """Both sides as one comparable type: QBO compares dates as instants and Ids as numbers."""
    if isinstance(value, bool):
        return value, literal if isinstance(literal, bool) else str(literal).lower() == "true"
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value)), Decimal(str(literal))
    if isinstance(literal, bool):
        return value.lower() == "true", literal
    text = str(literal)
    if _instant(value) and _instant(text):
        return _instant(value), _instant(text)
    if value.isdigit() and text.isdigit():
        return int(value), int(text)
    return value.casefold(), text.casefold()


def _compare(value, literal) -> int:
    left, right = _comparable(value, literal)
    return (left > right) - (left < right)


def _matches(row: dict, condition: _Condition) -> bool:
    value = _lookup(row, condition.field)
    if value is None:
        return False
    try:
        if condition.op == "IN":
            return any(_compare(value, literal) == 0 for literal in condition.values)
        if condition.op == "LIKE":
            pattern = ".*".join(re.escape(part) for part in str(condition.values[0]).split("%"))
            return re.fullmatch(pattern, str(value), re.IGNORECASE | re.DOTALL) is not None
        return _COMPARISONS[condition.op](_compare(value, condition.values[0]))
    except (ArithmeticError, ValueError, TypeError):
        return False


def _sort_key(value):
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float, Decimal)) or (isinstance(value, str) and value.isdigit()):
        return (2, Decimal(str(value)))
    if _instant(value):
        return (3, _instant(value))
    return (4, str(value).casefold())


def _run_query(query: _Query, rows: list[dict]) -> list[dict]:
    source = (lambda row: row["Invoice"]) if query.entity == "RecurringTransaction" else (lambda row: row)
    conditions = list(query.conditions)
    if query.entity == "Customer" and not any(c.field.lower() == "active" for c in conditions):
        conditions.append(_Condition("Active", "=", [True]))
    rows = [row for row in rows if all(_matches(source(row), c) for c in conditions)]
    for name, descending in reversed(query.order or [("Id", False)]):
        rows.sort(key=lambda row: _sort_key(_lookup(source(row), name)), reverse=descending)
    return rows


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------

@dataclass
class _Request:
    method: str
    path: str
    params: dict[str, str]
    body: str
    headers: Message


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    cut: str | None = None   # "truncated" | "reset": how to damage the body on the wire


@dataclass
class _ScriptedFault:
    endpoint: str
    kind: str
    times: int
    options: dict


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as requests' sessions expect
    timeout = 10                    # idle keep-alive connections must not pin threads forever

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without this, Nagle plus delayed ACK adds 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def log_message(self, format, *args):
        pass

    def _serve(self, method: str):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        params = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            response = self.server.qbo._serve(_Request(method, url.path, params, body, self.headers))
        except Exception as error:  # a bug in this server should fail the test loudly, not hang it
            response = _Response(500, f"test server error: {error!r}".encode(), "text/plain")
        self._write(response)

    def _write(self, response: _Response):
        body = response.body[: len(response.body) // 2] if response.cut else response.body
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        # A reset announces the whole body, then dies half way through it.
        self.send_header("Content-Length", str(len(response.body if response.cut == "reset" else body)))
        self.send_header("intuit_tid", "test-server")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        if response.cut == "reset":
            self._abort()

    def _abort(self):
        # Linger 0 turns close() into a TCP RST instead of an orderly FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False   # stop() must not wait for stalled or idle keep-alive handlers

    def __init__(self, qbo: "QuickBooksServer"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.qbo = qbo


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

class QuickBooksServer(_Ledger):
    """QBO + Intuit OAuth on 127.0.0.1 at an ephemeral port; use as a context manager or start()/stop().

    Point the clients at it with::

        auth = AuthClient(server.client_id, server.client_secret, server.redirect_uri,
                          environment=server.discovery_url)
        qb = QuickBooks(auth_client=auth, refresh_token=server.current_refresh_token,
                        company_id=server.realm_id, minorversion=75, use_decimal=True)
        qb.api_url_v3 = server.api_base        # with OAUTHLIB_INSECURE_TRANSPORT=1 in os.environ
    """

    cdc_limit = 1000

    def __init__(self, realm_id: str = "9130357992", client_id="test-client", client_secret="test-secret",
                 refresh_token="rt-0", now: datetime | None = None, *,
                 redirect_uri="http://localhost:8000/callback"):
        super().__init__(now)
        self.realm_id, self.client_id, self.client_secret = realm_id, client_id, client_secret
        self.redirect_uri = redirect_uri
        self.current_refresh_token = refresh_token
        self.access_token = "at-0"
        self.refreshes = 0
        self.requests: collections.Counter = collections.Counter()
        self.request_log: list[tuple[str, str, str]] = []   # (kind, method, path?query)
        self._token_sequence = 0
        self._access_expired = False
        self._revoked = False
        self._faults: list[_ScriptedFault] = []
        self._between_pages: Callable[[], None] | None = None
        self._stopping = threading.Event()
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.base_url = self.discovery_url = self.api_base = ""

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "QuickBooksServer":
        self._stopping.clear()
        self._http = _HTTPServer(self)
        self.port = self._http.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.discovery_url = self.base_url + "/.well-known/openid_configuration"
        self.api_base = self.base_url + "/v3"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="qbo-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()   # wakes stalled handlers
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._thread.join(timeout=5)
            self._http = self._thread = None

    def __enter__(self) -> "QuickBooksServer":
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # ---- test controls -----------------------------------------------------------------------------

    def expire_access_token(self):
        with self._lock:
            self._access_expired = True

    def fail_next(self, endpoint: str, fault: str, times: int = 1, **options):
        """Answer the next `times` requests to `endpoint` with `fault` (see the report for wire shapes).

        endpoint: "query" | "cdc" | "report" | "token" | "read" | "discovery" | "any" ("any" = the
        next data or token request, never discovery). Options: retry_after (429, 429-xml, 503),
        seconds (stall, default 5), code/message/detail/type (200-fault).
        """
        if endpoint not in ENDPOINT_KINDS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {ENDPOINT_KINDS}")
        if fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r}; use one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(_ScriptedFault(endpoint, fault, times, options))

    def insert_between_pages(self, callback: Callable[[], None]):
        """Run `callback` once, after the next SELECT page is computed and before it is sent."""
        with self._lock:
            self._between_pages = callback

    def _take_fault(self, kind: str) -> _ScriptedFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint == kind or (fault.endpoint == "any" and kind in _ANY_KINDS):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # ---- request flow --------------------------------------------------------------------------------

    def _serve(self, request: _Request) -> _Response:
        kind, action = self._route(request)
        with self._lock:
            self.requests[kind] += 1
            query = f"?{urlencode(request.params)}" if request.params else ""
            self.request_log.append((kind, request.method, request.path + query))
        fault = self._take_fault(kind)
        if fault and fault.kind == "stall":
            self._stopping.wait(fault.options.get("seconds", 5))
            fault = None
        if fault and fault.kind not in ("truncated", "reset"):
            return self._scripted_response(fault)
        response = action(request)
        response.cut = fault.kind if fault else None
        return response

    def _route(self, request: _Request) -> tuple[str, Callable[[_Request], _Response]]:
        path = request.path.rstrip("/")
        fixed = {
            "/.well-known/openid_configuration": ("discovery", self._discovery),
            "/oauth2/v1/tokens/bearer": ("token", self._token),
            "/oauth2/v1/tokens/revoke": ("revoke", self._revoke),
            "/connect/oauth2": ("authorize", self._authorize),
            "/v1/openid_connect/userinfo": ("userinfo", self._userinfo),
            "/op/v1/jwks": ("jwks", lambda r: self._json(200, {"keys": []})),
        }
        if path in fixed:
            return fixed[path]
        match = re.fullmatch(r"/v3/company/([^/]+)/(.+)", path)
        if match:
            realm, rest = match.groups()
            for kind, pattern, handler in (("query", r"query", self._query),
                                           ("cdc", r"cdc", self._cdc),
                                           ("report", r"reports/(\w+)", self._report),
                                           ("read", r"(\w+)/(\d+)", self._read)):
                found = re.fullmatch(pattern, rest)
                if found:
                    return kind, lambda r, h=handler, g=found.groups(): self._data(r, realm, h, *g)
        return "other", lambda r: _Response(404, b"<html><body>Not Found</body></html>", "text/html")

    # ---- responses ---------------------------------------------------------------------------------

    def _time(self) -> str:
        return self.now.astimezone(COMPANY_TZ).isoformat(timespec="milliseconds")

    def _json(self, status: int, payload, headers=None) -> _Response:
        return _Response(status, _dump(payload), headers=headers or {})

    def _fault(self, fault: _QboFault) -> _Response:
        error = {"Message": fault.message, "Detail": fault.detail, "code": fault.code, "element": ""}
        return self._json(fault.status, {"Fault": {"Error": [error], "type": fault.kind}, "time": self._time()})

    def _unauthorized(self, detail: str) -> _Response:
        # QBO's 401 comes from its gateway: lower-case keys, and a pile of null siblings.
        error = {"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                 "detail": detail, "code": "3200", "element": None}
        body = {"warnings": None, "intuitObject": None, "fault": {"error": [error], "type": "AUTHENTICATION"},
                "report": None, "queryResponse": None, "batchItemResponse": [], "attachableResponse": [],
                "syncErrorResponse": None, "requestId": None, "time": int(self.now.timestamp() * 1000),
                "status": None, "cdcresponse": []}
        return self._json(401, body, {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'})

    def _scripted_response(self, fault: _ScriptedFault) -> _Response:
        options = fault.options
        retry = {"Retry-After": str(options["retry_after"])} if options.get("retry_after") is not None else {}
        if fault.kind == "401":
            return self._unauthorized("Token expired: scripted by the test")
        if fault.kind == "429":
            return self._fault_with_headers(_QboFault(429, 3001, "message=ThrottleExceeded; errorCode=003001; "
                                                      "statusCode=429", "The request limit was reached.",
                                                      "SERVICE"), retry)
        if fault.kind == "429-xml":
            return _Response(429, self._throttle_xml().encode(), "application/xml;charset=UTF-8", retry)
        if fault.kind == "503":
            page = ("<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
                    "<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>")
            return _Response(503, page.encode(), "text/html", retry)
        # "200-fault": a fault in a 200, as QBO sends for some server-side failures.
        return self._fault_with_headers(_QboFault(
            200, options.get("code", 10000),
            options.get("message", "An application error has occurred while processing your request"),
            options.get("detail", "System Failure Error: An unexpected error occurred while accessing or "
                                  "saving your data. Please wait a few minutes and try again."),
            options.get("type", "SystemFault")), {})

    def _fault_with_headers(self, fault: _QboFault, headers: dict) -> _Response:
        response = self._fault(fault)
        response.headers.update(headers)
        return response

    def _throttle_xml(self) -> str:
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{self._time()}">'
                '<Fault type="SERVICE"><Error code="3001">'
                "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
                "<Detail>The request limit was reached.</Detail></Error></Fault></IntuitResponse>")

    # ---- OAuth ------------------------------------------------------------------------------------------

    def _discovery(self, request: _Request) -> _Response:
        base = self.base_url
        return self._json(200, {
            "issuer": base, "authorization_endpoint": base + "/connect/oauth2",
            "token_endpoint": base + "/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": base + "/v1/openid_connect/userinfo",
            "revocation_endpoint": base + "/oauth2/v1/tokens/revoke", "jwks_uri": base + "/op/v1/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"]})

    def _client_authenticated(self, request: _Request) -> bool:
        scheme, _, encoded = (request.headers.get("Authorization") or "").partition(" ")
        try:
            decoded = base64.b64decode(encoded).decode()
        except ValueError:
            return False
        return scheme.lower() == "basic" and decoded == f"{self.client_id}:{self.client_secret}"

    def _token(self, request: _Request) -> _Response:
        if request.method != "POST" or not self._client_authenticated(request):
            return self._json(401, {"error": "invalid_client"})
        form = {key: values[-1] for key, values in parse_qs(request.body).items()}
        grant = form.get("grant_type")
        with self._lock:
            if grant == "refresh_token":
                if self._revoked or form.get("refresh_token") != self.current_refresh_token:
                    return self._json(400, {"error": "invalid_grant"})
                self.refreshes += 1
            elif grant == "authorization_code":
                if form.get("code") != "good-code" or form.get("redirect_uri") != self.redirect_uri:
                    return self._json(400, {"error": "invalid_grant"})
            else:
                return self._json(400, {"error": "unsupported_grant_type"})
            return self._json(200, self._issue_tokens())

    def _issue_tokens(self) -> dict:
        self._token_sequence += 1
        self.current_refresh_token = f"rt-{self._token_sequence}"
        self.access_token = f"at-{self._token_sequence}"
        self._access_expired = self._revoked = False
        return {"access_token": self.access_token, "refresh_token": self.current_refresh_token,
                "token_type": "bearer", "expires_in": 3600, "x_refresh_token_expires_in": 8726400}

    def _revoke(self, request: _Request) -> _Response:
        if not self._client_authenticated(request):
            return self._json(401, {"error": "invalid_client"})
        token = (json.loads(request.body or "{}") or {}).get("token")
        with self._lock:
            if token in (self.current_refresh_token, self.access_token):
                self._revoked = True
        return _Response(200, b"")

    def _authorize(self, request: _Request) -> _Response:
        """The consent page, already consented: redirect back with code "good-code"."""
        query = urlencode({"code": "good-code", "state": request.params.get("state", ""), "realmId": self.realm_id})
        target = request.params.get("redirect_uri", self.redirect_uri)
        return _Response(302, b"", "text/plain", {"Location": f"{target}?{query}"})

    def _bearer_problem(self, request: _Request) -> str | None:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token != self.access_token or self._revoked:
            return "Token invalid"
        return "Token expired" if self._access_expired else None

    def _userinfo(self, request: _Request) -> _Response:
        problem = self._bearer_problem(request)
        if problem:
            return self._unauthorized(problem)
        return self._json(200, {"sub": "test-user", "email": "owner@example.com", "emailVerified": True})

    # ---- Accounting API ------------------------------------------------------------------------------

    def _data(self, request: _Request, realm: str, handler, *args) -> _Response:
        problem = self._bearer_problem(request)
        if problem:
            return self._unauthorized(f"{problem}: {request.headers.get('Authorization', '')[:20]}")
        try:
            if realm != self.realm_id:
                raise _QboFault(403, 3100, "message=ApplicationAuthorizationFailed; errorCode=003100; "
                                "statusCode=403", "", "AuthorizationFault")
            payload, after = handler(request, *args)
        except _QboFault as fault:
            return self._fault(fault)
        if after:
            after()
        return self._json(200, payload)

    def _query(self, request: _Request):
        text = request.body if request.method == "POST" else request.params.get("query", "")
        query = _QueryParser(text).parse()
        if query.max_results > MAX_PAGE:
            raise _QboFault(400, 4001, "Invalid query",
                            f"QueryValidationError: value {query.max_results} for MAXRESULTS exceeds the "
                            f"maximum of {MAX_PAGE}")
        with self._lock:
            rows = _run_query(query, self._render_all(query.entity))
            if query.count:
                return {"QueryResponse": {"totalCount": len(rows)}, "time": self._time()}, None
            page = rows[query.start - 1: query.start - 1 + query.max_results]
            after, self._between_pages = self._between_pages, None
        body = {"QueryResponse": {query.entity: page, "startPosition": query.start, "maxResults": len(page)}
                if page else {}, "time": self._time()}
        return body, after

    def _cdc(self, request: _Request):
        entities = [_entity_name(name.strip())
                    for name in request.params.get("entities", "").split(",") if name.strip()]
        if not entities:
            raise _QboFault(400, 2010, "Request has invalid or unsupported property",
                            "Property Name:entities specified is unsupported or invalid")
        since = _instant(request.params.get("changedSince", ""))
        if since is None:
            raise _QboFault(400, 2010, "Request has invalid or unsupported property",
                            "Property Name:changedSince specified is unsupported or invalid")
        if since < self.now - CDC_WINDOW:
            raise _QboFault(400, 10000, "An application error has occurred while processing your request",
                            f"Operation cdc with changedSince date {request.params['changedSince']} which is "
                            "older than fixed days is not supported.")
        with self._lock:
            blocks = []
            for entity in entities:
                changes = self._changes(entity, since, self.cdc_limit)
                block = {entity: changes} if changes else {}
                blocks.append({**block, "startPosition": 1, "maxResults": len(changes)})
        return {"CDCResponse": [{"QueryResponse": blocks}], "time": self._time()}, None

    def _report(self, request: _Request, name: str):
        if name != "AgedReceivables":
            raise _QboFault(400, 2010, "Request has invalid or unsupported property",
                            f"Report {name} is not supported by this test server")
        params = request.params
        try:
            report_date = date.fromisoformat(params["report_date"]) if params.get("report_date") \
                else self.now.astimezone(COMPANY_TZ).date()
            aging_period, num_periods = int(params.get("aging_period", 30)), int(params.get("num_periods", 4))
            if aging_period < 1 or num_periods < 1:
                raise ValueError("aging_period and num_periods must be positive")
        except ValueError as error:
            raise _QboFault(400, 2010, "Request has invalid or unsupported property", str(error)) from None
        with self._lock:
            report = self._aged_receivables(report_date, aging_period, num_periods,
                                            params.get("aging_method", "Report_Date"))
        return report, None

    def _read(self, request: _Request, entity_path: str, record_id: str):
        entity = next((e for e in ENTITIES if e.lower() == entity_path.lower()), None)
        with self._lock:
            record = self._records.get(entity, {}).get(record_id) if entity else None
            if record is None:
                raise _QboFault(400, 610, "Object Not Found",
                                f"Object Not Found : Something you're trying to use has been made inactive "
                                f"or deleted ({entity_path} {record_id})")
            return {entity: self._render(entity, record, self._applications()), "time": self._time()}, None
