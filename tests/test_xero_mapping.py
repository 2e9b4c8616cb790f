"""Xero records -> canonical rows, one shape at a time, on records shaped as Xero's API reference
shows them (tests/fixtures/xero/NOTES.md)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from core.errors import SyncError
from etl.sources.xero import mapping, report_rows

D = Decimal
CONTACT = {"ContactID": "c-1", "Name": "Alder"}


def invoice(**fields) -> dict:
    return {"Type": "ACCREC", "InvoiceID": "i-1", "InvoiceNumber": "INV-0001", "Contact": CONTACT, "Status": "AUTHORISED",
            "Date": "/Date(1539993600000+0000)/", "DueDate": "/Date(1546128000000+0000)/", "Total": D("46.00"),
            "CurrencyCode": "NZD", "CurrencyRate": D("1.000000"), "UpdatedDateUTC": "/Date(1541176592690+0000)/",
            **fields}


@pytest.mark.parametrize("status, expected", [("AUTHORISED", "posted"), ("PAID", "posted"), ("VOIDED", "voided"),
                                              ("DRAFT", None), ("SUBMITTED", None), ("DELETED", None)])
def test_only_approved_invoices_are_on_ar(status, expected):
    assert mapping.status(invoice(Status=status)) == expected


def test_an_invoice_in_the_base_currency():
    row = mapping.invoice_row(invoice(), "NZD")
    assert (row["txn_date"], row["due_date"], row["total"], row["exchange_rate"], row["home_total"]) == (
        date(2018, 10, 20), date(2018, 12, 30), D("46.00"), D(1), D("46.00"))
    assert row["updated_at"] == datetime(2018, 11, 2, 16, 36, 32, 690000)


def test_currency_rate_is_foreign_units_per_base_unit():
    # 1 NZD = 0.6543 USD: 1,000.00 USD is 1,528.35 NZD; the canonical rate keeps 8 places.
    row = mapping.invoice_row(invoice(Total=D("1000.00"), CurrencyCode="USD", CurrencyRate=D("0.6543")), "NZD")
    assert (row["exchange_rate"], row["home_total"]) == (D("1.52835091"), D("1528.35"))


@pytest.mark.parametrize("fields, message", [
    ({"CurrencyCode": "USD", "CurrencyRate": None}, r"Xero Invoice i-1 \(INV-0001\): CurrencyRate is None, not the rate of a USD document"),
    ({"Total": "forty"}, r"Xero Invoice i-1 \(INV-0001\): Total is 'forty', not an amount"),
    ({"Date": "last Tuesday"}, r"Xero Invoice i-1 \(INV-0001\): Date is 'last Tuesday', not a date"),
])
def test_a_record_that_cannot_be_placed_is_named(fields, message):
    with pytest.raises(SyncError, match=message):
        mapping.invoice_row(invoice(**fields), "NZD")


def test_a_refund_of_an_overpayment_is_a_charge_the_overpayment_pays():
    refund = {"PaymentID": "p-9", "PaymentType": "AROVERPAYMENTPAYMENT", "Status": "AUTHORISED", "Amount": D("15.00"),
              "Date": "/Date(1552521600000+0000)/", "CurrencyRate": D("1.0"),
              "Overpayment": {"OverpaymentID": "o-1", "CurrencyCode": "NZD"}}
    (charge_table, charge), (_, application) = mapping.payment_rows(refund, "NZD", {"o-1": "c-1"})
    assert (charge_table, charge["doc_type"], charge["customer_id"], charge["total"]) == ("invoices", "refund", "c-1", D("15.00"))
    assert (application["invoice_id"], application["payment_id"], application["credit_memo_id"]) == (
        "Payment:p-9:refund", "o-1", None)
    with pytest.raises(SyncError, match="names Overpayment o-1, which this sync does not know"):
        mapping.payment_rows(refund, "NZD", {})


def test_a_credit_note_refund_arrives_as_an_invoice_of_type_accreccredit():
    refund = {"PaymentID": "p-8", "PaymentType": "ARCREDITPAYMENT", "Status": "AUTHORISED", "Amount": D("2.00"),
              "Date": "/Date(1552521600000+0000)/", "CurrencyRate": D("1.0"),
              "Invoice": {"Type": "ACCRECCREDIT", "InvoiceID": "cn-5", "Contact": CONTACT, "CurrencyCode": "NZD"}}
    _, (_, application) = mapping.payment_rows(refund, "NZD", {})
    assert (application["credit_memo_id"], application["payment_id"], application["amount"]) == ("cn-5", None, D("2.00"))
    assert mapping.payment_rows({**refund, "Status": "DELETED"}, "NZD", {}) == []


def test_deleted_allocations_are_not_applications():
    note = {"CreditNoteID": "cn-1", "Contact": CONTACT, "Status": "AUTHORISED", "Date": "/Date(1551744000000+0000)/",
            "Total": D("34.50"), "RemainingCredit": D("32.50"), "CurrencyCode": "NZD",
            "Allocations": [{"AllocationID": "a-1", "Amount": D("2.00"), "Date": "/Date(1551744000000+0000)/",
                             "Invoice": {"InvoiceID": "i-1"}},
                            {"AllocationID": "a-2", "Amount": D("5.00"), "IsDeleted": True, "Invoice": {"InvoiceID": "i-2"}}]}
    rows = mapping.credit_note_rows(note, "NZD")
    assert [(table, row.get("invoice_id"), row.get("amount") or row.get("unapplied_amount")) for table, row in rows] == [
        ("credit_memos", None, D("32.50")), ("applications", "i-1", D("2.00"))]


def test_a_repeating_invoice_every_two_weeks_and_one_that_is_not_scheduled():
    template = {"RepeatingInvoiceID": "r-1", "Type": "ACCREC", "Status": "AUTHORISED", "Contact": CONTACT,
                "Total": D("5750.00"), "CurrencyCode": "NZD", "Reference": "[Week]",
                "Schedule": {"Period": 2, "Unit": "WEEKLY", "StartDate": "/Date(1555286400000+0000)/",
                             "NextScheduledDate": "/Date(1555286400000+0000)/"}}
    row = mapping.schedule_row(template, "NZD")
    assert (row["interval_unit"], row["interval_count"], row["start_date"], row["active"]) == ("week", 2, date(2019, 4, 15), True)
    assert mapping.schedule_row({**template, "Type": "ACCPAY"}, "NZD") is None
    assert mapping.schedule_row({**template, "Status": "DELETED"}, "NZD") is None


def test_the_aged_receivables_report_by_due_date_and_an_opening_balance():
    def row(*values, attributes=True):
        return {"RowType": "Row", "Cells": [{"Value": v, **({"Attributes": [{"Value": "i", "Id": "invoiceID"}]}
                                                             if attributes else {})} for v in values]}
    report = {"Reports": [{"ReportTitles": ["Invoices", "ABC", "From …", "Showing payments to …"], "Rows": [
        {"RowType": "Header", "Cells": [{"Value": v} for v in ("Date", "Number", "Due Date", "", "Total", "Paid",
                                                                "Credited", "Due")]},
        {"RowType": "Section", "Rows": [row("2017-10-10T00:00:00", "Opening Balance", "", "", "", "", "", "7.00",
                                            attributes=False)]},
        {"RowType": "Section", "Rows": [
            row("2018-05-13T00:00:00", "IV1", "2018-06-22T00:00:00", "305 days overdue", "100.00", "0.00", "0.00", "100.00"),
            row("2019-04-23T00:00:00", "INV-0086", "2019-05-07T00:00:00", "", "50.00", "0.00", "0.00", "50.00"),
            row("2019-04-01T00:00:00", "CN-1", "", "", "-20.00", "0.00", "0.00", "-20.00"),
            {"RowType": "SummaryRow", "Cells": [{"Value": v} for v in ("Total", "", "", "", "", "", "", "130.00")]}]},
        {"RowType": "Section", "Rows": [{"RowType": "SummaryRow", "Cells": [
            {"Value": v} for v in ("Closing Balance", "", "", "", "", "", "", "137.00")]}]}]}]}
    warnings = []
    assert report_rows("c-1", report, warnings) == [
        {"customer_id": "c-1", "customer": "ABC", "bucket": f"due:{day}", "amount": D(amount)}
        for day, amount in (("2017-10-10", "7.00"), ("2018-06-22", "100.00"), ("2019-04-01", "-20.00"),
                            ("2019-05-07", "50.00"))] + [
        {"customer_id": "c-1", "customer": "ABC", "bucket": "total", "amount": D("137.00")}]
    assert warnings == ["Xero's aged receivables for ABC start with an opening balance of 7.00; it is compared as due "
                        "on 2017-10-10"]
