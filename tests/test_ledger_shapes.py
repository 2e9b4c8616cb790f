"""Shapes real books hold that a tidy demo never does, each worked out by hand, and the same figure
in the aging report, the KPIs and the worklist (cases translated from other accounting systems'
A/R tests and from edge cases found by probing: issue 10).

Every book: one customer, Acme (C1), due-date aging as of 2026-03-31 with a 90-day KPI window
(2026-01-01 .. 03-31)."""

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from core.db import read_only
from etl.reports import aging_report, report_date
from metrics import aging_by_customer, collections_worklist, invoice_payment_days, kpis
from tests.books import write_book

D = Decimal
AS_OF = date(2026, 3, 31)
ACME = [{"customer_id": "C1", "name": "Acme"}]


def invoice(invoice_id, day, total, due=None, **extra):
    return {"invoice_id": invoice_id, "customer_id": "C1", "txn_date": day, "due_date": due or day, "total": total, **extra}


def payment(payment_id, day, amount, unapplied="0.00", **extra):
    return {"payment_id": payment_id, "customer_id": "C1", "txn_date": day, "amount": amount,
            "unapplied_amount": unapplied, "method": "check", **extra}


def applied(application_id, invoice_id, day, amount, payment_id=None, credit_memo_id=None):
    return {"application_id": application_id, "invoice_id": invoice_id, "payment_id": payment_id,
            "credit_memo_id": credit_memo_id, "applied_on": day, "amount": amount}


def figures(db, as_of=AS_OF):
    """Acme's A/R by the aging report, the KPIs and the worklist, and its unapplied credit."""
    with read_only(db) as con:
        aging = aging_by_customer(con, as_of)
        kpi = kpis(con, as_of, 90).iloc[0]
        worklist = collections_worklist(con, as_of)
    acme = aging[aging["customer_id"] == "C1"]
    return {
        "aging_total": acme["total"].item() if len(acme) else None,
        "kpi_total_ar": kpi.total_ar,
        "worklist_overdue": worklist["overdue"].sum() if len(worklist) else D("0.00"),
        "credit": acme["unapplied_credit"].item() if len(acme) else None,
        "dso": None if kpi.dso is None else round(kpi.dso, 2),
        "sales": kpi.credit_sales,
    }


def test_a_negative_invoice_is_a_credit_keyed_as_an_invoice(tmp_path):
    # I1 200.00 dated 02-01 (due then: 58 days past due), I2 -50.00 dated 02-15 (a credit keyed as
    # an invoice, 44 days past due). Net A/R 150.00, both overdue; sales 150.00 in the window, so
    # DSO = 150 / 150 x 90 = 90.0 (the positive-only filter gave 200.00 and 120.0).
    db = write_book(tmp_path / "b.duckdb", ACME, [invoice("I1", date(2026, 2, 1), "200.00"),
                                                  invoice("I2", date(2026, 2, 15), "-50.00")])
    assert figures(db) == {"aging_total": D("150.00"), "kpi_total_ar": D("150.00"), "worklist_overdue": D("150.00"),
                           "credit": D("0.00"), "dso": 90.0, "sales": D("150.00")}


def test_an_over_applied_invoice_keeps_its_negative_balance_everywhere(tmp_path):
    # I1 100.00 dated 01-10, due 02-09; a cheque of 120.00 on 02-01 applied 120.00 to it: Acme's
    # A/R is -20.00 in the aging (listed, not dropped) and in the KPIs; nothing is overdue.
    db = write_book(tmp_path / "b.duckdb", ACME, [invoice("I1", date(2026, 1, 10), "100.00", due=date(2026, 2, 9))],
                    [payment("P1", date(2026, 2, 1), "120.00")], applications=[applied("A1", "I1", date(2026, 2, 1), "120.00", "P1")])
    assert figures(db) | {"dso": None} == {"aging_total": D("-20.00"), "kpi_total_ar": D("-20.00"),
                                           "worklist_overdue": D("0.00"), "credit": D("0.00"), "dso": None,
                                           "sales": D("100.00")}


@pytest.mark.parametrize("status", ["voided", "deleted"])
def test_money_applied_to_an_invoice_that_counts_nowhere_is_the_customers_credit(tmp_path, status):
    # I1 300.00 (voided or deleted after a 300.00 payment was applied to it) and I2 80.00 due 03-01:
    # the 300.00 is Acme's credit, shown beside the aging; A/R is I2's 80.00 (30 days past due).
    db = write_book(tmp_path / "b.duckdb", ACME,
                    [invoice("I1", date(2026, 2, 1), "300.00", status=status), invoice("I2", date(2026, 3, 1), "80.00")],
                    [payment("P1", date(2026, 2, 20), "300.00")], applications=[applied("A1", "I1", date(2026, 2, 20), "300.00", "P1")])
    result = figures(db)
    assert (result["aging_total"], result["kpi_total_ar"], result["worklist_overdue"], result["credit"]) == (
        D("80.00"), D("80.00"), D("80.00"), D("300.00"))


def test_an_invoice_paid_by_a_voided_payment_is_open_again(tmp_path):
    # I1 250.00 due 02-15, paid by P1 on 02-20, then P1 was voided: I1 is open, 44 days past due.
    db = write_book(tmp_path / "b.duckdb", ACME, [invoice("I1", date(2026, 1, 16), "250.00", due=date(2026, 2, 15))],
                    [payment("P1", date(2026, 2, 20), "250.00", status="voided")],
                    applications=[applied("A1", "I1", date(2026, 2, 20), "250.00", "P1")])
    result = figures(db)
    assert (result["aging_total"], result["kpi_total_ar"], result["worklist_overdue"], result["credit"]) == (
        D("250.00"), D("250.00"), D("250.00"), D("0.00"))
    with read_only(db) as con:
        assert invoice_payment_days(con, AS_OF).empty  # never paid


def test_a_payment_made_before_its_invoice_is_credit_until_the_invoice_exists(tmp_path):
    # P1 100.00 on 03-01 pays I1, which is dated 03-10 (due 03-10): on 03-05 Acme holds 100.00 of
    # credit and owes nothing; from 03-10 both are gone; I1 was paid 0 days late.
    db = write_book(tmp_path / "b.duckdb", ACME, [invoice("I1", date(2026, 3, 10), "100.00")],
                    [payment("P1", date(2026, 3, 1), "100.00")], applications=[applied("A1", "I1", date(2026, 3, 1), "100.00", "P1")])
    assert figures(db, date(2026, 3, 5))["credit"] == D("100.00")
    assert figures(db, date(2026, 3, 5))["aging_total"] == D("0.00")
    assert figures(db, date(2026, 3, 10))["credit"] is None  # nothing open, nothing unapplied: not listed
    with read_only(db) as con:
        paid = invoice_payment_days(con, AS_OF).iloc[0]
    assert (paid.settled_on, paid.days_to_pay, paid.days_late) == (date(2026, 3, 10), 0, 0)


def test_a_report_can_be_asked_for_when_only_a_prepayment_exists(tmp_path):
    # A prepayment of 100.00 on 01-05 and the invoice it pays on 01-20: at 01-10 the books hold
    # the prepayment, so the report is answered (not "before the first invoice").
    db = write_book(tmp_path / "b.duckdb", ACME, [invoice("I1", date(2026, 1, 20), "100.00")],
                    [payment("P1", date(2026, 1, 5), "100.00")], applications=[applied("A1", "I1", date(2026, 1, 5), "100.00", "P1")])
    with read_only(db) as con:
        as_of = report_date(con, date(2026, 1, 10), AS_OF)
        report = aging_report(con, as_of)
    assert report["totals"]["unapplied_credit"] == "100.00" and report["totals"]["total"] == "0.00"


def test_a_credit_memo_partly_refunded_by_cheque_keeps_the_rest(tmp_path):
    # CM1 100.00 on 02-01; 30.00 of it refunded by cheque on 02-10 (an A/R item of its own, a
    # refund, paid by the credit through a 0.00 payment): Acme keeps 70.00 of credit. The refund is
    # not a sale: credit sales in the window are I1's 400.00 only.
    db = write_book(
        tmp_path / "b.duckdb", ACME,
        [invoice("I1", date(2026, 3, 15), "400.00"), invoice("R1", date(2026, 2, 10), "30.00", doc_type="refund")],
        [payment("P0", date(2026, 2, 10), "0.00")],
        [{"credit_memo_id": "CM1", "customer_id": "C1", "txn_date": date(2026, 2, 1), "total": "100.00",
          "unapplied_amount": "70.00"}],
        [applied("A1", "R1", date(2026, 2, 10), "30.00", "P0", "CM1")],
    )
    result = figures(db)
    assert (result["aging_total"], result["credit"], result["sales"]) == (D("400.00"), D("70.00"), D("400.00"))
    with read_only(db) as con:
        assert list(invoice_payment_days(con, AS_OF)["invoice_id"]) == []  # a refund has no days to pay
        frame = pd.DataFrame(aging_report(con, AS_OF)["customers"])
    assert frame.loc[0, "unapplied_credit"] == "70.00"
