"""QuickBooks Online JSON records -> canonical rows (see ../shared/spec/quickbooks.md).

Pure functions over the raw dicts the API returns (parsed with Decimal for money): the
library's objects fill missing fields with defaults (Balance 0, ExchangeRate 1), so a missing
field would look like a real zero.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from core.errors import SyncError

CENT = Decimal("0.01")
_INTERVALS = {"Weekly": ("week", 1), "Monthly": ("month", 1), "Yearly": ("year", 1)}


def _problem(record: dict, entity: str, field: str, what: str) -> SyncError:
    number = f" ({record['DocNumber']})" if record.get("DocNumber") else ""
    return SyncError(f"QuickBooks {entity} {record.get('Id', '?')}{number}: {field} {what}; correct it in "
                     "QuickBooks and sync again (nothing was written)")


def money(value, record: dict | None = None, entity: str = "", field: str = "") -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0)).quantize(CENT, rounding=ROUND_HALF_UP)
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
        "home_total": money(home_total, record, "Invoice", "HomeTotalAmt") if home_total is not None else money(total * rate),
        "status": "voided" if is_voided(record) else "posted",
        "recurring_template_id": template,
        "kind": "recurring" if template else "other",
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
        "updated_at": _updated(record),
    }


def payment_applications(record: dict) -> list[dict]:
    """The invoice applications carried by one Payment's lines.

    A credit memo applied to an invoice arrives as a Payment (often of 0.00) whose lines link
    the Invoice and the CreditMemo, as two lines or one line with both links. Credit is paired
    with the invoice amounts first; what remains of an invoice line was paid in cash.
    """
    invoice_parts: list[list] = []
    credit_parts: list[list] = []
    for line in record.get("Line", []):
        amount = money(line.get("Amount"), record, "Payment", "Line.Amount")
        for link in line.get("LinkedTxn", []):
            if link.get("TxnType") == "Invoice":
                invoice_parts.append([link["TxnId"], amount])
            elif link.get("TxnType") == "CreditMemo":
                credit_parts.append([link["TxnId"], amount])

    applied_on = _required_day(record, "Payment")
    rows = []

    def add(invoice_id: str, amount: Decimal, credit_memo_id: str | None) -> None:
        rows.append({
            "application_id": f"{record['Id']}:{len(rows) + 1}",
            "invoice_id": invoice_id,
            "payment_id": record["Id"],
            "credit_memo_id": credit_memo_id,
            "applied_on": applied_on,
            "amount": amount,
        })

    for invoice_id, remaining in invoice_parts:
        while remaining > 0 and credit_parts:
            credit = credit_parts[0]
            used = min(remaining, credit[1])
            add(invoice_id, used, credit[0])
            remaining -= used
            credit[1] -= used
            if credit[1] == 0:
                credit_parts.pop(0)
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
