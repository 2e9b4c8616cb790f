"""QuickBooks Online JSON records -> canonical rows (see ../shared/spec/quickbooks.md).

Pure functions over the raw dicts the API returns (parsed with Decimal for money): the
library's objects fill missing fields with defaults (Balance 0, ExchangeRate 1), so a missing
field would look like a real zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from core.errors import SyncError
from etl.amounts import cents, home_amount

_INTERVALS = {"Weekly": ("week", 1), "Monthly": ("month", 1), "Yearly": ("year", 1)}


def _problem(record: dict, entity: str, field: str, what: str) -> SyncError:
    number = f" ({record['DocNumber']})" if record.get("DocNumber") else ""
    return SyncError(f"QuickBooks {entity} {record.get('Id', '?')}{number}: {field} {what}; correct it in "
                     "QuickBooks and sync again (nothing was written)")


def money(value, record: dict | None = None, entity: str = "", field: str = "") -> Decimal:
    try:
        return cents(value)
    except InvalidOperation:
        raise _problem(record or {}, entity, field, f"is {value!r}, not an amount") from None


def _rate(record: dict) -> Decimal:
    return Decimal(str(record.get("ExchangeRate") or 1))


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _required_day(record: dict, entity: str, field: str = "TxnDate") -> date:
    try:
        day = _day(record.get(field))
    except ValueError:
        raise _problem(record, entity, field, f"is {record.get(field)!r}, not a date") from None
    if day is None:
        raise _problem(record, entity, field, "is missing")
    return day


def _customer(record: dict, entity: str) -> str:
    customer = _ref(record, "CustomerRef")
    if not customer:
        raise _problem(record, entity, "CustomerRef", "is missing (every A/R item belongs to a customer)")
    return customer


def _updated(record: dict) -> datetime | None:
    stamp = record.get("MetaData", {}).get("LastUpdatedTime")
    return datetime.fromisoformat(stamp).replace(tzinfo=None) if stamp else None


def _ref(record: dict, key: str) -> str | None:
    return (record.get(key) or {}).get("value")


def _currency(record: dict, home_currency: str) -> str:
    return _ref(record, "CurrencyRef") or home_currency


def customer_row(record: dict, term_names: dict[str, str], home_currency: str) -> dict:
    return {
        "customer_id": record["Id"],
        "name": record.get("DisplayName") or record.get("CompanyName") or record["Id"],
        "parent_id": _ref(record, "ParentRef"),
        "terms": term_names.get(_ref(record, "SalesTermRef")),
        "email": (record.get("PrimaryEmailAddr") or {}).get("Address"),
        "currency": _currency(record, home_currency),
        "active": bool(record.get("Active", True)),
        "updated_at": _updated(record),
    }


def is_voided(record: dict) -> bool:
    """QuickBooks keeps a voided transaction with its total and every line zeroed, and *prepends*
    "Voided" to its note. A note alone decides nothing: "Voided cheque replaced by ACH" on a live
    500.00 invoice is a note."""
    amounts = [record.get("TotalAmt"), *(line.get("Amount") for line in record.get("Line", []))]
    zeroed = all(Decimal(str(amount or 0)) == 0 for amount in amounts)
    return zeroed and (record.get("PrivateNote") or "").startswith("Voided")


def invoice_row(record: dict, term_names: dict[str, str], home_currency: str) -> dict:
    total, rate = money(record.get("TotalAmt"), record, "Invoice", "TotalAmt"), _rate(record)
    home_total = record.get("HomeTotalAmt")
    template = _ref(record, "RecurDataRef")
    return {
        "invoice_id": record["Id"],
        "doc_number": record.get("DocNumber"),
        "customer_id": _customer(record, "Invoice"),
        "txn_date": _required_day(record, "Invoice"),
        "due_date": _day(record.get("DueDate")),
        "terms": term_names.get(_ref(record, "SalesTermRef")),
        "total": total,
        "currency": _currency(record, home_currency),
        "exchange_rate": rate,
        "home_total": money(home_total, record, "Invoice", "HomeTotalAmt") if home_total is not None else home_amount(total, rate),
        "status": "voided" if is_voided(record) else "posted",
        "recurring_template_id": template,
        "kind": "recurring" if template else "other",
        "doc_type": "invoice",
        "updated_at": _updated(record),
    }


def payment_method_kind(method: dict | None) -> str:
    """card/ach/check/cash/other from a PaymentMethod record (QuickBooks only types cards)."""
    if not method:
        return "other"
    if method.get("Type") == "CREDIT_CARD":
        return "card"
    name = (method.get("Name") or "").lower()
    for words, kind in ((("ach", "eft", "bank", "direct debit", "e-check"), "ach"),
                        (("check", "cheque"), "check"), (("cash",), "cash"),
                        (("card", "visa", "mastercard", "amex", "discover"), "card")):
        if any(word in name for word in words):
            return kind
    return "other"


def payment_row(record: dict, methods: dict[str, dict], home_currency: str) -> dict:
    return {
        "payment_id": record["Id"],
        "customer_id": _customer(record, "Payment"),
        "txn_date": _required_day(record, "Payment"),
        "amount": money(record.get("TotalAmt"), record, "Payment", "TotalAmt"),
        "unapplied_amount": money(record.get("UnappliedAmt"), record, "Payment", "UnappliedAmt"),
        "method": payment_method_kind(methods.get(_ref(record, "PaymentMethodRef"))),
        "currency": _currency(record, home_currency),
        "exchange_rate": _rate(record),
        "status": "voided" if is_voided(record) else "posted",
        "doc_type": "payment",
        "updated_at": _updated(record),
    }


def credit_memo_row(record: dict, home_currency: str) -> dict:
    remaining = record.get("RemainingCredit", record.get("Balance"))
    return {
        "credit_memo_id": record["Id"],
        "customer_id": _customer(record, "CreditMemo"),
        "txn_date": _required_day(record, "CreditMemo"),
        "total": money(record.get("TotalAmt"), record, "CreditMemo", "TotalAmt"),
        "unapplied_amount": money(remaining, record, "CreditMemo", "RemainingCredit"),
        "currency": _currency(record, home_currency),
        "exchange_rate": _rate(record),
        "status": "voided" if is_voided(record) else "posted",
        "doc_type": "credit_memo",
        "updated_at": _updated(record),
    }


# --- A/R items that are not invoices, credit memos or payments ----------------------------------
# Real books put A/R in more places (tests/fixtures/quickbooks/NOTES.md): a journal entry line on
# an A/R account with a customer (a charge when it debits A/R, a credit when it credits it; a
# write-off when the other side is a bad-debt account), a bank deposit line crediting A/R (money
# received), a cheque or expense on A/R refunding a customer's credit (a charge), a credit-card
# credit on A/R (a credit), and a deposit taken on the invoice itself. Each becomes a canonical
# row named after its record and line, and `made_by` names the record, so an edit replaces them.


@dataclass(frozen=True)
class Accounts:
    """The company's A/R accounts and bad-debt expense accounts, from its Account list (a
    company may have several A/R accounts: match on the type, never the name)."""

    receivable: frozenset[str]
    bad_debt: frozenset[str]


def accounts(records: list[dict]) -> Accounts:
    return Accounts(
        frozenset(r["Id"] for r in records if r.get("AccountType") == "Accounts Receivable"),
        frozenset(r["Id"] for r in records if r.get("AccountSubType") == "BadDebts"),
    )


def _line_customer(entity: dict | None) -> str | None:
    """A line's customer: JournalEntry {"Type": "Customer", "EntityRef": {...}}, Deposit
    {"value", "type": "CUSTOMER"}."""
    if not entity:
        return None
    if "EntityRef" in entity:
        return entity["EntityRef"].get("value") if (entity.get("Type") or "").lower() == "customer" else None
    return entity.get("value") if (entity.get("type") or "customer").lower() == "customer" else None


def _item(record: dict, entity: str, line: dict, customer: str, home_currency: str) -> dict:
    """What every derived A/R item shares: its id, customer, date, currency and its record."""
    amount = money(line.get("Amount"), record, entity, "Line.Amount")
    return {"customer_id": customer, "txn_date": _required_day(record, entity), "currency": _currency(record, home_currency),
            "exchange_rate": _rate(record), "status": "voided" if is_voided(record) else "posted",
            "updated_at": _updated(record), "made_by": f"{entity}:{record['Id']}",
            "_id": f"{entity}:{record['Id']}:{line.get('Id', line.get('LineNum', ''))}", "_amount": amount}


def _as_charge(item: dict, record: dict, doc_type: str) -> tuple[str, dict]:
    rate = item["exchange_rate"]
    return "invoices", {**{k: v for k, v in item.items() if not k.startswith("_")}, "invoice_id": item["_id"],
                        "doc_number": record.get("DocNumber"), "due_date": None, "total": item["_amount"],
                        "home_total": home_amount(item["_amount"], rate), "kind": "other", "doc_type": doc_type}


def _as_credit(item: dict, doc_type: str, write_off: bool = False) -> tuple[str, dict]:
    return "credit_memos", {**{k: v for k, v in item.items() if not k.startswith("_")}, "credit_memo_id": item["_id"],
                            "total": item["_amount"], "unapplied_amount": None, "is_write_off": write_off,
                            "doc_type": doc_type}


def journal_entry_items(record: dict, books: Accounts, home_currency: str) -> list[tuple[str, dict]]:
    """A journal entry's lines on A/R with a customer: debits are charges, credits are credits
    (a write-off when the entry debits a bad-debt account)."""
    lines = [line for line in record.get("Line", []) if line.get("DetailType") == "JournalEntryLineDetail"]
    writes_off = any(_ref(line["JournalEntryLineDetail"], "AccountRef") in books.bad_debt
                     and line["JournalEntryLineDetail"].get("PostingType") == "Debit" for line in lines)
    items = []
    for line in lines:
        detail = line["JournalEntryLineDetail"]
        customer = _line_customer(detail.get("Entity"))
        if _ref(detail, "AccountRef") not in books.receivable or customer is None:
            continue
        item = _item(record, "JournalEntry", line, customer, home_currency)
        items.append(_as_charge(item, record, "journal_entry") if detail.get("PostingType") == "Debit"
                     else _as_credit(item, "journal_entry", writes_off))
    return items


def deposit_items(record: dict, books: Accounts, methods: dict[str, dict], home_currency: str) -> list[tuple[str, dict]]:
    """A bank deposit's lines crediting A/R for a customer: money received from that customer."""
    items = []
    for line in record.get("Line", []):
        detail = line.get("DepositLineDetail") or {}
        customer = _line_customer(detail.get("Entity"))
        if _ref(detail, "AccountRef") not in books.receivable or customer is None:
            continue
        item = _item(record, "Deposit", line, customer, home_currency)
        items.append(("payments", {**{k: v for k, v in item.items() if not k.startswith("_")}, "payment_id": item["_id"],
                                   "amount": item["_amount"], "unapplied_amount": None, "doc_type": "deposit",
                                   "method": payment_method_kind(methods.get(_ref(detail, "PaymentMethodRef")))}))
    return items


def purchase_items(record: dict, books: Accounts, home_currency: str) -> list[tuple[str, dict]]:
    """A cheque, cash expense or card charge on A/R for a customer refunds its credit (a charge);
    a credit-card credit on A/R is a credit."""
    items = []
    for line in record.get("Line", []):
        detail = line.get("AccountBasedExpenseLineDetail") or {}
        customer = _ref(detail, "CustomerRef") or (
            _ref(record, "EntityRef") if (record.get("EntityRef") or {}).get("type", "").lower() == "customer" else None)
        if _ref(detail, "AccountRef") not in books.receivable or customer is None:
            continue
        item = _item(record, "Purchase", line, customer, home_currency)
        items.append(_as_credit(item, "card_credit") if record.get("Credit") else _as_charge(item, record, "refund"))
    return items


def invoice_deposit(record: dict, home_currency: str) -> tuple[dict, dict] | None:
    """A deposit taken on the invoice form itself (`Deposit`): money received on the invoice's
    date, applied to it, so its balance is the total less the deposit."""
    deposit = money(record.get("Deposit"), record, "Invoice", "Deposit")
    if deposit <= 0 or is_voided(record):
        return None
    made_by, day = f"Invoice:{record['Id']}", _required_day(record, "Invoice")
    payment = {"payment_id": f"{made_by}:deposit", "customer_id": _customer(record, "Invoice"), "txn_date": day,
               "amount": deposit, "unapplied_amount": money(0), "method": "other", "currency": _currency(record, home_currency),
               "exchange_rate": _rate(record), "status": "posted", "updated_at": _updated(record), "made_by": made_by,
               "doc_type": "invoice_deposit"}
    application = {"application_id": f"{made_by}:deposit", "invoice_id": record["Id"], "payment_id": payment["payment_id"],
                   "credit_memo_id": None, "applied_on": day, "amount": deposit, "made_by": made_by}
    return payment, application


# --- what a payment's lines apply to what ---------------------------------------------------------

_CHARGE_TYPES = {"Invoice": "invoices"}
_CREDIT_TYPES = {"CreditMemo": "credit_memos"}
_DERIVED = {"JournalEntry": "JournalEntry", "Deposit": "Deposit", "Check": "Purchase", "Expense": "Purchase",
            "CreditCardCredit": "Purchase"}


class Links:
    """Finds the canonical item a payment line's LinkedTxn points at, and on which side it is: a
    charge the money pays, or a credit that pays it. `derived` holds the rows made from journal
    entries, deposits and purchases, read in this sync or earlier (table, row)."""

    def __init__(self, derived: list[tuple[str, dict]]):
        self._by_record: dict[str, list[tuple[str, dict]]] = {}
        for table, row in derived:
            self._by_record.setdefault(row["made_by"], []).append((table, row))

    def resolve(self, link: dict, customer: str) -> tuple[str, str, str] | None:
        """('charge' | 'credit', table, canonical id), or None for a link to nothing read."""
        kind, txn = link.get("TxnType"), link.get("TxnId")
        if kind in _CHARGE_TYPES:
            return "charge", _CHARGE_TYPES[kind], txn
        if kind in _CREDIT_TYPES:
            return "credit", _CREDIT_TYPES[kind], txn
        if kind not in _DERIVED:
            return None
        rows = [(table, row) for table, row in self._by_record.get(f"{_DERIVED[kind]}:{txn}", [])
                if row["customer_id"] == customer]
        if link.get("TxnLineId"):
            rows = [(t, r) for t, r in rows if _key(t, r).endswith(f":{link['TxnLineId']}")] or rows
        if len(rows) != 1:
            return None
        table, row = rows[0]
        return ("charge" if table == "invoices" else "credit"), table, _key(table, row)


def _key(table: str, row: dict) -> str:
    return row[{"invoices": "invoice_id", "credit_memos": "credit_memo_id", "payments": "payment_id"}[table]]


def payment_applications(record: dict, links: Links | None = None, warnings: list[str] | None = None) -> list[dict]:
    """The applications one Payment's lines make.

    Each linked transaction is a charge (an invoice, a journal entry debiting A/R, a refund
    cheque or expense) or a credit (a credit memo, a journal entry crediting A/R, a deposit line,
    a card credit). A credit memo applied to an invoice arrives as a Payment (often of 0.00) whose
    lines link both, as two lines or one line with both links. Credits are paired with the charges
    first; what remains of a charge was paid with the payment's own money. A link to nothing read
    is left out and warned about."""
    links = links or Links([])
    customer = _customer(record, "Payment")
    charges: list[list] = []
    credits: list[list] = []
    for line in record.get("Line", []):
        amount = money(line.get("Amount"), record, "Payment", "Line.Amount")
        for link in line.get("LinkedTxn", []):
            found = links.resolve(link, customer)
            if found is None:
                if warnings is not None:
                    warnings.append(f"QuickBooks Payment {record['Id']}: a line links {link.get('TxnType')} "
                                    f"{link.get('TxnId')}, which holds nothing on A/R for its customer; that line was left out")
                continue
            side, table, canonical = found
            (charges if side == "charge" else credits).append([table, canonical, amount])

    applied_on = _required_day(record, "Payment")
    rows = []

    def add(invoice_id: str, amount: Decimal, credit: tuple[str, str] | None) -> None:
        table, canonical = credit or ("payments", record["Id"])
        rows.append({
            "application_id": f"{record['Id']}:{len(rows) + 1}",
            "invoice_id": invoice_id,
            "payment_id": canonical if table == "payments" else record["Id"],
            "credit_memo_id": canonical if table == "credit_memos" else None,
            "applied_on": applied_on,
            "amount": amount,
            "made_by": f"Payment:{record['Id']}",
        })

    for _, invoice_id, remaining in charges:
        while remaining > 0 and credits:
            credit = credits[0]
            used = min(remaining, credit[2])
            add(invoice_id, used, (credit[0], credit[1]))
            remaining -= used
            credit[2] -= used
            if credit[2] == 0:
                credits.pop(0)
        if remaining > 0:
            add(invoice_id, remaining, None)
    return rows


def schedule_row(record: dict, home_currency: str) -> dict | None:
    """A RecurringTransaction wrapping an invoice template; None for other templates or cadences."""
    template = record.get("Invoice")
    if not template:
        return None
    info = template.get("RecurringInfo", {})
    schedule = info.get("ScheduleInfo", {})
    unit = _INTERVALS.get(schedule.get("IntervalType"))
    if unit is None:
        return None
    return {
        "schedule_id": template["Id"],
        "customer_id": _ref(template, "CustomerRef"),
        "name": info.get("Name"),
        "amount": money(template.get("TotalAmt")),
        "currency": _currency(template, home_currency),
        "interval_unit": unit[0],
        "interval_count": int(schedule.get("NumInterval") or 1),
        "start_date": _day(schedule.get("StartDate")),
        "end_date": _day(schedule.get("EndDate")),
        "next_date": _day(schedule.get("NextDate")),
        "active": bool(info.get("Active", True)),
        "updated_at": _updated(template),
    }
