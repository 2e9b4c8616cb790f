"""Autopay metrics on a hand-built book: inference, adoption, the status split, uplift, failed
charges, the conversion list and the what-if, plus the CLI report and the page.

The book, as of 2026-06-30. Every client gets a 100.00 recurring invoice on the 1st of each month
from January to June, due 15 days later (Net 15):
  A1 Anchor Dental     pays by card on the due date             -> inferred autopay from 2026-01-01
  L1 Lark Legal        pays by card, 20 days late               -> card, but late: never autopay;
                       plus a 500.00 project invoice dated 06-25, due 07-10, unpaid (current)
  M1 Mid-Year Clinic   Jan-Mar by check 20 days late; the roster says autopay (ACH) from 04-01
                       and Apr-Jun are charged on the due date  -> imported from 04-01 (and inferred);
                       plus an 80.00 hardware invoice dated 05-10, due 05-25, charged 05-30 (a failed
                       charge retried 5 days late)
Schedules: A1 1,200.00 a year (100.00 a month), L1 1,000.00 a quarter (333.33), M1 250.00 a month.
"""

from datetime import date, timedelta
from decimal import Decimal

import json

import pytest

from core.errors import InputError
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.books import import_roster
from tests.conftest import client_names
from core.db import read_only
from etl.batch import Company
from metrics import (
    autopay_adoption,
    autopay_adoption_trend,
    autopay_conversion_candidates,
    autopay_enrollment_history,
    autopay_failed_charges,
    autopay_status_as_of,
    autopay_status_split,
    autopay_uplift,
    autopay_what_if,
    kpis,
)
from tests.books import write_book
from tests.test_app import APP
from tests.test_cli import etl_here

D = Decimal
AS_OF = date(2026, 6, 30)
COMPANY = Company("test", "c1", "Hand-made MSP", data_through=AS_OF)  # inference reads up to here
CUSTOMERS = [
    {"customer_id": "A1", "name": "Anchor Dental"},
    {"customer_id": "L1", "name": "Lark Legal"},
    {"customer_id": "M1", "name": "Mid-Year Clinic"},
]


def _paid(invoice_id, customer_id, issued, due, paid, method, total="100.00", kind="recurring"):
    return (
        {"invoice_id": invoice_id, "customer_id": customer_id, "txn_date": issued, "due_date": due, "total": total, "kind": kind},
        {"payment_id": f"P-{invoice_id}", "customer_id": customer_id, "txn_date": paid, "amount": total, "method": method},
        {"application_id": f"A-{invoice_id}", "invoice_id": invoice_id, "payment_id": f"P-{invoice_id}", "applied_on": paid, "amount": total},
    )


def _book() -> tuple[list, list, list]:
    rows = []
    for month in range(1, 7):
        issued = date(2026, month, 1)
        due = issued + timedelta(days=15)
        rows.append(_paid(f"A1-{month}", "A1", issued, due, due, "card"))
        rows.append(_paid(f"L1-{month}", "L1", issued, due, due + timedelta(days=20), "card"))
        rows.append(_paid(f"M1-{month}", "M1", issued, due, due + timedelta(days=20 if month < 4 else 0),
                          "check" if month < 4 else "ach"))
    rows.append(_paid("M1-HW", "M1", date(2026, 5, 10), date(2026, 5, 25), date(2026, 5, 30), "ach", "80.00", "hardware"))
    invoices, payments, applications = (list(column) for column in zip(*rows))
    invoices.append({"invoice_id": "L1-PROJ", "customer_id": "L1", "txn_date": date(2026, 6, 25),
                     "due_date": date(2026, 7, 10), "total": "500.00", "kind": "project"})
    return invoices, payments, applications


def build_book(path, roster="customer,autopay,method,enrolled_on\nMid-Year Clinic,yes,ach,2026-04-01\n"):
    invoices, payments, applications = _book()
    write_book(path, CUSTOMERS, invoices=invoices, payments=payments, applications=applications, company=COMPANY)
    roster_file = path.parent / "roster.csv"
    roster_file.write_text(roster)
    import_roster(path, str(roster_file), imported_on=AS_OF)  # also infers
    return path


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return build_book(tmp_path_factory.mktemp("autopay") / "book.duckdb")


def test_inference_marks_punctual_card_payers_not_late_ones(book):
    with read_only(book) as con:
        history = autopay_enrollment_history(con, AS_OF)
        status = autopay_status_as_of(con, AS_OF)
    periods = {(r.customer_id, r.provenance): (r.valid_from, r.valid_to, r.status, r.method, r.counts)
               for r in history.itertuples()}
    assert periods == {
        # A1: six card payments on the due date -> inferred from its first invoice, still running.
        ("A1", "inferred"): (date(2026, 1, 1), None, "enabled", "card", True),
        # M1: Apr-Jun charged by ACH on the due date -> inferred from 04-01 too, but the import wins.
        ("M1", "inferred"): (date(2026, 4, 1), None, "enabled", "ach", False),
        ("M1", "imported"): (date(2026, 4, 1), None, "enabled", "ach", True),
        # L1 pays by card, but 20 days late: no period at all.
    }
    assert {r.customer_id: (r.on_autopay, r.provenance) for r in status.itertuples()} == {
        "A1": (True, "inferred"), "M1": (True, "imported")}


def test_an_imported_no_wins_over_an_inference(tmp_path):
    path = build_book(tmp_path / "b.duckdb", roster="customer,autopay\nAnchor Dental,no\nMid-Year Clinic,no\n")
    with read_only(path) as con:
        status = autopay_status_as_of(con, AS_OF).set_index("customer_id")
        earlier = autopay_status_as_of(con, date(2026, 6, 29)).set_index("customer_id")
    # The roster of 06-30 says no: from that day the imported 'disabled' rows win over the inferences.
    assert status.loc["A1", ["on_autopay", "provenance"]].tolist() == [False, "imported"]
    assert status.loc["M1", ["on_autopay", "provenance"]].tolist() == [False, "imported"]
    # The day before, only the inferences speak.
    assert earlier.loc["A1", ["on_autopay", "provenance"]].tolist() == [True, "inferred"]


def test_adoption_by_clients_and_mrr(book):
    with read_only(book) as con:
        (now,) = autopay_adoption(con, AS_OF).itertuples()
        trend = autopay_adoption_trend(con, AS_OF, months=6)
    # All three billed in June (active); A1 and M1 on autopay: 2 of 3. Each bills 100.00 on the 1st of
    # every month (recognised as recurring), so invoice-based MRR is 100.00 each: 200.00 of 300.00.
    assert (now.active_recurring_clients, now.autopay_clients, now.total_mrr, now.autopay_secured_mrr) == (
        3, 2, D("300.00"), D("200.00"))
    assert now.adoption_by_clients == pytest.approx(2 / 3)
    assert now.adoption_by_mrr == pytest.approx(200 / 300)
    # A1 on autopay from January, M1 joins in April.
    assert trend["autopay_clients"].tolist() == [1, 1, 1, 2, 2, 2]


def test_payment_speed_split_by_status(book):
    with read_only(book) as con:
        split = autopay_status_split(con, AS_OF, window_days=90).set_index("autopay_status")
        book_kpis = kpis(con, AS_OF, window_days=90).iloc[0]
    autopay, manual = split.loc["autopay"], split.loc["manual"]
    # Settled after 04-01 on autopay: A1 Apr-Jun, M1 Apr-Jun (15 days to pay, on time) and M1's
    # hardware (20 days to pay, 5 late): 7 invoices, (6 x 15 + 20) / 7 days to pay.
    assert autopay["paid_invoices"] == 7
    assert autopay["days_to_pay"] == pytest.approx(110 / 7)
    assert autopay["add_invoice"] == pytest.approx(80 * 5 / 680)
    # Manual: L1's Mar-May and M1's March check, each 35 days to pay and 20 late.
    assert (manual["paid_invoices"], manual["days_to_pay"], manual["add_invoice"]) == (4, 35, 20)
    # Open at 06-30: L1's June invoice (14 days past due) and its current project invoice, 600.00,
    # against 700.00 of manual credit sales since 04-01 (L1 May, June, project).
    assert (manual["total_ar"], manual["current_ar"], manual["credit_sales"]) == (D("600.00"), D("500.00"), D("700.00"))
    assert manual["dso"] == pytest.approx(600 / 700 * 90)
    assert manual["pct_current"] == pytest.approx(500 / 600)
    assert (autopay["total_ar"], autopay["credit_sales"], autopay["dso"]) == (D("0.00"), D("480.00"), 0)
    # The two halves add up to the book.
    assert autopay["total_ar"] + manual["total_ar"] == book_kpis.total_ar


def test_uplift_measured_either_side_of_enrollment(book):
    with read_only(book) as con:
        uplift = autopay_uplift(con, AS_OF).set_index("customer_id")
    m1 = uplift.loc["M1"]
    # Before 04-01: Jan-Mar, 35 days to pay. Since: Apr-Jun (15) and the hardware invoice (20).
    assert (m1["enrolled_on"], m1["invoices_before"], m1["days_to_pay_before"]) == (date(2026, 4, 1), 3, 35)
    assert (m1["invoices_after"], m1["days_to_pay_after"]) == (4, 65 / 4)
    assert m1["uplift_days"] == 35 - 65 / 4
    # A1 was on autopay from its first invoice: nothing to compare with.
    assert uplift.loc["A1", "invoices_before"] == 0 and uplift["uplift_days"].isna()["A1"]


def test_failed_charges_are_late_autopay_invoices(book):
    with read_only(book) as con:
        failed = autopay_failed_charges(con, AS_OF)
    assert failed[["invoice_id", "days_late", "outcome"]].values.tolist() == [["M1-HW", 5, "late"]]


def test_conversion_list_ranks_by_cash_released(book):
    with read_only(book) as con:
        candidates = autopay_conversion_candidates(con, AS_OF)
    (row,) = candidates.itertuples()
    # Only L1 is active and not on autopay. Autopay habit: 400 amount-days late over 980.00 of
    # autopay invoices = 0.408 days; L1 pays 20 days late: MRR 100.00 x 19.592 / (365 / 12) = 64.41.
    assert (row.customer_id, row.mrr, row.weighted_days_late_12m, row.pays_by_card_or_ach) == ("L1", D("100.00"), 20, True)
    assert row.excess_days_late == pytest.approx(20 - 400 / 980)
    assert row.cash_released == D("64.41")


def test_what_if_worked_out_by_hand(book):
    with read_only(book) as con:
        (chosen,) = autopay_what_if(con, AS_OF, customer_ids=("L1",)).itertuples()
        (half,) = autopay_what_if(con, AS_OF, share_of_manual_mrr=0.5).itertuples()
        with pytest.raises(InputError, match="not both or neither"):
            autopay_what_if(con, AS_OF)
        with pytest.raises(InputError, match="unknown customer ids: ZZ"):
            autopay_what_if(con, AS_OF, customer_ids=("ZZ",))
    # On autopay L1's June invoice (14 days past due, more than the 0.41-day habit) would be paid:
    # 100.00 released; the project invoice is not due yet and stays. The KPI window is April to
    # June (91 days, tests/test_kpis.py), so its sales are 1,480.00: April, May and June for three
    # clients (the 04-01 billing included), L1's project, M1's hardware.
    assert (chosen.cash_released, chosen.total_ar_before, chosen.total_ar_after) == (D("100.00"), D("600.00"), D("500.00"))
    assert (chosen.overdue_ar_before, chosen.overdue_ar_after) == (D("100.00"), D("0.00"))
    assert (chosen.dso_before, chosen.dso_after) == (pytest.approx(600 / 1480 * 91), pytest.approx(500 / 1480 * 91))
    assert chosen.selected_mrr == D("100.00")
    # Half of the non-autopay MRR (L1 is all of it): half of what L1 alone would release.
    assert (half.cash_released, half.overdue_ar_after, half.selected_mrr) == (D("50.00"), D("50.00"), D("50.00"))


def test_cli_report_autopay_json_and_csv(book):
    result = etl_here("report", "autopay", "--db", str(book), "--as-of", "2026-06-30", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("adoption_by_clients", "autopay_clients", "active_recurring_clients",
                                   "autopay_secured_mrr", "total_mrr")} == {
        "adoption_by_clients": 0.6667, "autopay_clients": 2, "active_recurring_clients": 3,
        "autopay_secured_mrr": "200.00", "total_mrr": "300.00"}
    assert report["adoption_by_mrr"] == round(200 / 300, 4)
    assert report["by_status"]["manual"] == {
        "paid_invoices": 4, "days_to_pay": 35.0, "days_late": 20.0, "add": 20.0, "dso": 77.14,
        "pct_current": 0.8333, "credit_sales": "700.00", "total_ar": "600.00", "overdue_ar": "100.00"}
    assert report["by_status"]["autopay"]["days_to_pay"] == 15.7
    csv = etl_here("report", "autopay", "--db", str(book), "--as-of", "2026-06-30", "--format", "csv")
    header, *rows = csv.stdout.strip().splitlines()
    assert header.startswith("as_of,currency,window_days,adoption_by_clients") and len(rows) == 2
    assert [row.split(",")[header.split(",").index("autopay_status")] for row in rows] == ["autopay", "manual"]


def test_cli_infer_autopay(book, tmp_path):
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(book.read_bytes())
    result = etl_here("infer", "autopay", "--db", str(copy))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2 inferred autopay periods written")  # A1 and M1, as before


def test_autopay_page_on_the_demo_company(monkeypatch, demo_db):
    from tests.conftest import DEMO_AS_OF

    monkeypatch.setenv("LEDGERLIGHT_DB", str(demo_db))
    st.cache_data.clear()
    page = AppTest.from_file(APP, default_timeout=120).switch_page("pages/autopay.py").run()
    assert not page.exception
    with read_only(demo_db) as con:
        adoption = autopay_adoption(con, DEMO_AS_OF).iloc[0]
        candidates = autopay_conversion_candidates(con, DEMO_AS_OF)
        what_if = autopay_what_if(con, DEMO_AS_OF, customer_ids=tuple(candidates["customer_id"][:10])).iloc[0]
    shown = {m.label: m.value for m in page.metric}
    assert shown["Clients on autopay"] == f"{adoption.autopay_clients} of {adoption.active_recurring_clients}"
    assert shown["One-time cash released"] == f"${what_if.cash_released:,.2f}"  # the top 10 by default
    assert client_names(page.dataframe[1].value["customer"]) == candidates["customer"].tolist()

    page.radio(key="autopay_what_if_by").set_value("a share of non-autopay MRR").run()
    assert not page.exception
    assert {m.label for m in page.metric} >= {"DSO", "Overdue A/R", "One-time cash released"}
