"""QuickBooks JSON -> canonical rows, on records shaped as the API sends them."""

from datetime import date
from decimal import Decimal

import pytest

from etl.sources.quickbooks import mapping
from etl.sources.quickbooks import aging_rows as _aging_rows
from metrics.reconciliation import normalised_bucket

D = Decimal


def payment(lines, total="0", unapplied="0"):
    return {"Id": "77", "TxnDate": "2026-03-01", "CustomerRef": {"value": "5"}, "TotalAmt": D(total),
            "UnappliedAmt": D(unapplied), "Line": lines}


def line(amount, *links):
    return {"Amount": D(amount), "LinkedTxn": [{"TxnId": i, "TxnType": t} for t, i in links]}


def applied(rows):
    return [(r["invoice_id"], r["credit_memo_id"], r["amount"]) for r in rows]


def test_cash_payment_of_two_invoices():
    rows = mapping.payment_applications(payment([line("100.00", ("Invoice", "1")), line("20.50", ("Invoice", "2"))], "130.50", "10.00"))
    assert applied(rows) == [("1", None, D("100.00")), ("2", None, D("20.50"))]
    assert {r["applied_on"] for r in rows} == {date(2026, 3, 1)}
    assert [r["application_id"] for r in rows] == ["77:1", "77:2"]


@pytest.mark.parametrize("lines", [
    [line("50.00", ("Invoice", "1")), line("50.00", ("CreditMemo", "9"))],        # two lines
    [line("50.00", ("Invoice", "1"), ("CreditMemo", "9"))],                      # one line, two links
])
def test_credit_memo_applied_through_a_zero_payment(lines):
    assert applied(mapping.payment_applications(payment(lines))) == [("1", "9", D("50.00"))]


def test_payment_mixing_credit_and_cash():
    # 120.00 invoice: 30.00 from credit memo 9, 90.00 in cash (TotalAmt 90.00).
    rows = mapping.payment_applications(payment([line("120.00", ("Invoice", "1")), line("30.00", ("CreditMemo", "9"))], "90.00"))
    assert applied(rows) == [("1", "9", D("30.00")), ("1", None, D("90.00"))]


def test_deposit_link_is_not_an_application():
    assert mapping.payment_applications(payment([line("40.00", ("Deposit", "3"))], "40.00")) == []


def test_voided_and_foreign_invoice():
    voided = mapping.invoice_row({"Id": "1", "TxnDate": "2026-01-01", "CustomerRef": {"value": "5"}, "TotalAmt": 0,
                                  "PrivateNote": "Voided - duplicate"}, {}, "USD")
    assert voided["status"] == "voided" and voided["total"] == D("0.00")
    not_voided = mapping.invoice_row({"Id": "2", "TxnDate": "2026-01-01", "CustomerRef": {"value": "5"},
                                      "TotalAmt": 5, "PrivateNote": "Not Voided"}, {}, "USD")
    assert not_voided["status"] == "posted"  # "Voided" is prepended, so only a prefix counts
    cad = mapping.invoice_row({"Id": "3", "TxnDate": "2026-01-01", "DueDate": "2026-01-31", "CustomerRef": {"value": "5"},
                               "TotalAmt": D("1000.00"), "CurrencyRef": {"value": "CAD"}, "ExchangeRate": D("0.7345"),
                               "HomeTotalAmt": D("734.50"), "SalesTermRef": {"value": "3"},
                               "RecurDataRef": {"value": "88"}}, {"3": "Net 30"}, "USD")
    assert (cad["currency"], cad["exchange_rate"], cad["home_total"], cad["terms"]) == ("CAD", D("0.7345"), D("734.50"), "Net 30")
    assert (cad["kind"], cad["recurring_template_id"], cad["due_date"]) == ("recurring", "88", date(2026, 1, 31))
    missing_rate = mapping.invoice_row({"Id": "4", "TxnDate": "2026-01-01", "CustomerRef": {"value": "5"}, "TotalAmt": D("12.34")}, {}, "USD")
    assert (missing_rate["exchange_rate"], missing_rate["home_total"], missing_rate["due_date"]) == (D("1"), D("12.34"), None)


@pytest.mark.parametrize("method, kind", [
    ({"Type": "CREDIT_CARD", "Name": "Visa"}, "card"), ({"Type": "NON_CREDIT_CARD", "Name": "ACH"}, "ach"),
    ({"Type": "NON_CREDIT_CARD", "Name": "Check"}, "check"), ({"Type": "NON_CREDIT_CARD", "Name": "Cash"}, "cash"),
    ({"Type": "NON_CREDIT_CARD", "Name": "Barter"}, "other"), (None, "other"),
])
def test_payment_method_kind(method, kind):
    assert mapping.payment_method_kind(method) == kind


def test_recurring_template_becomes_a_schedule():
    record = {"Invoice": {"Id": "88", "CustomerRef": {"value": "5"}, "TotalAmt": D("450.00"),
                          "RecurringInfo": {"Name": "Managed services", "RecurType": "Automated", "Active": True,
                                            "ScheduleInfo": {"IntervalType": "Monthly", "NumInterval": 3, "StartDate": "2025-01-01",
                                                             "NextDate": "2026-04-01"}}}}
    row = mapping.schedule_row(record, "USD")
    assert (row["interval_unit"], row["interval_count"], row["amount"], row["next_date"]) == ("month", 3, D("450.00"), date(2026, 4, 1))
    assert mapping.schedule_row({"Bill": {"Id": "1"}}, "USD") is None


def test_aged_receivables_report_rows():
    report = {
        "Columns": {"Column": [{"ColTitle": t} for t in ("", "Current", "1 - 30", "31 - 60", "61 - 90", "91 and over", "Total")]},
        "Rows": {"Row": [
            {"ColData": [{"value": "Acme", "id": "1"}, {"value": "100.00"}, {"value": ""}, {"value": ""}, {"value": ""}, {"value": ""}, {"value": "100.00"}]},
            {"type": "Section", "Header": {"ColData": [{"value": "Birch", "id": "2"}]},
             "Rows": {"Row": [{"ColData": [{"value": "Birch:Annex", "id": "3"}, {"value": ""}, {"value": "20.50"}, {"value": ""}, {"value": ""}, {"value": ""}, {"value": "20.50"}]}]},
             "Summary": {"ColData": [{"value": "Total Birch"}, {"value": ""}, {"value": "20.50"}, {"value": ""}, {"value": ""}, {"value": ""}, {"value": "20.50"}]}},
            {"type": "Section", "group": "GrandTotal", "Summary": {"ColData": [{"value": "TOTAL"}, {"value": "100.00"}, {"value": "20.50"}, {"value": "0.00"}, {"value": "0.00"}, {"value": "0.00"}, {"value": "120.50"}]}},
        ]},
    }
    rows = _aging_rows(report)
    amounts = {(r.customer_id, r.bucket): r.amount for r in rows.itertuples() if r.amount}
    assert amounts == {("1", "Current"): D("100.00"), ("1", "Total"): D("100.00"), ("3", "1 - 30"): D("20.50"),
                       ("3", "Total"): D("20.50"), ("", "Current"): D("100.00"), ("", "1 - 30"): D("20.50"), ("", "Total"): D("120.50")}
    assert [normalised_bucket(t) for t in ("Current", "1 - 30", "91 and over", "Total")] == ["current", "1-30", "91+", "total"]


def invoice(**fields):
    record = {"Id": "130", "DocNumber": "1037", "TxnDate": "2026-03-02", "DueDate": "2026-04-01",
              "CustomerRef": {"value": "5"}, "TotalAmt": D("500.00"), "Balance": D("500.00"),
              "Line": [{"Amount": D("500.00"), "DetailType": "SalesItemLineDetail"},
                       {"Amount": D("500.00"), "DetailType": "SubTotalLineDetail"}]}
    return {**record, **fields}


def test_a_note_that_starts_with_voided_does_not_void_a_live_invoice():
    assert mapping.invoice_row(invoice(PrivateNote="Voided cheque replaced by ACH"), {}, "USD")["status"] == "posted"


def test_a_void_is_what_quickbooks_leaves_of_one():
    # QuickBooks zeroes the total and every line and prepends "Voided" to the note.
    voided = invoice(TotalAmt=D("0"), Balance=D("0"), PrivateNote="Voided",
                     Line=[{"Amount": D("0"), "DetailType": "SalesItemLineDetail"},
                           {"Amount": D("0"), "DetailType": "SubTotalLineDetail"}])
    assert mapping.invoice_row(voided, {}, "USD")["status"] == "voided"


@pytest.mark.parametrize("fields, message", [
    ({"TxnDate": None}, "QuickBooks Invoice 130 (1037): TxnDate is missing; correct it in QuickBooks"),
    ({"TxnDate": "03/02/2026"}, "QuickBooks Invoice 130 (1037): TxnDate is '03/02/2026', not a date"),
    ({"CustomerRef": None}, "QuickBooks Invoice 130 (1037): CustomerRef is missing (every A/R item belongs to a customer)"),
    ({"TotalAmt": "five hundred"}, "QuickBooks Invoice 130 (1037): TotalAmt is 'five hundred', not an amount"),
])
def test_a_malformed_record_is_named_with_its_field(fields, message):
    from core.errors import SyncError

    with pytest.raises(SyncError) as refused:
        mapping.invoice_row(invoice(**fields), {}, "USD")
    assert str(refused.value).startswith(message)
