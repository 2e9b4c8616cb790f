"""A QuickBooks Online look-alike on 127.0.0.1 for the connector's tests.

It imitates, on the wire, the parts of Intuit's services the A/R connector uses, closely enough
that the real `intuitlib.client.AuthClient` and `quickbooks.QuickBooks` clients talk to it
unchanged (see /work/shared/spec/quickbooks.md). The shapes it serves, and the Intuit documents
and samples each follows, are in tests/fixtures/quickbooks/NOTES.md (cited below by section, §n).

* OAuth 2.0: the OpenID discovery document, the token endpoint (HTTP Basic client auth,
  `refresh_token` and `authorization_code` grants, refresh tokens that rotate on every refresh
  with the previous one answering 400 `invalid_grant`), revocation, userinfo, an empty JWKS.
  Token responses never carry an `id_token`, so intuitlib never fetches keys.
* Accounting API v3 under `/v3/company/{realm}`: `query` (POST text body or GET `?query=`),
  `cdc`, `reports/AgedReceivables`, single-object reads (`/invoice/{id}`, ...), `/preferences`
  and `/companyinfo/{realm}`.
* A consistent A/R ledger: customers (with sub-customers), terms, payment methods, accounts,
  invoices (with deposits), payments, credit memos, journal entries, deposits, purchases
  (cheques, expenses, credit-card credits), refund receipts, recurring invoice templates,
  CompanyInfo and Preferences. Every A/R posting (an invoice, a credit memo, a journal-entry,
  deposit or purchase line on an A/R account with a customer) is an "item" that Payment lines
  link (§1); balances are derived from those links on every read, so they cannot drift. Every
  change to a record (including a change of its balance by a payment) bumps its `SyncToken` and
  its `MetaData.LastUpdatedTime` to the server clock `now`.
* Scripted faults per request (`fail_next`) and a per-endpoint count of every request, faulted
  or not (`requests`).

Reads are linear in the size of the books: the links are indexed as they are written, and each
ledger version renders a record, a customer's balance or a query's row list at most once, so a
sync that pages through 50,000 invoices costs one render per invoice.

Choices where QuickBooks' behaviour is undocumented or where a test server must pick one:

* Timestamps are rendered in the company's time zone (America/Los_Angeles), like QBO, so
  clients must honour UTC offsets.
* A wrong realm answers 403 with fault code 3100 (`ApplicationAuthorizationFailed`,
  `AuthorizationFault`), which python-quickbooks raises as `ValidationException` (its code
  ranges put 3100 there). Authentication is checked before the realm, as QBO does.
* Only the current access token is accepted (QBO would accept an older unexpired one), so a
  client that forgets to hand a refreshed token to its session gets 401 at once. A refresh
  token is refused as soon as it has been rotated (§12).
* `changedSince` older than 30 days answers 400 with a `ValidationFault`, code 10000 and the
  detail QBO has been seen to send ("... which is older than fixed days is not supported").
* CDC answers at most `cdc_limit` (1,000) objects in all (§10): the changes of every requested
  entity are ordered by `LastUpdatedTime`, then entity (in request order), then Id; the oldest
  1,000 are answered, each in its entity's block, and nothing says the answer was cut.
* The AgedReceivables report (§11) ages an invoice by its due date (by its date when
  `Preferences.ReportPrefs.CalcAgingReportFromTxnDate`), and journal-entry and purchase charges
  by their date. Credits (unapplied payments, unused credit memos, journal-entry, deposit and
  credit-card-credit lines on A/R) are negative amounts on the customer: in the column of their own
  date when `credit_aging="date"` (the default: what third parties and issue 10's probe report
  QBO does), or in the Current column when `credit_aging="current"`.
  `aging_method=Report_Date` counts only applications dated on or before the report date;
  `Current` counts every application (Intuit community article 1614518).
* A customer's `Balance` is live, but a customer's `LastUpdatedTime` moves only when the
  customer itself is edited, not when its transactions change.
* Voiding or deleting a transaction that payments link unlinks it: a payment with money loses
  just those lines (its `UnappliedAmt` grows) unless that would leave it applying more than it
  holds, in which case it loses all its lines; a pure application (TotalAmt 0) loses all its
  lines, which returns every credit it used (§7).
* An invoice's `Balance` is `TotalAmt - Deposit - applications` (§3).
* A Payment line linking a Deposit carries `TxnLineId` (API reference: "Required for Deposit");
  one linking a JournalEntry does not, and a journal entry holds at most one A/R line per customer
  so the link is unambiguous (§1, §4). A Deposit shows no LinkedTxn for the payments that apply it
  (its `Line.LinkedTxn` means deposited funds); invoices, credit memos, journal entries and
  purchases list the payments that link them.
* Deleting a customer makes it inactive and appends " (deleted)" to its name (§8). Merging one
  customer into another re-points all its transactions (each touched), touches the survivor and
  shows the merged customer in CDC as a Deleted stub (§8, unverified).
* A credit-card credit (Purchase with `Credit: true`) on A/R is a credit, a cheque or cash
  expense on A/R a charge (double entry; §1, §5). RefundReceipts never touch A/R (§6).
* Only the A/R account carries `CurrentBalance` (the home-currency sum of its open items).
"""

from __future__ import annotations

import base64
import collections
import functools
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
from time import monotonic, sleep
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

HOME_CURRENCY = "USD"
COMPANY_TZ = ZoneInfo("America/Los_Angeles")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_PAGE = 1000
DEFAULT_PAGE = 100
CDC_WINDOW = timedelta(days=30)
ENTITIES = ("Customer", "Invoice", "Payment", "CreditMemo", "Term", "PaymentMethod", "RecurringTransaction",
            "JournalEntry", "Deposit", "Purchase", "RefundReceipt", "Account", "CompanyInfo", "Preferences")
TRANSACTIONS = ("Invoice", "Payment", "CreditMemo", "RecurringTransaction", "JournalEntry", "Deposit", "Purchase",
                "RefundReceipt")
# Transactions that post to A/R, in the order the ledger walks them.
AR_ENTITIES = ("Invoice", "CreditMemo", "JournalEntry", "Deposit", "Purchase")
CURRENCY_NAMES = {"USD": "United States Dollar", "CAD": "Canadian Dollar", "EUR": "Euro",
                  "GBP": "British Pound Sterling", "AUD": "Australian Dollar"}
ENDPOINT_KINDS = ("query", "cdc", "report", "token", "read", "discovery", "any")
_ANY_KINDS = ("query", "cdc", "report", "read", "token")
# The server's clock when a test gives none: 09:00 in the company's time zone on 2026-11-25.
DEFAULT_NOW = datetime(2026, 11, 25, 17, 0, tzinfo=timezone.utc)
FAULT_KINDS = ("401", "429", "429-xml", "503", "200-fault", "truncated", "reset", "stall")

# Accounts every company starts with, under the Ids Intuit's sample company uses for them.
UNDEPOSITED_FUNDS, CHECKING, CREDIT_CARD, SALES_INCOME, ACCOUNTS_RECEIVABLE = "4", "35", "41", "79", "84"
_DEFAULT_ACCOUNTS = (
    (UNDEPOSITED_FUNDS, "Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    (CHECKING, "Checking", "Bank", "Checking"),
    (CREDIT_CARD, "Mastercard", "Credit Card", "CreditCard"),
    (SALES_INCOME, "Services", "Income", "ServiceFeeIncome"),
    (ACCOUNTS_RECEIVABLE, "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
)
_CLASSIFICATIONS = {"Bank": "Asset", "Other Current Asset": "Asset", "Accounts Receivable": "Asset",
                    "Fixed Asset": "Asset", "Other Asset": "Asset", "Credit Card": "Liability",
                    "Accounts Payable": "Liability", "Other Current Liability": "Liability",
                    "Long Term Liability": "Liability", "Equity": "Equity", "Income": "Revenue",
                    "Other Income": "Revenue", "Expense": "Expense", "Other Expense": "Expense",
                    "Cost of Goods Sold": "Expense"}
# Payment.Line.LinkedTxn.TxnType -> the entity it names (API reference, Payment; §1).
_LINK_ENTITIES = {"Invoice": "Invoice", "CreditMemo": "CreditMemo", "JournalEntry": "JournalEntry",
                  "Deposit": "Deposit", "Check": "Purchase", "Expense": "Purchase", "CreditCardCredit": "Purchase"}
_PAYMENT_TYPES = {"Check": "Check", "Expense": "Cash", "CreditCardCredit": "CreditCard"}


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@functools.lru_cache(maxsize=4096)   # records written at one clock tick share their stamps
def _stamp(moment: datetime) -> str:
    return moment.astimezone(COMPANY_TZ).isoformat(timespec="seconds")


def _dump(payload) -> bytes:
    # QBO sends money as JSON numbers; float's shortest repr keeps two-decimal amounts exact.
    return json.dumps(payload, default=lambda o: float(o) if isinstance(o, Decimal) else str(o)).encode()


def _optional_id(value) -> str | None:
    return None if value is None else str(value)


def _voided_note(note: str | None) -> str:
    # "the string, Voided, is injected into PrivateNote, prepended to existing text if present" (§7)
    return "Voided" + (f" - {note}" if note else "")


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
class _Account:
    id: str
    name: str
    account_type: str
    sub_type: str | None
    active: bool
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
    deposit: Decimal = ZERO
    deposit_account_id: str | None = None


@dataclass
class _Line:
    amount: Decimal
    links: list[tuple[str, str, str | None]]  # (TxnId, TxnType, TxnLineId) as the wire shows them
    keys: list[tuple[str, str, str | None]]   # the A/R item each link applies to: (entity, Id, line Id)
    open_balance: Decimal | None = None       # the linked invoice's balance before this line (LineEx)
    reference: str | None = None              # the linked invoice's DocNumber (LineEx)


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
    private_note: str | None = None
    voided: bool = False


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
    private_note: str | None = None
    voided: bool = False


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


@dataclass
class _JournalLine:
    id: str
    posting: str          # "Debit" | "Credit"
    account_id: str
    amount: Decimal
    customer_id: str | None


@dataclass
class _JournalEntry:
    id: str
    txn_date: date
    doc_number: str
    lines: list[_JournalLine]
    currency: str
    exchange_rate: Decimal
    private_note: str | None
    adjustment: bool
    meta: _Meta


@dataclass
class _AccountLine:
    """A Deposit or Purchase line: an amount posted to an account, for a customer or not."""
    id: str
    amount: Decimal
    account_id: str
    customer_id: str | None


@dataclass
class _Deposit:
    id: str
    txn_date: date
    lines: list[_AccountLine]
    account_id: str
    currency: str
    exchange_rate: Decimal
    private_note: str | None
    meta: _Meta


@dataclass
class _Purchase:
    id: str
    txn_date: date
    payment_type: str     # "Cash" | "Check" | "CreditCard"
    credit: bool          # a credit-card credit
    account_id: str       # the bank or card account paid from (or credited back)
    payee_id: str | None
    lines: list[_AccountLine]
    currency: str
    exchange_rate: Decimal
    private_note: str | None
    doc_number: str | None
    meta: _Meta

    @property
    def link_type(self) -> str:
        """The TxnType a Payment line uses for it (API reference, Payment: §1)."""
        if self.credit:
            return "CreditCardCredit"
        return "Check" if self.payment_type == "Check" else "Expense"


@dataclass
class _RefundReceipt:
    id: str
    customer_id: str
    txn_date: date
    total: Decimal
    doc_number: str
    account_id: str
    method_id: str | None
    currency: str
    exchange_rate: Decimal
    meta: _Meta


@dataclass
class _CompanyInfo:
    id: str
    name: str
    country: str
    start_date: date
    meta: _Meta


@dataclass
class _Preferences:
    id: str
    home_currency: str
    multicurrency: bool
    aging_from_txn_date: bool
    meta: _Meta


@dataclass(frozen=True)
class _Item:
    """One posting to A/R for a customer: what Payment lines apply money to or take credit from."""
    key: tuple[str, str, str | None]   # (entity, Id, line Id)
    customer_id: str
    sign: int                          # +1 a charge (debit A/R), -1 a credit
    amount: Decimal                    # what it posts, positive
    txn_date: date
    due_date: date                     # what an aging report ages it by
    rate: Decimal
    account_id: str


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
    credit_aging = "date"

    def __init__(self, now: datetime | None, *, home_currency: str = HOME_CURRENCY, multicurrency: bool = True,
                 company_name: str = "Test MSP", country: str = "US", credit_aging: str | None = None):
        self._lock = threading.RLock()
        self.now = now or DEFAULT_NOW
        self._records: dict[str, dict[str, Any]] = {entity: {} for entity in ENTITIES}
        self._deleted: list[tuple[str, str, datetime]] = []
        self._sequences = collections.Counter({"Account": 100})
        self._doc_numbers = collections.Counter()
        # Who applies what: A/R item key -> [(payment, amount)], and (entity, Id) -> {payment Id: payment}.
        self._applied: dict[tuple, list[tuple[_Payment, Decimal]]] = collections.defaultdict(list)
        self._linked: dict[tuple[str, str], dict[str, _Payment]] = collections.defaultdict(dict)
        self._version = 0
        self._cache: dict[Any, Any] = {}
        self._cache_version = -1
        if credit_aging is not None:
            if credit_aging not in ("current", "date"):
                raise ValueError("credit_aging is 'current' or 'date'")
            self.credit_aging = credit_aging
        for account_id, name, account_type, sub_type in _DEFAULT_ACCOUNTS:
            self._store("Account", _Account(account_id, name, account_type, sub_type, True, self._meta()))
        self._store("CompanyInfo", _CompanyInfo("1", company_name, country, date(2024, 1, 1), self._meta()))
        self._store("Preferences", _Preferences("1", home_currency, multicurrency, False, self._meta()))

    @property
    def now(self) -> datetime:
        return self._now

    @now.setter
    def now(self, value: datetime):
        self._now = value if value.tzinfo else value.replace(tzinfo=timezone.utc)

    @property
    def home_currency(self) -> str:
        return self._records["Preferences"]["1"].home_currency

    # ---- ids, metadata, versions ---------------------------------------------------------

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

    def _changed(self):
        self._version += 1

    def _cached(self, key, compute: Callable[[], Any]):
        """`compute()` once per ledger version: every write bumps the version."""
        if self._cache_version != self._version:
            self._cache.clear()
            self._cache_version = self._version
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = compute()
            return value

    def _touch(self, record):
        record.meta.sync_token += 1
        record.meta.updated = self.now
        self._changed()

    def _get(self, entity: str, record_id):
        try:
            return self._records[entity][str(record_id)]
        except KeyError:
            raise KeyError(f"no {entity} with Id {record_id}") from None

    def _store(self, entity: str, record) -> str:
        self._records[entity][record.id] = record
        self._changed()
        return record.id

    def _currency(self, currency: str | None) -> str:
        return currency or self.home_currency

    # ---- lists -----------------------------------------------------------------------------

    def add_customer(self, name, *, parent_id=None, currency=None, active=True, email=None, terms_id=None) -> str:
        with self._lock:
            if parent_id is not None:
                self._get("Customer", parent_id)
            customer = _Customer(self._new_id("Customer"), name, _optional_id(parent_id), self._currency(currency),
                                 active, email, _optional_id(terms_id), self._meta())
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

    def delete_customer(self, customer_id):
        """Delete a customer the way QBO does: it becomes inactive and " (deleted)" is appended to
        its name; it keeps its transactions and whatever it owes (§8)."""
        with self._lock:
            customer = self._get("Customer", customer_id)
            customer.active, customer.name = False, f"{customer.name} (deleted)"
            self._touch(customer)

    def merge_customers(self, merged_id, into_id):
        """Merge customer `merged_id` into `into_id`: every transaction of the merged customer moves
        to the survivor (each touched), the survivor is touched, the merged customer is gone and CDC
        shows it as a Deleted stub (§8)."""
        with self._lock:
            merged, into = self._get("Customer", merged_id), self._get("Customer", into_id)
            if merged.id == into.id or merged.currency != into.currency:
                raise ValueError("merge two different customers of the same currency")
            if any(c.parent_id == merged.id for c in self._records["Customer"].values()):
                raise ValueError(f"customer {merged.id} has sub-customers; move them first")
            for journal in self._records["JournalEntry"].values():
                owners = [line.customer_id for line in journal.lines if self._is_ar(line.account_id)]
                if merged.id in owners and into.id in owners:
                    raise ValueError(f"journal entry {journal.id} has A/R lines for both customers")
            for entity in ("Invoice", "Payment", "CreditMemo", "RecurringTransaction", "RefundReceipt"):
                for record in self._records[entity].values():
                    if record.customer_id == merged.id:
                        record.customer_id = into.id
                        self._touch(record)
            for entity in ("JournalEntry", "Deposit", "Purchase"):
                for record in self._records[entity].values():
                    moved = False
                    for line in record.lines:
                        if line.customer_id == merged.id:
                            line.customer_id, moved = into.id, True
                    if entity == "Purchase" and record.payee_id == merged.id:
                        record.payee_id, moved = into.id, True
                    if moved:
                        self._touch(record)
            del self._records["Customer"][merged.id]
            self._deleted.append(("Customer", merged.id, self.now))
            self._touch(into)

    def add_term(self, name, due_days) -> str:
        with self._lock:
            return self._store("Term", _Term(self._new_id("Term"), name, int(due_days), self._meta()))

    def add_payment_method(self, name, type="NON_CREDIT_CARD") -> str:
        with self._lock:
            method = _PaymentMethod(self._new_id("PaymentMethod"), name, type, self._meta())
            return self._store("PaymentMethod", method)

    def add_account(self, name, account_type, sub_type=None, *, active=True) -> str:
        """A chart-of-accounts entry, e.g. add_account("Bad debts", "Expense", "BadDebts"), or a second
        A/R account: add_account("A/R - Projects", "Accounts Receivable", "AccountsReceivable")."""
        if account_type not in _CLASSIFICATIONS:
            raise ValueError(f"unknown AccountType {account_type!r}; use one of {sorted(_CLASSIFICATIONS)}")
        with self._lock:
            return self._store("Account", _Account(self._new_id("Account"), name, account_type, sub_type, active,
                                                   self._meta()))

    def _is_ar(self, account_id: str | None) -> bool:
        account = self._records["Account"].get(account_id)
        return account is not None and account.account_type == "Accounts Receivable"

    # ---- company settings --------------------------------------------------------------------

    def set_preferences(self, *, home_currency=None, multicurrency=None, aging_from_txn_date=None):
        """Change Preferences.CurrencyPrefs (HomeCurrency, MultiCurrencyEnabled) or
        ReportPrefs.CalcAgingReportFromTxnDate (§9); bumps the Preferences' SyncToken."""
        with self._lock:
            preferences = self._records["Preferences"]["1"]
            for name, value in (("home_currency", home_currency), ("multicurrency", multicurrency),
                                ("aging_from_txn_date", aging_from_txn_date)):
                if value is not None:
                    setattr(preferences, name, value)
            self._touch(preferences)

    def edit_company(self, *, name=None, country=None):
        with self._lock:
            company = self._records["CompanyInfo"]["1"]
            company.name, company.country = name or company.name, country or company.country
            self._touch(company)

    # ---- invoices ----------------------------------------------------------------------------

    def add_invoice(self, customer_id, txn_date, total, *, due_date=None, doc_number=None, currency=None,
                    exchange_rate="1", term_id=None, recurring_template_id=None, private_note=None,
                    deposit=None, deposit_account_id=CHECKING) -> str:
        """An invoice; `deposit` is money taken on the invoice itself (Invoice.Deposit, §3), which
        leaves Balance = total - deposit."""
        with self._lock:
            customer = self._get("Customer", customer_id)
            txn_date = _as_date(txn_date)
            term_id = str(term_id) if term_id is not None else customer.terms_id
            deposit = _money(deposit or 0)
            if not ZERO <= deposit <= _money(total):
                raise ValueError("an invoice deposit is between 0 and the invoice total")
            invoice = _Invoice(
                id=self._new_id("Invoice"), customer_id=customer.id, txn_date=txn_date, total=_money(total),
                due_date=_as_date(due_date) if due_date else self._due_date(txn_date, term_id),
                doc_number=doc_number or self._new_doc_number("Invoice"), currency=self._currency(currency),
                exchange_rate=Decimal(str(exchange_rate)), term_id=term_id,
                template_id=_optional_id(recurring_template_id), private_note=private_note, meta=self._meta(),
                deposit=deposit, deposit_account_id=str(deposit_account_id) if deposit else None)
            return self._store("Invoice", invoice)

    def add_invoices(self, customer_id, rows, **common) -> list[str]:
        """Many invoices for one customer in one call: `rows` yields (txn_date, total) pairs or dicts
        of add_invoice's arguments; `common` holds arguments they share."""
        with self._lock:
            return [self.add_invoice(customer_id, **{**common, **row}) if isinstance(row, dict)
                    else self.add_invoice(customer_id, row[0], row[1], **common) for row in rows]

    def _due_date(self, txn_date: date, term_id: str | None) -> date:
        if term_id is None:
            return txn_date
        return txn_date + timedelta(days=self._get("Term", term_id).due_days)

    def edit_invoice(self, invoice_id, **fields):
        """Change total, deposit, due_date, doc_number, txn_date, private_note, exchange_rate or term_id."""
        converters = {"total": _money, "deposit": _money, "due_date": _as_date, "txn_date": _as_date,
                      "doc_number": str, "private_note": str, "exchange_rate": lambda v: Decimal(str(v)),
                      "term_id": _optional_id}
        unknown = set(fields) - set(converters)
        if unknown:
            raise TypeError(f"edit_invoice cannot change {sorted(unknown)}")
        changes = {key: converters[key](value) for key, value in fields.items()}
        with self._lock:
            invoice = self._get("Invoice", invoice_id)
            total, deposit = changes.get("total", invoice.total), changes.get("deposit", invoice.deposit)
            if total - deposit < self._applied_to(("Invoice", invoice.id, None)):
                raise ValueError("an invoice total cannot drop below what has been applied to it")
            if deposit < 0:
                raise ValueError("an invoice deposit cannot be negative")
            for key, value in changes.items():
                setattr(invoice, key, value)
            if invoice.deposit and invoice.deposit_account_id is None:
                invoice.deposit_account_id = CHECKING
            self._touch(invoice)

    def void_invoice(self, invoice_id):
        """Void as QBO does: amounts zeroed (deposit too), payments unlinked, "Voided" prepended (§7)."""
        with self._lock:
            invoice = self._get("Invoice", invoice_id)
            self._unlink("Invoice", invoice.id)
            invoice.voided, invoice.total, invoice.deposit = True, ZERO, ZERO
            invoice.private_note = _voided_note(invoice.private_note)
            self._touch(invoice)

    def delete_invoice(self, invoice_id):
        self._delete("Invoice", invoice_id)

    # ---- payments and credits ----------------------------------------------------------------------

    def add_payment(self, customer_id, txn_date, total, applied=None, *, method_id=None, currency=None,
                    exchange_rate="1", private_note=None) -> str:
        """A payment of `total`, with `applied` = {target: amount} where a target is an invoice Id or a
        (TxnType, Id) or (TxnType, Id, TxnLineId) tuple of any type a Payment line links (§1):
        Invoice, CreditMemo, JournalEntry, Deposit, Check, Expense, CreditCardCredit. Charges use the
        payment's money, credits add to it; what is left is UnappliedAmt, which cannot be negative.
        A TotalAmt of "0" with credits and charges is a pure application (e.g. a deposit or a journal
        entry credit paying invoices)."""
        with self._lock:
            customer = self._get("Customer", customer_id)
            lines = self._payment_lines(customer.id, applied or {})
            payment = _Payment(self._new_id("Payment"), customer.id, _as_date(txn_date), _money(total), lines,
                               _optional_id(method_id), self._currency(currency), Decimal(str(exchange_rate)),
                               self._meta(), private_note=private_note)
            self._check_unapplied(payment.total, lines)
            self._index(payment)
            self._touch_targets(payment.lines)
            return self._store("Payment", payment)

    def edit_payment(self, payment_id, *, total=None, applied=None, txn_date=None, private_note=None):
        """Re-apply, re-date or change the amount of a payment: `applied` replaces every line."""
        with self._lock:
            payment = self._get("Payment", payment_id)
            if payment.voided:
                raise ValueError(f"payment {payment.id} is voided")
            old_lines = payment.lines
            self._unindex(payment)
            try:
                lines = old_lines if applied is None else self._payment_lines(payment.customer_id, applied)
                new_total = payment.total if total is None else _money(total)
                self._check_unapplied(new_total, lines)
            except (ValueError, KeyError):
                self._index(payment)
                raise
            payment.lines, payment.total = lines, new_total
            payment.txn_date = payment.txn_date if txn_date is None else _as_date(txn_date)
            payment.private_note = payment.private_note if private_note is None else private_note
            self._index(payment)
            self._touch_targets(old_lines + lines)
            self._touch(payment)

    def void_payment(self, payment_id):
        """Void as QBO does: TotalAmt 0, every line cleared, "Voided" prepended to the note (§7)."""
        with self._lock:
            payment = self._get("Payment", payment_id)
            lines = payment.lines
            self._unindex(payment)
            payment.lines, payment.total, payment.voided = [], ZERO, True
            payment.private_note = _voided_note(payment.private_note)
            self._touch_targets(lines)
            self._touch(payment)

    def _payment_lines(self, customer_id: str, applied: dict) -> list[_Line]:
        lines = []
        for target, amount in applied.items():
            txn_type, txn_id, line_id = ("Invoice", str(target), None) if not isinstance(target, tuple) else \
                (target[0], str(target[1]), None if len(target) < 3 else str(target[2]))
            lines.append(self._link_line(customer_id, txn_type, txn_id, line_id, _money(amount)))
        return lines

    def _link_line(self, customer_id, txn_type, txn_id, line_id, amount: Decimal) -> _Line:
        item = self._resolve(customer_id, txn_type, txn_id, line_id)
        left = item.amount - self._applied_to(item.key)
        if amount > left:
            raise ValueError(f"cannot apply {amount} to {txn_type} {txn_id} with balance {left}")
        if txn_type == "Invoice":
            invoice = self._records["Invoice"][txn_id]
            return _Line(amount, [(txn_id, "Invoice", None)], [item.key], left, invoice.doc_number)
        # The API reference requires TxnLineId on Deposit links; other types go without (§1, §4).
        return _Line(amount, [(txn_id, txn_type, item.key[2] if txn_type == "Deposit" else None)], [item.key])

    def _resolve(self, customer_id: str, txn_type: str, txn_id: str, line_id: str | None = None) -> _Item:
        """The A/R item a Payment line of `customer_id` links: the transaction's A/R posting for
        that customer (the one line `line_id`, for a Deposit or JournalEntry with several)."""
        entity = _LINK_ENTITIES.get(txn_type)
        if entity is None:
            raise ValueError(f"a Payment line cannot link a {txn_type}; use one of {sorted(_LINK_ENTITIES)}")
        record = self._get(entity, txn_id)
        if entity == "Purchase" and record.link_type != txn_type:
            raise ValueError(f"purchase {txn_id} is linked as {record.link_type}, not {txn_type}")
        if getattr(record, "voided", False):
            raise ValueError(f"{txn_type} {txn_id} is voided")
        items = [item for item in self._items(entity, record)
                 if item.customer_id == customer_id and line_id in (None, item.key[2])]
        if len(items) != 1:
            raise ValueError(f"{txn_type} {txn_id} belongs to another customer or has no single A/R line "
                             f"for customer {customer_id}")
        return items[0]

    def _check_unapplied(self, total: Decimal, lines: list[_Line]):
        if self._unapplied_of(total, lines) < 0:
            raise ValueError("a payment cannot apply more than its total")

    def add_credit_memo(self, customer_id, txn_date, total, *, doc_number=None, currency=None,
                        exchange_rate="1", private_note=None) -> str:
        with self._lock:
            customer = self._get("Customer", customer_id)
            memo = _CreditMemo(self._new_id("CreditMemo"), customer.id, _as_date(txn_date), _money(total),
                               doc_number or self._new_doc_number("CreditMemo"), self._currency(currency),
                               Decimal(str(exchange_rate)), self._meta(), private_note=private_note)
            return self._store("CreditMemo", memo)

    def apply_credit_memo(self, credit_memo_id, invoice_id, amount, txn_date, *, single_line=False) -> str:
        """Apply credit as QBO does: a Payment with TotalAmt 0 linking the invoice and the memo."""
        with self._lock:
            memo = self._get("CreditMemo", credit_memo_id)
            amount = _money(amount)
            remaining = memo.total - self._applied_to(("CreditMemo", memo.id, None))
            if amount > remaining:
                raise ValueError(f"credit memo {memo.id} has only {remaining} left")
            invoice_line = self._link_line(memo.customer_id, "Invoice", str(invoice_id), None, amount)
            memo_line = self._link_line(memo.customer_id, "CreditMemo", memo.id, None, amount)
            if single_line:
                lines = [_Line(amount, invoice_line.links + memo_line.links, invoice_line.keys + memo_line.keys)]
            else:
                lines = [invoice_line, memo_line]
            payment = _Payment(self._new_id("Payment"), memo.customer_id, _as_date(txn_date), ZERO, lines, None,
                               memo.currency, memo.exchange_rate, self._meta())
            self._index(payment)
            self._touch_targets(payment.lines)
            return self._store("Payment", payment)

    def edit_credit_memo(self, credit_memo_id, *, total=None, txn_date=None, private_note=None):
        """Change a credit memo's total (not below what has been applied), date or note."""
        with self._lock:
            memo = self._get("CreditMemo", credit_memo_id)
            if total is not None:
                if _money(total) < self._applied_to(("CreditMemo", memo.id, None)):
                    raise ValueError("a credit memo total cannot drop below what has been applied from it")
                memo.total = _money(total)
            memo.txn_date = memo.txn_date if txn_date is None else _as_date(txn_date)
            memo.private_note = memo.private_note if private_note is None else private_note
            self._touch(memo)

    def void_credit_memo(self, credit_memo_id):
        """Void a credit memo (QBO's UI can; its API cannot, §7): zeroed, unlinked, "Voided" prepended."""
        with self._lock:
            memo = self._get("CreditMemo", credit_memo_id)
            self._unlink("CreditMemo", memo.id)
            memo.voided, memo.total = True, ZERO
            memo.private_note = _voided_note(memo.private_note)
            self._touch(memo)

    def delete_payment(self, payment_id):
        self._delete("Payment", payment_id)

    def delete_credit_memo(self, credit_memo_id):
        self._delete("CreditMemo", credit_memo_id)

    # ---- journal entries, deposits, purchases, refund receipts --------------------------------------

    def add_journal_entry(self, txn_date, lines, *, doc_number=None, private_note=None, currency=None,
                          exchange_rate="1", adjustment=False) -> str:
        """A journal entry from `lines` of (posting, account_id, amount) or (posting, account_id,
        amount, customer_id), posting "Debit" or "Credit". Debits must equal credits; a line on an A/R
        account needs a customer, and a customer has at most one A/R line per entry (§2)."""
        with self._lock:
            journal_lines = []
            for number, line in enumerate(lines):
                posting, account_id, amount, *customer = line
                posting = str(posting).capitalize()
                if posting not in ("Debit", "Credit"):
                    raise ValueError(f"a journal line is a Debit or a Credit, not {line[0]!r}")
                customer_id = _optional_id(customer[0]) if customer else None
                journal_lines.append(_JournalLine(str(number), posting, str(account_id), _money(amount),
                                                  customer_id))
            self._check_account_lines(journal_lines, "journal entry")
            debits = sum((l.amount for l in journal_lines if l.posting == "Debit"), ZERO)
            credits = sum((l.amount for l in journal_lines if l.posting == "Credit"), ZERO)
            if debits != credits or not debits:
                raise ValueError(f"journal entry debits {debits} and credits {credits} must be equal and not 0")
            journal = _JournalEntry(self._new_id("JournalEntry"), _as_date(txn_date),
                                    doc_number or self._new_doc_number("JournalEntry"), journal_lines,
                                    self._currency(currency), Decimal(str(exchange_rate)), private_note,
                                    bool(adjustment), self._meta())
            return self._store("JournalEntry", journal)

    def edit_journal_entry(self, journal_entry_id, *, txn_date=None, private_note=None, amount=None):
        """Change a journal entry's date, note, or (two-line entries only) the amount of both lines;
        an amount below what payments apply from it is refused."""
        with self._lock:
            journal = self._get("JournalEntry", journal_entry_id)
            if amount is not None:
                if len(journal.lines) != 2:
                    raise ValueError("only a two-line journal entry can change its amount here")
                amount = _money(amount)
                for line in journal.lines:
                    if self._is_ar(line.account_id) and amount < self._applied_to(("JournalEntry", journal.id, line.id)):
                        raise ValueError("a journal entry cannot drop below what has been applied from it")
                for line in journal.lines:
                    line.amount = amount
            journal.txn_date = journal.txn_date if txn_date is None else _as_date(txn_date)
            journal.private_note = journal.private_note if private_note is None else private_note
            self._touch(journal)

    def add_journal_charge(self, customer_id, txn_date, amount, *, account_id=SALES_INCOME, **options) -> str:
        """A charge by journal entry (e.g. a late fee): Debit A/R for the customer, Credit `account_id`."""
        return self.add_journal_entry(txn_date, [("Debit", ACCOUNTS_RECEIVABLE, amount, customer_id),
                                                 ("Credit", account_id, amount)], **options)

    def add_journal_credit(self, customer_id, txn_date, amount, *, account_id=SALES_INCOME, **options) -> str:
        """A credit by journal entry: Credit A/R for the customer, Debit `account_id`."""
        return self.add_journal_entry(txn_date, [("Debit", account_id, amount),
                                                 ("Credit", ACCOUNTS_RECEIVABLE, amount, customer_id)], **options)

    def write_off(self, customer_id, txn_date, amount, *, bad_debt_account_id, invoice_id=None,
                  private_note="Bad debt written off") -> tuple[str, str | None]:
        """Write bad debt off by journal entry (§2): Credit A/R for the customer, Debit the bad-debt
        expense account; with `invoice_id`, also the 0.00 Payment that applies the credit to the
        invoice. Returns (journal entry Id, payment Id or None)."""
        with self._lock:
            journal = self.add_journal_credit(customer_id, txn_date, amount, account_id=bad_debt_account_id,
                                              private_note=private_note)
            if invoice_id is None:
                return journal, None
            payment = self.add_payment(customer_id, txn_date, "0",
                                       {invoice_id: amount, ("JournalEntry", journal): amount})
            return journal, payment

    def add_deposit(self, txn_date, lines, *, account_id=CHECKING, private_note=None, currency=None,
                    exchange_rate="1") -> str:
        """A bank deposit into `account_id` from `lines` of (account_id, amount) or (account_id, amount,
        customer_id); a line on A/R with a customer is money received from that customer (§4)."""
        with self._lock:
            deposit_lines = [self._account_line(number, line) for number, line in enumerate(lines, start=1)]
            self._check_account_lines(deposit_lines, "deposit")
            deposit = _Deposit(self._new_id("Deposit"), _as_date(txn_date), deposit_lines, str(account_id),
                               self._currency(currency), Decimal(str(exchange_rate)), private_note, self._meta())
            return self._store("Deposit", deposit)

    def add_customer_deposit(self, customer_id, txn_date, amount, *, account_id=CHECKING, **options) -> str:
        """A deposit whose one line credits A/R for the customer; apply it with
        add_payment(customer, date, "0", {invoice: ..., ("Deposit", deposit_id): ...})."""
        return self.add_deposit(txn_date, [(ACCOUNTS_RECEIVABLE, amount, customer_id)], account_id=account_id,
                                **options)

    def add_purchase(self, txn_date, payment_type, lines, *, credit=False, account_id=None, payee_id=None,
                     doc_number=None, private_note=None, currency=None, exchange_rate="1") -> str:
        """A Purchase (§5): payment_type "Cash" (an expense), "Check" or "CreditCard" (with
        credit=True, a credit-card credit), paid from `account_id` (Checking, or the card account),
        with `lines` of (account_id, amount) or (account_id, amount, customer_id)."""
        if payment_type not in ("Cash", "Check", "CreditCard") or (credit and payment_type != "CreditCard"):
            raise ValueError("payment_type is Cash, Check or CreditCard; only CreditCard can be a credit")
        with self._lock:
            purchase_lines = [self._account_line(number, line) for number, line in enumerate(lines, start=1)]
            owners = self._check_account_lines(purchase_lines, "purchase")
            account_id = account_id or (CREDIT_CARD if payment_type == "CreditCard" else CHECKING)
            payee_id = _optional_id(payee_id) or (owners[0] if owners else None)
            purchase = _Purchase(self._new_id("Purchase"), _as_date(txn_date), payment_type, bool(credit),
                                 str(account_id), payee_id, purchase_lines, self._currency(currency),
                                 Decimal(str(exchange_rate)), private_note, doc_number, self._meta())
            return self._store("Purchase", purchase)

    def add_refund(self, customer_id, txn_date, amount, *, kind="Check", **options) -> str:
        """Money paid back to a customer the way Intuit's help says (§5): a Check or an Expense (or a
        CreditCardCredit) whose one line is on A/R for the customer. `kind` is the TxnType a Payment
        line will link it as. Tie it to the credit it refunds with refund_credit() or add_payment()."""
        if kind not in _PAYMENT_TYPES:
            raise ValueError(f"kind is one of {sorted(_PAYMENT_TYPES)}")
        return self.add_purchase(txn_date, _PAYMENT_TYPES[kind], [(ACCOUNTS_RECEIVABLE, amount, customer_id)],
                                 credit=kind == "CreditCardCredit", payee_id=customer_id, **options)

    def refund_credit(self, customer_id, txn_date, amount, credit, *, kind="Check") -> tuple[str, str]:
        """Refund customer credit (§5): a refund cheque/expense on A/R, linked to the credit it pays
        back. `credit` is ("Payment", Id) for an overpayment (that payment gets a line linking the
        refund, as Intuit's steps do), or ("CreditMemo" | "JournalEntry" | "Deposit", Id) (a new 0.00
        payment links both). Returns (purchase Id, payment Id)."""
        if kind == "CreditCardCredit":
            raise ValueError("a credit-card credit is a credit, not a refund")
        with self._lock:
            refund = self.add_refund(customer_id, txn_date, amount, kind=kind)
            txn_type, credit_id = credit[0], str(credit[1])
            if txn_type == "Payment":
                payment = self._get("Payment", credit_id)
                applied = self._applied_map(payment)
                self.edit_payment(payment.id, applied={**applied, (kind, refund): amount})
                return refund, payment.id
            return refund, self.add_payment(customer_id, txn_date, "0", {(kind, refund): amount, credit: amount})

    def _applied_map(self, payment: _Payment) -> dict:
        """A payment's lines as add_payment's `applied` argument (one link per line)."""
        applied = {}
        for line in payment.lines:
            if len(line.links) != 1:
                raise ValueError(f"payment {payment.id} has a line with several links")
            txn_id, txn_type, line_id = line.links[0]
            applied[(txn_type, txn_id) if line_id is None else (txn_type, txn_id, line_id)] = line.amount
        return applied

    def add_refund_receipt(self, customer_id, txn_date, total, *, account_id=CHECKING, method_id=None,
                           doc_number=None, currency=None, exchange_rate="1") -> str:
        """A RefundReceipt: a sale refunded from `account_id`. It never touches A/R (§6)."""
        with self._lock:
            customer = self._get("Customer", customer_id)
            receipt = _RefundReceipt(self._new_id("RefundReceipt"), customer.id, _as_date(txn_date), _money(total),
                                     doc_number or self._new_doc_number("RefundReceipt"), str(account_id),
                                     _optional_id(method_id), self._currency(currency), Decimal(str(exchange_rate)),
                                     self._meta())
            return self._store("RefundReceipt", receipt)

    def delete_journal_entry(self, journal_entry_id):
        self._delete("JournalEntry", journal_entry_id)

    def delete_deposit(self, deposit_id):
        self._delete("Deposit", deposit_id)

    def delete_purchase(self, purchase_id):
        self._delete("Purchase", purchase_id)

    def delete_refund_receipt(self, refund_receipt_id):
        self._delete("RefundReceipt", refund_receipt_id)

    def _account_line(self, number: int, line) -> _AccountLine:
        account_id, amount, *customer = line
        return _AccountLine(str(number), _money(amount), str(account_id),
                            _optional_id(customer[0]) if customer else None)

    def _check_account_lines(self, lines, what: str) -> list[str]:
        """Lines post positive amounts to existing accounts, and an A/R line names its customer,
        one A/R line per customer (so a Payment link finds its line, §1). Returns those customers."""
        for line in lines:
            self._get("Account", line.account_id)
            if line.amount <= 0:
                raise ValueError("line amounts are positive (QBO swaps the posting instead of going negative)")
            if line.customer_id is not None:
                self._get("Customer", line.customer_id)
            elif self._is_ar(line.account_id):
                raise ValueError("a line on an A/R account needs a customer")
        owners = [line.customer_id for line in lines if self._is_ar(line.account_id)]
        if len(owners) != len(set(owners)):
            raise ValueError(f"a customer has at most one A/R line per {what}")
        return owners

    # ---- links between payments and what they apply ----------------------------------------------------

    def _index(self, payment: _Payment):
        for line in payment.lines:
            for key in line.keys:
                self._applied[key].append((payment, line.amount))
                self._linked[key[:2]][payment.id] = payment

    def _unindex(self, payment: _Payment):
        for key in {key for line in payment.lines for key in line.keys}:
            self._applied[key] = [(p, a) for p, a in self._applied[key] if p is not payment]
            self._linked[key[:2]].pop(payment.id, None)

    def _applied_to(self, key, as_of: date | None = None) -> Decimal:
        return sum((amount for payment, amount in self._applied.get(key, ())
                    if as_of is None or payment.txn_date <= as_of), ZERO)

    def _sign(self, key) -> int:
        entity, txn_id, line_id = key
        if entity == "Invoice":
            return 1
        if entity in ("CreditMemo", "Deposit"):
            return -1
        record = self._records[entity][txn_id]
        if entity == "Purchase":
            return -1 if record.credit else 1
        return 1 if next(l for l in record.lines if l.id == line_id).posting == "Debit" else -1

    def _unapplied_of(self, total: Decimal, lines: list[_Line]) -> Decimal:
        # Charges use the payment's money up; credits (a credit memo, a deposit...) bring money in (§1).
        return total - sum((line.amount * self._sign(key) for line in lines for key in line.keys), ZERO)

    def _unapplied(self, payment: _Payment) -> Decimal:
        return self._unapplied_of(payment.total, payment.lines)

    def _touch_targets(self, lines: list[_Line], skip: tuple[str, str] | None = None):
        for entity, txn_id in dict.fromkeys(key[:2] for line in lines for key in line.keys):
            if (entity, txn_id) != skip and txn_id in self._records[entity]:
                self._touch(self._records[entity][txn_id])

    def _unlink(self, entity: str, txn_id: str):
        for payment in list(self._linked.get((entity, txn_id), {}).values()):
            hit = [line for line in payment.lines if any(key[:2] == (entity, txn_id) for key in line.keys)]
            kept = [line for line in payment.lines if all(line is not gone for gone in hit)]
            if payment.total == 0 or self._unapplied_of(payment.total, kept) < 0:
                kept = []
            dropped = [line for line in payment.lines if all(line is not k for k in kept)]
            self._unindex(payment)
            payment.lines = kept
            self._index(payment)
            self._touch(payment)
            self._touch_targets(dropped, skip=(entity, txn_id))

    def _delete(self, entity: str, record_id):
        with self._lock:
            record = self._get(entity, record_id)
            if entity == "Payment":
                self._unindex(record)
                self._touch_targets(record.lines)
            else:
                self._unlink(entity, record.id)
            del self._records[entity][record.id]
            self._deleted.append((entity, record.id, self.now))
            self._changed()

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

    def _items(self, entity: str, record) -> list[_Item]:
        """A transaction's postings to A/R, one per customer line."""
        if entity == "Invoice":
            return [_Item(("Invoice", record.id, None), record.customer_id, 1, record.total - record.deposit,
                          record.txn_date, record.due_date, record.exchange_rate, ACCOUNTS_RECEIVABLE)]
        if entity == "CreditMemo":
            return [_Item(("CreditMemo", record.id, None), record.customer_id, -1, record.total, record.txn_date,
                          record.txn_date, record.exchange_rate, ACCOUNTS_RECEIVABLE)]
        if entity == "JournalEntry":
            signs = {"Debit": 1, "Credit": -1}
            return [_Item(("JournalEntry", record.id, line.id), line.customer_id, signs[line.posting], line.amount,
                          record.txn_date, record.txn_date, record.exchange_rate, line.account_id)
                    for line in record.lines if self._is_ar(line.account_id)]
        if entity in ("Deposit", "Purchase"):
            sign = 1 if entity == "Purchase" and not record.credit else -1
            return [_Item((entity, record.id, line.id), line.customer_id, sign, line.amount, record.txn_date,
                          record.txn_date, record.exchange_rate, line.account_id)
                    for line in record.lines if self._is_ar(line.account_id)]
        return []

    def _all_items(self) -> list[_Item]:
        return self._cached("items", lambda: [item for entity in AR_ENTITIES
                                              for record in self._records[entity].values()
                                              for item in self._items(entity, record)])

    def _invoice_balance(self, invoice: _Invoice) -> Decimal:
        if invoice.voided:
            return ZERO
        return invoice.total - invoice.deposit - self._applied_to(("Invoice", invoice.id, None))

    def _customer_balances(self) -> dict[str, Decimal]:
        def compute():
            balances = collections.defaultdict(lambda: ZERO)
            for item in self._all_items():
                balances[item.customer_id] += item.sign * (item.amount - self._applied_to(item.key))
            for payment in self._records["Payment"].values():
                balances[payment.customer_id] -= self._unapplied(payment)
            return balances
        return self._cached("balances", compute)

    def _children_of(self) -> dict[str | None, list[_Customer]]:
        def compute():
            children = collections.defaultdict(list)
            for customer in self._records["Customer"].values():
                children[customer.parent_id].append(customer)
            for kids in children.values():
                kids.sort(key=lambda c: c.name.casefold())
            return children
        return self._cached("children", compute)

    def _balances_with_jobs(self) -> dict[str, Decimal]:
        def compute():
            balances, children, totals = self._customer_balances(), self._children_of(), {}

            def subtree(customer):
                totals[customer.id] = balances[customer.id] + sum((subtree(kid) for kid in children[customer.id]), ZERO)
                return totals[customer.id]
            for root in children[None]:
                subtree(root)
            return totals
        return self._cached("with-jobs", compute)

    def _ancestry(self, customer: _Customer) -> list[_Customer]:
        chain = [customer]
        while chain[-1].parent_id is not None:
            chain.append(self._records["Customer"][chain[-1].parent_id])
        return chain[::-1]

    # ---- JSON -------------------------------------------------------------------------------------------

    def _render(self, entity: str, record) -> dict:
        """A record's JSON, rendered once per ledger version."""
        return self._cached(("json", entity, record.id), lambda: self._renderers[entity](self, record))

    def _rendered_all(self, entity: str) -> list[dict]:
        return self._cached(("all", entity), lambda: [self._render(entity, r) for r in self._records[entity].values()])

    @staticmethod
    def _common(record) -> dict:
        return {"domain": "QBO", "sparse": False, "Id": record.id, "SyncToken": str(record.meta.sync_token),
                "MetaData": {"CreateTime": _stamp(record.meta.created),
                             "LastUpdatedTime": _stamp(record.meta.updated)}}

    def _customer_ref(self, customer_id: str) -> dict:
        return {"value": customer_id, "name": self._records["Customer"][customer_id].name}

    def _account_ref(self, account_id: str) -> dict:
        account = self._records["Account"].get(account_id)
        return {"value": account_id, **({"name": account.name} if account else {})}

    @staticmethod
    def _currency_ref(currency: str) -> dict:
        return {"value": currency, "name": CURRENCY_NAMES.get(currency, currency)}

    def _money_fields(self, currency: str, rate: Decimal) -> dict:
        return {"CurrencyRef": self._currency_ref(currency), "ExchangeRate": rate}

    def _home_amounts(self, currency: str, rate: Decimal, **amounts) -> dict:
        # HomeTotalAmt / HomeBalance exist only on foreign-currency transactions (spec).
        if currency == self.home_currency:
            return {}
        return {f"Home{name}": (amount * rate).quantize(CENT) for name, amount in amounts.items()}

    def _payment_links(self, entity: str, txn_id: str) -> list[dict]:
        return [{"TxnId": payment_id, "TxnType": "Payment"} for payment_id in self._linked.get((entity, txn_id), {})]

    def _customer_json(self, customer: _Customer) -> dict:
        chain = self._ancestry(customer)
        body = {**self._common(customer), "DisplayName": customer.name, "CompanyName": customer.name,
                "PrintOnCheckName": customer.name, "FullyQualifiedName": ":".join(c.name for c in chain),
                "Active": customer.active, "Job": customer.parent_id is not None, "BillWithParent": False,
                "Balance": self._customer_balances()[customer.id],
                "BalanceWithJobs": self._balances_with_jobs().get(customer.id, ZERO),
                "CurrencyRef": self._currency_ref(customer.currency), "PreferredDeliveryMethod": "Email",
                "Taxable": False}
        if customer.parent_id is not None:
            body.update(ParentRef={"value": customer.parent_id}, Level=len(chain) - 1)
        if customer.email:
            body["PrimaryEmailAddr"] = {"Address": customer.email}
        if customer.terms_id:
            body["SalesTermRef"] = {"value": customer.terms_id}
        return body

    def _invoice_json(self, invoice: _Invoice) -> dict:
        balance = self._invoice_balance(invoice)
        body = {**self._common(invoice), "DocNumber": invoice.doc_number, "TxnDate": invoice.txn_date.isoformat(),
                "DueDate": invoice.due_date.isoformat(), "CustomerRef": self._customer_ref(invoice.customer_id),
                **self._money_fields(invoice.currency, invoice.exchange_rate),
                "TotalAmt": invoice.total, "Balance": balance,
                **self._home_amounts(invoice.currency, invoice.exchange_rate, TotalAmt=invoice.total, Balance=balance),
                "Line": self._sales_lines(invoice.total, invoice.voided),
                "LinkedTxn": self._payment_links("Invoice", invoice.id),
                "TxnTaxDetail": {"TotalTax": 0}, "EmailStatus": "NotSet", "PrintStatus": "NotSet",
                "AllowOnlineCreditCardPayment": False, "AllowOnlineACHPayment": False, "Deposit": invoice.deposit}
        if invoice.deposit_account_id:
            body["DepositToAccountRef"] = self._account_ref(invoice.deposit_account_id)
        if invoice.term_id:
            body["SalesTermRef"] = {"value": invoice.term_id}
        if invoice.private_note:
            body["PrivateNote"] = invoice.private_note
        if invoice.template_id:
            body["RecurDataRef"] = {"value": invoice.template_id}
        return body

    @staticmethod
    def _sales_lines(total: Decimal, voided: bool = False) -> list[dict]:
        # A void zeroes amounts and quantities but keeps the lines (§7).
        return [{"Id": "1", "LineNum": 1, "Description": "Managed services", "Amount": total,
                 "DetailType": "SalesItemLineDetail",
                 "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}, "UnitPrice": total,
                                         "Qty": 0 if voided else 1, "TaxCodeRef": {"value": "NON"}}},
                {"Amount": total, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}]

    def _payment_json(self, payment: _Payment) -> dict:
        body = {**self._common(payment), "TxnDate": payment.txn_date.isoformat(),
                "CustomerRef": self._customer_ref(payment.customer_id),
                **self._money_fields(payment.currency, payment.exchange_rate),
                "TotalAmt": payment.total, "UnappliedAmt": self._unapplied(payment), "ProcessPayment": False,
                "Line": [self._payment_line_json(line) for line in payment.lines]}
        if payment.total > 0 or payment.voided:
            body["DepositToAccountRef"] = {"value": UNDEPOSITED_FUNDS}
        if payment.method_id:
            method = self._records["PaymentMethod"].get(payment.method_id)
            body["PaymentMethodRef"] = {"value": payment.method_id, **({"name": method.name} if method else {})}
        if payment.private_note:
            body["PrivateNote"] = payment.private_note
        return body

    @staticmethod
    def _payment_line_json(line: _Line) -> dict:
        links = [{"TxnId": txn_id, "TxnType": txn_type, **({"TxnLineId": line_id} if line_id is not None else {})}
                 for txn_id, txn_type, line_id in line.links]
        body = {"Amount": line.amount, "LinkedTxn": links}
        if line.open_balance is not None and len(line.links) == 1:
            pairs = [("txnId", line.links[0][0]), ("txnOpenBalance", str(line.open_balance)),
                     ("txnReferenceNumber", line.reference)]
            body["LineEx"] = {"any": [
                {"name": "{http://schema.intuit.com/finance/v3}NameValue",
                 "declaredType": "com.intuit.schema.finance.v3.NameValue",
                 "scope": "javax.xml.bind.JAXBElement$GlobalScope", "value": {"Name": name, "Value": value},
                 "nil": False, "globalScope": True, "typeSubstituted": False} for name, value in pairs]}
        return body

    def _credit_memo_json(self, memo: _CreditMemo) -> dict:
        remaining = ZERO if memo.voided else memo.total - self._applied_to(("CreditMemo", memo.id, None))
        body = {**self._common(memo), "DocNumber": memo.doc_number, "TxnDate": memo.txn_date.isoformat(),
                "CustomerRef": self._customer_ref(memo.customer_id),
                **self._money_fields(memo.currency, memo.exchange_rate),
                "TotalAmt": memo.total, "RemainingCredit": remaining, "Balance": remaining,
                **self._home_amounts(memo.currency, memo.exchange_rate, TotalAmt=memo.total, Balance=remaining),
                "Line": self._sales_lines(memo.total, memo.voided),
                "LinkedTxn": self._payment_links("CreditMemo", memo.id)}
        if memo.private_note:
            body["PrivateNote"] = memo.private_note
        return body

    def _term_json(self, term: _Term) -> dict:
        return {**self._common(term), "Name": term.name, "Active": True, "Type": "STANDARD",
                "DueDays": term.due_days, "DiscountDays": 0, "DiscountPercent": 0}

    def _payment_method_json(self, method: _PaymentMethod) -> dict:
        return {**self._common(method), "Name": method.name, "Active": True, "Type": method.type}

    def _account_json(self, account: _Account) -> dict:
        body = {**self._common(account), "Name": account.name, "SubAccount": False,
                "FullyQualifiedName": account.name, "Active": account.active,
                "Classification": _CLASSIFICATIONS[account.account_type], "AccountType": account.account_type,
                "CurrencyRef": self._currency_ref(self.home_currency)}
        if account.sub_type:
            body["AccountSubType"] = account.sub_type
        if account.account_type == "Accounts Receivable":
            balance = self._ar_account_balances().get(account.id, ZERO)
            body.update(CurrentBalance=balance, CurrentBalanceWithSubAccounts=balance)
        return body

    def _ar_account_balances(self) -> dict[str, Decimal]:
        def compute():
            balances = collections.defaultdict(lambda: ZERO)
            for item in self._all_items():
                balances[item.account_id] += (item.sign * (item.amount - self._applied_to(item.key))
                                              * item.rate).quantize(CENT)
            for payment in self._records["Payment"].values():
                balances[ACCOUNTS_RECEIVABLE] -= (self._unapplied(payment) * payment.exchange_rate).quantize(CENT)
            return balances
        return self._cached("ar-accounts", compute)

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

    def _journal_entry_json(self, journal: _JournalEntry) -> dict:
        total = sum((line.amount for line in journal.lines if line.posting == "Debit"), ZERO)
        lines = []
        for line in journal.lines:
            detail = {"PostingType": line.posting, "AccountRef": self._account_ref(line.account_id)}
            if line.customer_id:
                detail["Entity"] = {"Type": "Customer", "EntityRef": self._customer_ref(line.customer_id)}
            lines.append({"Id": line.id, "Description": journal.private_note or "",
                          "Amount": line.amount, "DetailType": "JournalEntryLineDetail",
                          "JournalEntryLineDetail": detail})
        body = {**self._common(journal), "DocNumber": journal.doc_number, "TxnDate": journal.txn_date.isoformat(),
                **self._money_fields(journal.currency, journal.exchange_rate), "Adjustment": journal.adjustment,
                "TotalAmt": total, **self._home_amounts(journal.currency, journal.exchange_rate, TotalAmt=total),
                "Line": lines}
        links = self._payment_links("JournalEntry", journal.id)
        if links:
            body["LinkedTxn"] = links
        if journal.private_note:
            body["PrivateNote"] = journal.private_note
        return body

    def _deposit_json(self, deposit: _Deposit) -> dict:
        total = sum((line.amount for line in deposit.lines), ZERO)
        lines = []
        for number, line in enumerate(deposit.lines, start=1):
            detail = {"AccountRef": self._account_ref(line.account_id)}
            if line.customer_id:
                detail["Entity"] = {**self._customer_ref(line.customer_id), "type": "CUSTOMER"}
            lines.append({"Id": line.id, "LineNum": number, "Amount": line.amount,
                          "DetailType": "DepositLineDetail", "DepositLineDetail": detail})
        body = {**self._common(deposit), "TxnDate": deposit.txn_date.isoformat(),
                **self._money_fields(deposit.currency, deposit.exchange_rate),
                "DepositToAccountRef": self._account_ref(deposit.account_id), "TotalAmt": total,
                **self._home_amounts(deposit.currency, deposit.exchange_rate, TotalAmt=total), "Line": lines}
        if deposit.private_note:
            body["PrivateNote"] = deposit.private_note
        return body

    def _purchase_json(self, purchase: _Purchase) -> dict:
        total = sum((line.amount for line in purchase.lines), ZERO)
        lines = []
        for line in purchase.lines:
            detail = {"AccountRef": self._account_ref(line.account_id), "BillableStatus": "NotBillable",
                      "TaxCodeRef": {"value": "NON"}}
            if line.customer_id:
                detail["CustomerRef"] = self._customer_ref(line.customer_id)
            lines.append({"Id": line.id, "Amount": line.amount, "DetailType": "AccountBasedExpenseLineDetail",
                          "AccountBasedExpenseLineDetail": detail})
        body = {**self._common(purchase), "TxnDate": purchase.txn_date.isoformat(),
                **self._money_fields(purchase.currency, purchase.exchange_rate),
                "PaymentType": purchase.payment_type, "AccountRef": self._account_ref(purchase.account_id),
                "TotalAmt": total, **self._home_amounts(purchase.currency, purchase.exchange_rate, TotalAmt=total),
                "Line": lines}
        if purchase.payment_type == "CreditCard":
            body["Credit"] = purchase.credit
        if purchase.payment_type == "Check":
            body["PrintStatus"] = "NotSet"
        if purchase.payee_id:
            body["EntityRef"] = {**self._customer_ref(purchase.payee_id), "type": "Customer"}
        if purchase.doc_number:
            body["DocNumber"] = purchase.doc_number
        if purchase.private_note:
            body["PrivateNote"] = purchase.private_note
        links = self._payment_links("Purchase", purchase.id)
        if links:
            body["LinkedTxn"] = links
        return body

    def _refund_receipt_json(self, receipt: _RefundReceipt) -> dict:
        body = {**self._common(receipt), "DocNumber": receipt.doc_number, "TxnDate": receipt.txn_date.isoformat(),
                "CustomerRef": self._customer_ref(receipt.customer_id),
                **self._money_fields(receipt.currency, receipt.exchange_rate),
                "TotalAmt": receipt.total, "Balance": ZERO,
                **self._home_amounts(receipt.currency, receipt.exchange_rate, TotalAmt=receipt.total),
                "DepositToAccountRef": self._account_ref(receipt.account_id),
                "Line": self._sales_lines(receipt.total), "TxnTaxDetail": {"TotalTax": 0},
                "PrintStatus": "NotSet", "ApplyTaxAfterDiscount": False}
        if receipt.method_id:
            method = self._records["PaymentMethod"].get(receipt.method_id)
            body["PaymentMethodRef"] = {"value": receipt.method_id, **({"name": method.name} if method else {})}
        return body

    def _company_info_json(self, company: _CompanyInfo) -> dict:
        address = {"Id": "1", "Line1": "1 Test Street", "City": "Testville", "Country": company.country}
        return {**self._common(company), "CompanyName": company.name, "LegalName": company.name,
                "CompanyAddr": address, "LegalAddr": address, "Country": company.country,
                "CompanyStartDate": company.start_date.isoformat(), "FiscalYearStartMonth": "January",
                "SupportedLanguages": "en",
                "NameValue": [{"Name": "NeoEnabled", "Value": "true"}, {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}]}

    def _preferences_json(self, preferences: _Preferences) -> dict:
        return {**self._common(preferences),
                "CurrencyPrefs": {"MultiCurrencyEnabled": preferences.multicurrency,
                                  "HomeCurrency": {"value": preferences.home_currency}},
                "ReportPrefs": {"ReportBasis": "Accrual",
                                "CalcAgingReportFromTxnDate": preferences.aging_from_txn_date},
                "SalesFormsPrefs": {"AllowDeposit": True, "AllowDiscount": True, "CustomTxnNumbers": False},
                "AccountingInfoPrefs": {"CustomerTerminology": "Customers", "FirstMonthOfFiscalYear": "January"}}

    _renderers = {
        "Customer": _customer_json, "Invoice": _invoice_json, "Payment": _payment_json,
        "CreditMemo": _credit_memo_json, "Term": _term_json, "PaymentMethod": _payment_method_json,
        "RecurringTransaction": _template_json, "JournalEntry": _journal_entry_json, "Deposit": _deposit_json,
        "Purchase": _purchase_json, "RefundReceipt": _refund_receipt_json, "Account": _account_json,
        "CompanyInfo": _company_info_json, "Preferences": _preferences_json,
    }

    # ---- change data capture ----------------------------------------------------------------------

    def _changes(self, entities: list[str], since: datetime, limit: int) -> dict[str, list[dict]]:
        """What changed after `since`, the oldest `limit` objects of all `entities` together (§10)."""
        changed = []
        for rank, entity in enumerate(entities):
            changed += [(r.meta.updated, rank, int(r.id), entity, r) for r in self._records[entity].values()
                        if r.meta.updated > since]
            changed += [(when, rank, int(record_id), entity, None) for kind, record_id, when in self._deleted
                        if kind == entity and when > since]
        changed.sort(key=lambda change: change[:3])
        blocks: dict[str, list[dict]] = {entity: [] for entity in entities}
        for when, _, record_id, entity, record in changed[:limit]:
            blocks[entity].append(self._render(entity, record) if record is not None
                                  else self._deleted_stub(str(record_id), when))
        return blocks

    @staticmethod
    def _deleted_stub(record_id: str, when: datetime) -> dict:
        return {"domain": "QBO", "status": "Deleted", "Id": record_id, "MetaData": {"LastUpdatedTime": _stamp(when)}}

    # ---- the A/R aging report ----------------------------------------------------------------------

    def _aged_receivables(self, report_date: date, aging_period: int, num_periods: int, aging_method: str) -> dict:
        amounts = self._aged_amounts(report_date, aging_period, num_periods, aging_method)
        titles = ["Current"] + _bucket_titles(aging_period, num_periods) + ["Total"]
        rows = self._report_rows(self._children_of()[None], amounts, len(titles) - 1)
        grand = [sum(column, ZERO) for column in zip(*amounts.values())] or [Decimal(0)] * (len(titles) - 1)
        header = {"Time": _stamp(self.now), "ReportName": "AgedReceivables", "DateMacro": "today",
                  "StartPeriod": report_date.isoformat(), "EndPeriod": report_date.isoformat(),
                  "SummarizeColumnsBy": "Total", "Currency": self.home_currency,
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
        """Home-currency open amounts per customer: [current, bucket 1..n] (§11)."""
        as_of = None if aging_method == "Current" else report_date
        by_txn_date = self._records["Preferences"]["1"].aging_from_txn_date
        amounts: dict[str, list[Decimal]] = collections.defaultdict(lambda: [ZERO] * (num_periods + 1))

        def column(due: date) -> int:
            days_late = (report_date - due).days
            return 0 if days_late <= 0 else min((days_late - 1) // aging_period, num_periods - 1) + 1

        def add(customer_id, aged_by: date | None, amount: Decimal, rate: Decimal):
            amounts[customer_id][0 if aged_by is None else column(aged_by)] += (amount * rate).quantize(CENT)

        credits_by_date = self.credit_aging == "date"
        for item in self._all_items():
            if item.txn_date > report_date:
                continue
            left = item.amount - self._applied_to(item.key, as_of)
            if not left:
                continue
            if item.sign > 0:
                add(item.customer_id, item.txn_date if by_txn_date else item.due_date, left, item.rate)
            else:
                add(item.customer_id, item.txn_date if credits_by_date else None, -left, item.rate)
        for payment in self._records["Payment"].values():
            unapplied = self._unapplied(payment)
            if payment.txn_date <= report_date and unapplied:
                add(payment.customer_id, payment.txn_date if credits_by_date else None, -unapplied,
                    payment.exchange_rate)
        return {cid: cells + [sum(cells, ZERO)] for cid, cells in amounts.items() if any(cells)}

    def _subtree_amounts(self, customer: _Customer, amounts, width) -> list[Decimal]:
        total = list(amounts.get(customer.id, [ZERO] * width))
        for kid in self._children_of()[customer.id]:
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
            kid_rows = self._report_rows(self._children_of()[customer.id], amounts, width)
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
        for name, value in {**self.server.qbo.fixed_headers, **response.headers}.items():
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
    """Serves one look-alike (`qbo`: anything with `_serve(_Request) -> _Response` and
    `fixed_headers`; tests/xero_server.py uses it too)."""

    daemon_threads = True
    block_on_close = False   # stop() must not wait for stalled or idle keep-alive handlers

    def __init__(self, qbo):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.qbo = qbo


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

class _ScriptedServer:
    """What both look-alikes (this one, tests/xero_server.py) do with a request: count and log it
    (`requests`, `_log`), take the next scripted fault for its kind (`fail_next`; 'any' matches
    `any_kinds`), stall, answer with the fault (`_scripted_response`), or damage the real answer on
    the wire; a damaged token answer changes nothing unless the fault says `rotated`."""

    def _take_fault(self, kind: str) -> _ScriptedFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint == kind or (fault.endpoint == "any" and kind in self.any_kinds):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _hold(self, released: threading.Event | None, seconds: float) -> None:
        """A stalled answer: held until the test sets `released` (else for `seconds`), or the server
        stops. Polled with time.sleep: a timed wait on a condition never times out under libfaketime,
        which the suite's clock check runs it with."""
        deadline = monotonic() + seconds
        while not self._stopping.is_set() and (not released.is_set() if released else monotonic() < deadline):
            sleep(0.02)

    def _serve(self, request: _Request) -> _Response:
        kind, action = self._route(request)
        with self._lock:
            self.requests[kind] += 1
            self._log(kind, request)
        fault = self._take_fault(kind)
        if fault and fault.kind == "stall":
            self._hold(fault.options.get("until"), fault.options.get("seconds", 5))
            fault = None
        if fault and fault.kind not in ("truncated", "reset"):
            return self._scripted_response(fault)
        if fault and kind == "token" and not fault.options.get("rotated"):
            with self._lock:   # the answer is damaged before the new tokens take effect
                saved = self._token_state()
                response = action(request)
                self._restore_token_state(saved)
        else:
            response = action(request)
        response.cut = fault.kind if fault else None
        return response


class QuickBooksServer(_Ledger, _ScriptedServer):
    """QBO + Intuit OAuth on 127.0.0.1 at an ephemeral port; use as a context manager or start()/stop().

    Point the clients at it with::

        auth = AuthClient(server.client_id, server.client_secret, server.redirect_uri,
                          environment=server.discovery_url)
        qb = QuickBooks(auth_client=auth, refresh_token=server.current_refresh_token,
                        company_id=server.realm_id, minorversion=75, use_decimal=True)
        qb.api_url_v3 = server.api_base        # with OAUTHLIB_INSECURE_TRANSPORT=1 in os.environ
    """

    cdc_limit = 1000
    fixed_headers = {"intuit_tid": "test-server"}   # on every answer

    def __init__(self, realm_id: str = "9130357992", client_id="test-client", client_secret="test-secret",
                 refresh_token="rt-0", now: datetime | None = None, *,
                 redirect_uri="http://localhost:8000/callback", home_currency: str = HOME_CURRENCY,
                 multicurrency: bool = True, company_name: str = "Test MSP", country: str = "US",
                 credit_aging: str | None = None):
        """`home_currency`/`multicurrency` are what Preferences.CurrencyPrefs says (§9);
        `credit_aging` is "date" (default) or "current": where the aging report puts credits (§11)."""
        super().__init__(now, home_currency=home_currency, multicurrency=multicurrency,
                         company_name=company_name, country=country, credit_aging=credit_aging)
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
        next data or token request, never discovery). Options: retry_after (429, 429-xml, 503; any
        number of seconds, e.g. 60), seconds (stall, default 5), until (stall: a threading.Event that
        ends it instead), code/message/detail/type
        (200-fault), rotated (token + truncated/reset: True if the server rotated the refresh token
        before the answer was damaged, so the client never learns the new one; default False, the
        damaged answer changes nothing). A storm is `times=N`. Every request, faulted or not, counts
        in `requests`.
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

    # ---- request flow: _ScriptedServer --------------------------------------------------------------

    any_kinds = _ANY_KINDS

    def _log(self, kind: str, request: _Request) -> None:
        query = f"?{urlencode(request.params)}" if request.params else ""
        self.request_log.append((kind, request.method, request.path + query))

    def _token_state(self) -> tuple:
        return (self._token_sequence, self.current_refresh_token, self.access_token, self.refreshes,
                self._access_expired, self._revoked)

    def _restore_token_state(self, state: tuple):
        (self._token_sequence, self.current_refresh_token, self.access_token, self.refreshes,
         self._access_expired, self._revoked) = state

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
                                           ("read", r"(preferences)()", self._read),
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
            rows, rendered = self._select(query)
            if query.count:
                return {"QueryResponse": {"totalCount": len(rows)}, "time": self._time()}, None
            page = rows[query.start - 1: query.start - 1 + query.max_results]
            if not rendered:
                page = [self._render(query.entity, record) for record in page]
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
            changes = self._changes(list(dict.fromkeys(entities)), since, self.cdc_limit)
        blocks = [{**({entity: rows} if rows else {}), "startPosition": 1, "maxResults": len(rows)}
                  for entity, rows in changes.items()]
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
        if entity in ("CompanyInfo", "Preferences"):
            record_id = "1"   # /companyinfo/{realm} and /preferences name the company's one record
        with self._lock:
            record = self._records.get(entity, {}).get(record_id) if entity else None
            if record is None:
                raise _QboFault(400, 610, "Object Not Found",
                                f"Object Not Found : Something you're trying to use has been made inactive "
                                f"or deleted ({entity_path} {record_id})")
            return {entity: self._render(entity, record), "time": self._time()}, None

    def _select(self, query: _Query) -> tuple[list, bool]:
        """The rows a query selects, in order, once per ledger version: records when no condition and
        the default order need no JSON (rendered page by page), else rendered rows."""
        order = [(name.lower(), descending) for name, descending in query.order]
        implicit_filter = query.entity == "Customer"   # active customers only, unless asked (spec)
        if not query.conditions and not implicit_filter and order in ([], [("id", False)]):
            return self._cached(("by-id", query.entity), lambda: sorted(
                self._records[query.entity].values(), key=lambda record: int(record.id))), False
        key = ("select", query.entity, repr(query.conditions), repr(query.order))
        return self._cached(key, lambda: _run_query(query, self._rendered_all(query.entity))), True
