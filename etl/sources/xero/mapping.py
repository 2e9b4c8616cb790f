"""Xero Accounting API JSON records -> canonical rows, mapped as QuickBooks' are
(etl/sources/quickbooks/mapping.py): the same tables, document types and `made_by` links. What each
Xero shape means, and the documents it follows: tests/fixtures/xero/NOTES.md.

- A Contact is a customer (archived ones stay, inactive: they can still owe).
- A sales invoice (`ACCREC`) AUTHORISED or PAID is a posted invoice, VOIDED a voided one; DRAFT
  and SUBMITTED (awaiting approval) are not A/R yet and DELETED never was, so none of these load.
- A Payment on a sales invoice (`ACCRECPAYMENT`) is money received and applied to that one invoice.
  A payment refunding a credit (`ARCREDITPAYMENT` on a credit note, `AROVERPAYMENTPAYMENT`,
  `ARPREPAYMENTPAYMENT`) pays the customer back: a charge (doc_type 'refund', as QuickBooks' refund
  cheques) that the credit pays.
- A sales credit note (`ACCRECCREDIT`) is a credit memo; an overpayment or prepayment received is
  money not yet applied (a payment with doc_type 'overpayment' / 'prepayment'). Their allocations
  to invoices are applications; what Xero says is left (`RemainingCredit`) is the unapplied amount.
- A repeating sales invoice is a recurring schedule.

Amounts are in the document's currency. Xero's `CurrencyRate` is units of that currency per unit of
the organisation's base currency, the inverse of the canonical `exchange_rate` (base units per
unit of the document's currency), kept to 8 places.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from xero_python.api_client.deserializer import deserialize

from core.errors import SyncError
from etl.amounts import cents, home_amount

RATE_PLACES = Decimal("0.00000001")
POSTED = {"AUTHORISED": "posted", "PAID": "posted", "VOIDED": "voided"}  # anything else is not A/R
_UNITS = {"WEEKLY": "week", "MONTHLY": "month"}
_TERMS = {"DAYSAFTERBILLDATE": "{} days after the invoice date", "DAYSAFTERBILLMONTH": "{} days after the invoice month",
          "OFCURRENTMONTH": "day {} of the invoice month", "OFFOLLOWINGMONTH": "day {} of the following month"}
# Payment types on the receivables side, and what a refund pays back.
INVOICE_PAYMENT = "ACCRECPAYMENT"
REFUNDS = {"ARCREDITPAYMENT": "CreditNote", "AROVERPAYMENTPAYMENT": "Overpayment", "ARPREPAYMENTPAYMENT": "Prepayment"}
CREDITS = {"CreditNote": ("credit_memos", "CreditNoteID"), "Overpayment": ("payments", "OverpaymentID"),
           "Prepayment": ("payments", "PrepaymentID")}
_NUMBERS = {"Invoice": "InvoiceNumber", "CreditNote": "CreditNoteNumber"}


def problem(record: dict, entity: str, field: str, what: str) -> SyncError:
    key = next((record[k] for k in (f"{entity}ID", "ContactID", "PaymentID") if record.get(k)), "?")
    number = record.get(_NUMBERS.get(entity, ""))
    shown = f" ({number})" if number else ""
    return SyncError(f"Xero {entity} {key}{shown}: {field} {what}; correct it in Xero and sync again "
                     "(nothing was written)")


def money(record: dict, entity: str, field: str) -> Decimal:
    value = record.get(field)
    try:
        return cents(value)
    except InvalidOperation:
        raise problem(record, entity, field, f"is {value!r}, not an amount") from None


def day(value) -> date | None:
    """A Xero date: '/Date(1539993600000+0000)/' (JSON) or '2018-10-20T00:00:00' (the …String fields)."""
    if not value:
        return None
    text = str(value)
    if text.startswith("/Date("):
        return deserialize("date[ms-format]", text, None)
    return date.fromisoformat(text[:10])


def moment(value) -> datetime | None:
    """A Xero timestamp as naive UTC."""
    if not value:
        return None
    stamp = deserialize("datetime[ms-format]", str(value), None)
    return stamp.astimezone(timezone.utc).replace(tzinfo=None) if stamp.tzinfo else stamp


def _required_day(record: dict, entity: str, field: str = "Date") -> date:
    try:
        found = day(record.get(field))
    except (ValueError, TypeError):
        raise problem(record, entity, field, f"is {record.get(field)!r}, not a date") from None
    if found is None:
        raise problem(record, entity, field, "is missing")
    return found


def _updated(record: dict, entity: str) -> datetime | None:
    try:
        return moment(record.get("UpdatedDateUTC"))
    except (ValueError, TypeError):
        raise problem(record, entity, "UpdatedDateUTC", f"is {record.get('UpdatedDateUTC')!r}, not a time") from None


def contact_of(record: dict, entity: str) -> str:
    contact = (record.get("Contact") or {}).get("ContactID")
    if not contact:
        raise problem(record, entity, "Contact", "is missing (every A/R item belongs to a contact)")
    return contact


def currency(record: dict, home_currency: str) -> str:
    return record.get("CurrencyCode") or home_currency


def exchange_rate(record: dict, entity: str, home_currency: str) -> Decimal:
    """Base-currency units per unit of the record's currency: 1 / CurrencyRate."""
    if currency(record, home_currency) == home_currency:
        return Decimal(1)
    try:
        rate = Decimal(str(record.get("CurrencyRate")))
    except InvalidOperation:
        rate = Decimal(0)
    if not rate.is_finite() or rate <= 0:
        raise problem(record, entity, "CurrencyRate", f"is {record.get('CurrencyRate')!r}, not the rate of a "
                      f"{record.get('CurrencyCode')} document")
    return (1 / rate).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def status(record: dict) -> str | None:
    """'posted' or 'voided', or None: not on A/R (a draft, awaiting approval, or deleted)."""
    return POSTED.get(record.get("Status"))


def _terms(contact: dict) -> str | None:
    sales = (contact.get("PaymentTerms") or {}).get("Sales") or {}
    text = _TERMS.get(sales.get("Type"))
    return text.format(sales.get("Day")) if text and sales.get("Day") is not None else None


def customer_row(record: dict, home_currency: str) -> dict:
    return {
        "customer_id": record["ContactID"],
        "name": record.get("Name") or record["ContactID"],
        "parent_id": None,
        "terms": _terms(record),
        "email": record.get("EmailAddress") or None,
        "currency": record.get("DefaultCurrency") or home_currency,
        "active": record.get("ContactStatus", "ACTIVE") == "ACTIVE",
        "updated_at": _updated(record, "Contact"),
    }


def invoice_row(record: dict, home_currency: str) -> dict:
    total, rate = money(record, "Invoice", "Total"), exchange_rate(record, "Invoice", home_currency)
    template = record.get("RepeatingInvoiceID")
    try:
        due = day(record.get("DueDate"))
    except (ValueError, TypeError):
        raise problem(record, "Invoice", "DueDate", f"is {record.get('DueDate')!r}, not a date") from None
    return {
        "invoice_id": record["InvoiceID"],
        "doc_number": record.get("InvoiceNumber") or None,
        "customer_id": contact_of(record, "Invoice"),
        "txn_date": _required_day(record, "Invoice"),
        "due_date": due,
        "terms": None,
        "total": total,
        "currency": currency(record, home_currency),
        "exchange_rate": rate,
        "home_total": home_amount(total, rate),
        "status": status(record),
        "recurring_template_id": template,
        "kind": "recurring" if template else "other",
        "doc_type": "invoice",
        "made_by": None,
        "updated_at": _updated(record, "Invoice"),
    }


def _allocations(record: dict, entity: str, credit: tuple[str, str]) -> list[dict]:
    """A credit's allocations to invoices, as applications made by the credit."""
    rows = []
    for number, allocation in enumerate(record.get("Allocations") or [], start=1):
        if allocation.get("IsDeleted"):
            continue
        invoice = (allocation.get("Invoice") or {}).get("InvoiceID")
        if not invoice:
            raise problem(record, entity, "Allocations.Invoice", "is missing")
        table, credit_id = credit
        rows.append({
            "application_id": f"{entity}:{credit_id}:{allocation.get('AllocationID') or number}",
            "invoice_id": invoice,
            "payment_id": credit_id if table == "payments" else None,
            "credit_memo_id": credit_id if table == "credit_memos" else None,
            "applied_on": _required_day(allocation if allocation.get("Date") else record, entity),
            "amount": money(allocation, entity, "Amount"),
            "made_by": f"{entity}:{credit_id}",
        })
    return rows


def credit_note_rows(record: dict, home_currency: str) -> list[tuple[str, dict]]:
    """A sales credit note and its allocations."""
    credit_id = record["CreditNoteID"]
    row = {
        "credit_memo_id": credit_id,
        "customer_id": contact_of(record, "CreditNote"),
        "txn_date": _required_day(record, "CreditNote"),
        "total": money(record, "CreditNote", "Total"),
        "unapplied_amount": money(record, "CreditNote", "RemainingCredit"),
        "currency": currency(record, home_currency),
        "exchange_rate": exchange_rate(record, "CreditNote", home_currency),
        "status": status(record),
        "is_write_off": False,
        "doc_type": "credit_memo",
        "made_by": None,
        "updated_at": _updated(record, "CreditNote"),
    }
    allocations = _allocations(record, "CreditNote", ("credit_memos", credit_id)) if row["status"] == "posted" else []
    return [("credit_memos", row), *(("applications", a) for a in allocations)]


def received_credit_rows(record: dict, entity: str, home_currency: str) -> list[tuple[str, dict]]:
    """An overpayment or prepayment received (`entity` 'Overpayment' | 'Prepayment'): money from
    the customer not applied to an invoice when it came, and its allocations."""
    credit_id = record[f"{entity}ID"]
    row = {
        "payment_id": credit_id,
        "customer_id": contact_of(record, entity),
        "txn_date": _required_day(record, entity),
        "amount": money(record, entity, "Total"),
        "unapplied_amount": money(record, entity, "RemainingCredit"),
        "method": "other",
        "currency": currency(record, home_currency),
        "exchange_rate": exchange_rate(record, entity, home_currency),
        "status": status(record),
        "doc_type": entity.lower(),
        "made_by": None,
        "updated_at": _updated(record, entity),
    }
    allocations = _allocations(record, entity, ("payments", credit_id)) if row["status"] == "posted" else []
    return [("payments", row), *(("applications", a) for a in allocations)]


def paid_document(record: dict) -> tuple[str, dict]:
    """What a payment pays: ('Invoice' | 'CreditNote' | 'Overpayment' | 'Prepayment', the nested
    record). A credit note refunded arrives as `Invoice` of Type ACCRECCREDIT."""
    kind = REFUNDS.get(record.get("PaymentType"), "Invoice")
    if kind == "Overpayment" or kind == "Prepayment":
        return kind, record.get(kind) or {}
    nested = record.get("Invoice") or record.get("CreditNote") or {}
    if kind == "CreditNote":
        return kind, {**nested, "CreditNoteID": nested.get("CreditNoteID") or nested.get("InvoiceID")}
    return kind, nested


def payment_rows(record: dict, home_currency: str, known: dict[str, str]) -> list[tuple[str, dict]]:
    """A receivables payment: money applied to one invoice, or a refund paying back a credit.
    `known`: the customer of each document this sync knows, for a payment whose nested document
    names no contact. A deleted payment makes nothing."""
    if record.get("Status") == "DELETED":
        return []
    payment_id = record["PaymentID"]
    kind, document = paid_document(record)
    paid_on = _required_day(record, "Payment")
    amount = money(record, "Payment", "Amount")
    document_currency = {**record, "CurrencyCode": document.get("CurrencyCode") or record.get("CurrencyCode")}
    rate = exchange_rate(document_currency, "Payment", home_currency)
    made_by = f"Payment:{payment_id}"
    if kind == "Invoice":
        invoice = document.get("InvoiceID")
        if not invoice:
            raise problem(record, "Payment", "Invoice", "is missing (a receivables payment pays an invoice)")
        customer = (document.get("Contact") or {}).get("ContactID") or known.get(invoice)
        if not customer:
            raise problem(record, "Payment", "Invoice", f"names invoice {invoice}, which this sync does not know")
        payment = {"payment_id": payment_id, "customer_id": customer, "txn_date": paid_on, "amount": amount, "unapplied_amount": cents(0),
                   "method": "other", "currency": currency(document_currency, home_currency), "exchange_rate": rate,
                   "status": "posted", "doc_type": "payment", "made_by": None, "updated_at": _updated(record, "Payment")}
        application = {"application_id": made_by, "invoice_id": invoice, "payment_id": payment_id,
                       "credit_memo_id": None, "applied_on": paid_on, "amount": amount, "made_by": made_by}
        return [("payments", payment), ("applications", application)]
    table, key = CREDITS[kind]
    credit_id = document.get(key)
    if not credit_id:
        raise problem(record, "Payment", kind, f"is missing (a {record.get('PaymentType')} refunds a {kind})")
    customer = (document.get("Contact") or {}).get("ContactID") or known.get(credit_id)
    if not customer:
        raise problem(record, "Payment", kind, f"names {kind} {credit_id}, which this sync does not know")
    charge_id = f"{made_by}:refund"
    charge = {"invoice_id": charge_id, "doc_number": record.get("Reference") or None, "customer_id": customer,
              "txn_date": paid_on, "due_date": None, "terms": None, "total": amount,
              "currency": currency(document_currency, home_currency), "exchange_rate": rate,
              "home_total": home_amount(amount, rate), "status": "posted", "recurring_template_id": None,
              "kind": "other", "doc_type": "refund", "made_by": made_by, "updated_at": _updated(record, "Payment")}
    application = {"application_id": charge_id, "invoice_id": charge_id,
                   "payment_id": credit_id if table == "payments" else None,
                   "credit_memo_id": credit_id if table == "credit_memos" else None,
                   "applied_on": paid_on, "amount": amount, "made_by": made_by}
    return [("invoices", charge), ("applications", application)]


def schedule_row(record: dict, home_currency: str) -> dict | None:
    """A repeating sales invoice as a recurring schedule; None for bills, deleted templates and
    cadences ledgerlight does not schedule."""
    schedule = record.get("Schedule") or {}
    unit = _UNITS.get(schedule.get("Unit"))
    if record.get("Type") != "ACCREC" or record.get("Status") == "DELETED" or unit is None:
        return None
    entity = "RepeatingInvoice"
    return {
        "schedule_id": record["RepeatingInvoiceID"],
        "customer_id": contact_of(record, entity),
        "name": record.get("Reference") or None,
        "amount": money(record, entity, "Total"),
        "currency": currency(record, home_currency),
        "interval_unit": unit,
        "interval_count": int(schedule.get("Period") or 1),
        "start_date": day(schedule.get("StartDate")),
        "end_date": day(schedule.get("EndDate")),
        "next_date": day(schedule.get("NextScheduledDate")),
        "active": record.get("Status") == "AUTHORISED",
        "updated_at": None,
    }
