"""The hand-written queries of bench/bench_handwritten.py give exactly their metric's result: on the
sample book, beside a second company (same customer ids) whose books hold what the rules decide:
a deleted invoice, voided payment and credit memo, a payment dated after its application, a
payment applied to an invoice not yet issued, a statement charge and a journal entry (only the
first a sale), a foreign invoice whose home amount rounds, a negative invoice, two levels of
sub-customers, and disputes open and resolved. A bench whose queries were wrong would time
nothing worth timing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from bench.bench_handwritten import PAIRS, check, differences
from core.access import COLLECTOR, Actor
from core.db import read_only
from etl import activity
from etl.batch import Company
from tests.books import write_book, write_sample_book

AS_OF = date(2026, 3, 31)
SAM = Actor("sam@msp.example", COLLECTOR)
SECOND = Company("test", "c2", "Second MSP", data_through=AS_OF)

# Worked out by hand at 2026-03-31 (due-date basis), company c2:
#   J1  400.00 C6 due 03-01, 30.00 credit memo N1 applied 03-10; Q1's 400.00 applied "03-20" but
#       dated 04-05 (not in effect)                          -> 370.00, 30 dpd, 1-30, under C8
#   J2  200.00 C1 due 04-09, paid by Q2, voided               -> 200.00 current
#   J3  999.00 C7 deleted, Q3's 999.00 applied to it          -> nowhere; Q3 is C7's credit, under C8
#   J4  150.00 C8 statement charge, no due date, dated 01-10, voided credit memo N2 applied
#                                                             -> 150.00, 80 dpd, 61-90; a sale
#   J5   60.00 C8 journal entry due 02-15                     -> 60.00, 44 dpd, 31-60; not a sale
#   J6   75.00 C1 dated 04-05, Q4's 75.00 applied 03-25       -> nowhere; Q4 is C1's credit
#   J7  100.01 EUR at 1.10 C1 due 03-31, 33.33 EUR paid       -> 66.68 EUR = 73.35 home, current
#   J8  -50.00 C1 due 03-15 (a credit keyed as an invoice)    -> -50.00, 16 dpd, 1-30
SECOND_CUSTOMERS = [
    {"customer_id": "C1", "name": "Acme West"},
    {"customer_id": "C8", "name": "Holm Group"},
    {"customer_id": "C7", "name": "Holm North", "parent_id": "C8"},
    {"customer_id": "C6", "name": "Holm North Clinic", "parent_id": "C7"},
]
SECOND_INVOICES = [
    {"invoice_id": "J1", "customer_id": "C6", "txn_date": date(2026, 2, 1), "due_date": date(2026, 3, 1), "total": "400.00"},
    {"invoice_id": "J2", "customer_id": "C1", "txn_date": date(2026, 3, 10), "due_date": date(2026, 4, 9), "total": "200.00"},
    {"invoice_id": "J3", "customer_id": "C7", "txn_date": date(2026, 3, 1), "due_date": date(2026, 3, 31), "total": "999.00",
     "status": "deleted"},
    {"invoice_id": "J4", "customer_id": "C8", "txn_date": date(2026, 1, 10), "due_date": None, "total": "150.00",
     "doc_type": "statement_charge"},
    {"invoice_id": "J5", "customer_id": "C8", "txn_date": date(2026, 2, 15), "due_date": date(2026, 2, 15), "total": "60.00",
     "doc_type": "journal_entry"},
    {"invoice_id": "J6", "customer_id": "C1", "txn_date": date(2026, 4, 5), "due_date": date(2026, 5, 5), "total": "75.00"},
    {"invoice_id": "J7", "customer_id": "C1", "txn_date": date(2026, 3, 1), "due_date": date(2026, 3, 31), "total": "100.01",
     "currency": "EUR", "exchange_rate": "1.10"},
    {"invoice_id": "J8", "customer_id": "C1", "txn_date": date(2026, 3, 15), "due_date": date(2026, 3, 15), "total": "-50.00"},
]
SECOND_PAYMENTS = [
    {"payment_id": "Q1", "customer_id": "C6", "txn_date": date(2026, 4, 5), "amount": "400.00"},
    {"payment_id": "Q2", "customer_id": "C1", "txn_date": date(2026, 3, 15), "amount": "200.00", "status": "voided"},
    {"payment_id": "Q3", "customer_id": "C7", "txn_date": date(2026, 3, 5), "amount": "999.00"},
    {"payment_id": "Q4", "customer_id": "C1", "txn_date": date(2026, 3, 25), "amount": "75.00"},
    {"payment_id": "Q5", "customer_id": "C1", "txn_date": date(2026, 3, 20), "amount": "33.33", "currency": "EUR",
     "exchange_rate": "1.12"},
]
SECOND_CREDIT_MEMOS = [
    {"credit_memo_id": "N1", "customer_id": "C6", "txn_date": date(2026, 3, 10), "total": "30.00"},
    {"credit_memo_id": "N2", "customer_id": "C8", "txn_date": date(2026, 2, 1), "total": "10.00", "status": "voided"},
]
SECOND_APPLICATIONS = [
    {"application_id": "B1", "invoice_id": "J1", "payment_id": "Q1", "applied_on": date(2026, 3, 20), "amount": "400.00"},
    {"application_id": "B2", "invoice_id": "J2", "payment_id": "Q2", "applied_on": date(2026, 3, 15), "amount": "200.00"},
    {"application_id": "B3", "invoice_id": "J3", "payment_id": "Q3", "applied_on": date(2026, 3, 5), "amount": "999.00"},
    {"application_id": "B4", "invoice_id": "J6", "payment_id": "Q4", "applied_on": date(2026, 3, 25), "amount": "75.00"},
    {"application_id": "B5", "invoice_id": "J7", "payment_id": "Q5", "applied_on": date(2026, 3, 20), "amount": "33.33"},
    {"application_id": "B6", "invoice_id": "J1", "payment_id": None, "credit_memo_id": "N1", "applied_on": date(2026, 3, 10),
     "amount": "30.00"},
    {"application_id": "B7", "invoice_id": "J4", "payment_id": None, "credit_memo_id": "N2", "applied_on": date(2026, 2, 1),
     "amount": "10.00"},
]


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    path = write_sample_book(tmp_path_factory.mktemp("handwritten") / "books.duckdb")
    posted = [[{"status": "posted", **row} for row in rows] for rows in (SECOND_PAYMENTS, SECOND_CREDIT_MEMOS)]
    write_book(path, SECOND_CUSTOMERS, SECOND_INVOICES, *posted, SECOND_APPLICATIONS, company=SECOND)
    activity.open_dispute(path, SAM, "C1", "I2", "Hours not agreed", opened_on=date(2026, 3, 10),
                          source="test", company_id="c1")
    settled = activity.open_dispute(path, SAM, "C8", "J4", "Wrong rate", opened_on=date(2026, 2, 1),
                                    source="test", company_id="c2")
    activity.resolve_dispute(path, SAM, settled, "Rate confirmed", resolved_on=date(2026, 3, 1))
    return path


@pytest.mark.parametrize("pair", PAIRS, ids=[pair.metric for pair in PAIRS])
def test_each_hand_written_query_gives_its_metrics_result(books, pair):
    with read_only(books) as con:
        check(con, pair, AS_OF)


def test_the_hand_written_aging_follows_the_rules_worked_out_by_hand(books):
    by_customer = next(pair for pair in PAIRS if pair.metric == "aging_by_customer")
    with read_only(books) as con:
        rows = by_customer.handwritten(con, AS_OF).set_index(["company_id", "customer_id"])
    columns = ["current", "1-30", "31-60", "61-90", "91+", "total", "unapplied_credit", "disputed"]
    assert [str(v) for v in rows.loc[("c2", "C8"), columns]] == ["0.00", "370.00", "60.00", "150.00", "0.00",
                                                                  "580.00", "999.00", "0.00"]
    assert [str(v) for v in rows.loc[("c2", "C1"), columns]] == ["273.35", "-50.00", "0.00", "0.00", "0.00",
                                                                  "223.35", "75.00", "0.00"]
    assert rows.loc[("c1", "C1"), "disputed"] == Decimal("200.00")
    assert rows.loc[("c1", "C1"), "customer"] == "Acme Dental" and rows.loc[("c2", "C1"), "customer"] == "Acme West"


def test_a_cent_apart_is_a_difference():
    ours = pd.DataFrame({"bucket": ["current", "1-30"], "amount": [Decimal("600.00"), Decimal("486.67")]})
    assert differences("aging_buckets", ours, ours.copy(), ("bucket",)) == []
    theirs = ours.assign(amount=[Decimal("600.00"), Decimal("486.66")])
    assert differences("aging_buckets", ours, theirs, ("bucket",)) == [
        "aging_buckets [bucket=1-30] amount: ledgerlight Decimal('486.67'), by hand Decimal('486.66')"]
    floats = ours.assign(amount=[600.0, 486.67])
    assert len(differences("aging_buckets", ours, floats, ("bucket",))) == 2  # money must stay DECIMAL
