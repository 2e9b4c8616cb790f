"""Every A/R shape real QuickBooks books hold, synced end to end through the real intuitlib and
python-quickbooks clients from tests/qbo_server.py, whose payloads follow Intuit's published
documentation and samples (cited per shape in tests/fixtures/quickbooks/NOTES.md, §1-§12).

The company, worked by hand at the report date 2026-11-25 (due-date aging, 30 x 4):
  Alder  INV-A1 100.00 dated 10-01 due 10-31, unpaid: 25 days past due            -> 1-30   100.00
         a late fee by journal entry (Debit A/R) of 25.00 on 11-10, unpaid: 15 days  -> 1-30    25.00
         INV-A2 40.00 dated 09-01 and a journal-entry charge of 20.00 on 09-15, both paid
         by one cheque of 60.00 on 10-20 (a Payment linking an Invoice and a JournalEntry, §1, §2)
  Birch  INV-B1 300.00 dated 05-01, written off on 11-20 by journal entry (Credit A/R, Debit a
         bad-debt account) applied by a 0.00 payment (§2): bad debt, not paid
         INV-B2 80.00 dated 11-01 due 12-01                                          -> current  80.00
  Cedar  INV-C1 50.00 (10-01) and INV-C2 25.00 (10-15) paid from a bank deposit of 75.00 on 11-12
         whose line credits A/R, through a 0.00 payment linking the deposit line (§4)
         INV-C3 52.00 dated 11-20 due 12-20 with a 12.00 deposit on the invoice (§3)  -> current  40.00
  Dune   INV-D1 200.00 (10-05) paid by 215.00 on 11-03: the 15.00 over, refunded by cheque on 11-18
         (the payment edited to link the cheque, Intuit's steps, §5); credit memo CM-D1 100.00 on
         11-01 of which 30.00 refunded by an expense on 11-21 (a 0.00 payment)       -> credit   70.00
  Fir    a credit-card credit on A/R of 10.00 on 11-22 (§5); a RefundReceipt of 40.00 (not A/R, §6)
                                                                                     -> credit   10.00
  Gale   a journal-entry credit (Credit A/R) of 35.00 on 08-01, unapplied           -> credit   35.00
  Hazel  INV-H1 500.00 dated 11-15 due 12-15, its note "Voided cheque replaced by ACH" (live, §7)
                                                                                     -> current 500.00
Totals: current 620.00, 1-30 125.00, total 745.00; unapplied credit 115.00.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.db import read_only
from core.errors import SyncError
from metrics import aging_by_customer, invoice_payment_days, kpis, reconciliation_with_source
from tests.qbo_server import QuickBooksServer
from tests.quickbooks_ledger import REPORT_DATE, SERVER_NOW, run_sync, tick

D = Decimal
NAMES = ("Alder", "Birch", "Cedar", "Dune", "Fir", "Gale", "Hazel")


def build_shapes(server: QuickBooksServer) -> dict[str, str]:
    ids = {name: server.add_customer(name) for name in NAMES}
    bad_debt = server.add_account("Bad debts", "Expense", "BadDebts")
    ids["A1"] = server.add_invoice(ids["Alder"], date(2026, 10, 1), "100.00", due_date=date(2026, 10, 31), doc_number="INV-A1")
    ids["A_fee"] = server.add_journal_charge(ids["Alder"], date(2026, 11, 10), "25.00")
    ids["A2"] = server.add_invoice(ids["Alder"], date(2026, 9, 1), "40.00", due_date=date(2026, 10, 1), doc_number="INV-A2")
    ids["A_charge"] = server.add_journal_charge(ids["Alder"], date(2026, 9, 15), "20.00")
    ids["A_cheque"] = server.add_payment(ids["Alder"], date(2026, 10, 20), "60.00",
                                         {ids["A2"]: "40.00", ("JournalEntry", ids["A_charge"]): "20.00"})
    ids["B1"] = server.add_invoice(ids["Birch"], date(2026, 5, 1), "300.00", due_date=date(2026, 5, 31), doc_number="INV-B1")
    ids["B_writeoff"], ids["B_writeoff_payment"] = server.write_off(
        ids["Birch"], date(2026, 11, 20), "300.00", bad_debt_account_id=bad_debt, invoice_id=ids["B1"])
    ids["B2"] = server.add_invoice(ids["Birch"], date(2026, 11, 1), "80.00", due_date=date(2026, 12, 1), doc_number="INV-B2")
    ids["C1"] = server.add_invoice(ids["Cedar"], date(2026, 10, 1), "50.00", due_date=date(2026, 10, 31), doc_number="INV-C1")
    ids["C2"] = server.add_invoice(ids["Cedar"], date(2026, 10, 15), "25.00", due_date=date(2026, 11, 14), doc_number="INV-C2")
    ids["C_deposit"] = server.add_customer_deposit(ids["Cedar"], date(2026, 11, 12), "75.00")
    ids["C_application"] = server.add_payment(ids["Cedar"], date(2026, 11, 12), "0", {
        ids["C1"]: "50.00", ids["C2"]: "25.00", ("Deposit", ids["C_deposit"]): "75.00"})
    ids["C3"] = server.add_invoice(ids["Cedar"], date(2026, 11, 20), "52.00", due_date=date(2026, 12, 20),
                                   deposit="12.00", doc_number="INV-C3")
    ids["D1"] = server.add_invoice(ids["Dune"], date(2026, 10, 5), "200.00", due_date=date(2026, 11, 4), doc_number="INV-D1")
    ids["D_overpaid"] = server.add_payment(ids["Dune"], date(2026, 11, 3), "215.00", {ids["D1"]: "200.00"})
    ids["D_refund"], _ = server.refund_credit(ids["Dune"], date(2026, 11, 18), "15.00", ("Payment", ids["D_overpaid"]))
    ids["D_memo"] = server.add_credit_memo(ids["Dune"], date(2026, 11, 1), "100.00", doc_number="CM-D1")
    ids["D_expense"], _ = server.refund_credit(ids["Dune"], date(2026, 11, 21), "30.00", ("CreditMemo", ids["D_memo"]),
                                               kind="Expense")
    ids["F_card_credit"] = server.add_refund(ids["Fir"], date(2026, 11, 22), "10.00", kind="CreditCardCredit")
    server.add_refund_receipt(ids["Fir"], date(2026, 11, 10), "40.00")
    ids["G_credit"] = server.add_journal_credit(ids["Gale"], date(2026, 8, 1), "35.00")
    ids["H1"] = server.add_invoice(ids["Hazel"], date(2026, 11, 15), "500.00", due_date=date(2026, 12, 15),
                                   private_note="Voided cheque replaced by ACH", doc_number="INV-H1")
    return ids


@pytest.fixture
def shapes(monkeypatch):
    monkeypatch.setenv("LEDGERLIGHT_TODAY", REPORT_DATE.isoformat())
    with QuickBooksServer(now=SERVER_NOW) as server:
        server.ids = build_shapes(server)
        tick(server)
        yield server


def aging(db, as_of=REPORT_DATE) -> dict[str, tuple]:
    """Per customer: (current, 1-30, total, unapplied credit)."""
    with read_only(db) as con:
        frame = aging_by_customer(con, as_of, roll_up=False)
    return {row["customer"]: (row["current"], row["1-30"], row["total"], row["unapplied_credit"])
            for row in frame.to_dict("records")}


def test_every_shape_loads_ages_and_reconciles_to_the_cent(shapes, store, tmp_path):
    db = tmp_path / "shapes.duckdb"
    result = run_sync(shapes, store, db)
    assert result.kind == "full" and result.summary.warnings == []
    assert aging(db) == {  # (current, 1-30, total, unapplied credit)
        "Alder": (D("0.00"), D("125.00"), D("125.00"), D("0.00")),
        "Birch": (D("80.00"), D("0.00"), D("80.00"), D("0.00")),
        "Cedar": (D("40.00"), D("0.00"), D("40.00"), D("0.00")),
        "Dune": (D("0.00"), D("0.00"), D("0.00"), D("70.00")),
        "Fir": (D("0.00"), D("0.00"), D("0.00"), D("10.00")),
        "Gale": (D("0.00"), D("0.00"), D("0.00"), D("35.00")),
        "Hazel": (D("500.00"), D("0.00"), D("500.00"), D("0.00")),
    }
    with read_only(db) as con:
        compared = reconciliation_with_source(con, REPORT_DATE)
        kpi = kpis(con, REPORT_DATE, 90).iloc[0]
        paid = invoice_payment_days(con, REPORT_DATE).set_index("doc_number")
    assert (compared["difference"] == 0).all(), compared[compared["difference"] != 0]
    totals = compared[compared["customer_id"] == ""].set_index("bucket")["source"]
    assert (totals["current"], totals["1-30"], totals["91+"], totals["total"]) == (
        D("620.00"), D("125.00") - D("70.00") - D("10.00"), D("-35.00"), D("745.00") - D("115.00"))
    # Credit sales in the 90-day window, the three months to 11-25 (08-26 on, 92 days; docs/metrics.md):
    # A1 100, A2 40, B2 80, C1 50, C2 25, C3 52, D1 200, H1 500 = 1,047.00 (journal-entry charges
    # and refunds are not sales). Bad debt: 300.00.
    assert (kpi.total_ar, kpi.credit_sales, kpi.days_in_window) == (D("745.00"), D("1047.00"), 92)
    assert round(kpi.dso, 2) == round(745 / 1047 * 92, 2) == 65.46
    assert round(kpi.bad_debt_ratio, 4) == round(300 / 1047, 4)
    # Days to pay: A2 49 (09-01 -> 10-20), C1 42 and C2 28 (-> 11-12), D1 29 (10-05 -> 11-03);
    # B1 was written off, not paid; C3 still owes 40.00.
    assert paid["days_to_pay"].to_dict() == {"INV-A2": 49, "INV-D1": 29, "INV-C1": 42, "INV-C2": 28}


def books_as_counted(db) -> dict:
    """What ledgerlight counts, whichever way the rows arrived: the aging with credits, days to pay,
    the KPIs, and every live row of the canonical tables (a deleted record kept as 'deleted' and a
    merged-away customer kept inactive are not counted)."""
    with read_only(db) as con:
        rows = {
            table: con.execute(f"SELECT * EXCLUDE (updated_at) FROM {table} WHERE status <> 'deleted' ORDER BY ALL").fetchall()
            for table in ("invoices", "payments", "credit_memos")
        }
        rows["applications"] = con.execute("SELECT * EXCLUDE (application_id) FROM applications ORDER BY ALL").fetchall()
        rows["customers"] = con.execute(
            "SELECT customer_id, name, parent_id FROM customers WHERE active ORDER BY ALL").fetchall()
        paid = invoice_payment_days(con, REPORT_DATE)[["invoice_id", "settled_on", "days_to_pay"]].values.tolist()
        kpi = kpis(con, REPORT_DATE, 90).iloc[0][["total_ar", "credit_sales", "dso", "bad_debt_ratio"]].tolist()
    return {"aging": aging(db), "paid": sorted(paid), "kpis": kpi, **rows}


def change_everything(server: QuickBooksServer) -> None:
    """One change of every kind (issue 10): an edit, a deletion, a void, a new payment, a re-applied
    payment, a refund, a journal entry, a merge of two customers."""
    ids = server.ids
    tick(server)
    server.edit_invoice(ids["B2"], total="95.00")                                         # edit
    doomed = server.add_invoice(ids["Hazel"], date(2026, 11, 16), "7.00", due_date=date(2026, 11, 16))
    tick(server)
    server.delete_invoice(doomed)                                                         # delete
    server.void_payment(ids["A_cheque"])                                                  # void: A2 and the charge open again
    server.add_payment(ids["Alder"], date(2026, 11, 24), "100.00", {ids["A1"]: "100.00"})  # new payment
    server.edit_payment(ids["C_application"], applied={ids["C1"]: "50.00", ("Deposit", ids["C_deposit"]): "50.00"})  # re-applied
    server.refund_credit(ids["Gale"], date(2026, 11, 24), "35.00", ("JournalEntry", ids["G_credit"]))  # refund
    server.add_journal_charge(ids["Fir"], date(2026, 11, 23), "12.50")                    # journal entry
    server.merge_customers(ids["Fir"], ids["Gale"])                                       # merge
    tick(server)


def test_an_incremental_sync_counts_every_change_as_a_full_sync_does(shapes, store, tmp_path):
    incremental, full = tmp_path / "incremental.duckdb", tmp_path / "full.duckdb"
    run_sync(shapes, store, incremental)
    change_everything(shapes)
    assert run_sync(shapes, store, incremental).kind == "incremental"
    assert run_sync(shapes, store, full, full=True).kind == "full"
    assert books_as_counted(incremental) == books_as_counted(full)
    counted = aging(incremental)
    # Alder: A1 paid (11-24); A2 40.00 (55 days past due: 31-60) and both journal charges (25.00 at
    # 15 days, 20.00 at 71 days) open again after the void. Cedar: C2 25.00 open again (11 days).
    # Gale: its credit refunded; Fir merged into it with its 10.00 credit and its 12.50 charge.
    assert counted["Alder"][2] == D("85.00") and counted["Cedar"][2] == D("65.00")
    assert counted["Gale"][2:] == (D("12.50"), D("10.00")) and "Fir" not in counted
    with read_only(incremental) as con:
        assert con.execute("SELECT active FROM customers WHERE customer_id = ?", [shapes.ids["Fir"]]).fetchall() == [(False,)]


def test_a_cdc_answer_of_a_thousand_objects_is_read_again_in_full(shapes, store, tmp_path):
    db = tmp_path / "shapes.duckdb"
    run_sync(shapes, store, db)
    tick(shapes)
    invoices = shapes.add_invoices(shapes.ids["Hazel"], [(date(2026, 11, 24), "1.00")] * 600)
    for invoice in invoices[:401]:  # 600 invoices and 401 payments: 1,001 objects, over the cap
        shapes.add_payment(shapes.ids["Hazel"], date(2026, 11, 24), "1.00", {invoice: "1.00"})
    tick(shapes)
    result = run_sync(shapes, store, db)
    assert result.kind == "full"  # the answer may have been cut at 1,000: everything was read again
    # H1 500.00 current; the 199 new invoices left unpaid are due on their date, 11-24: 1 day late.
    assert aging(db)["Hazel"] == (D("500.00"), D("199.00"), D("699.00"), D("0.00"))


def test_the_home_currency_and_name_come_from_quickbooks(monkeypatch, store, tmp_path):
    monkeypatch.setenv("LEDGERLIGHT_TODAY", REPORT_DATE.isoformat())
    with QuickBooksServer(now=SERVER_NOW, home_currency="AUD", company_name="Koala IT Pty Ltd") as server:
        customer = server.add_customer("Wombat Dental")
        server.add_invoice(customer, date(2026, 11, 2), "110.00", due_date=date(2026, 12, 2))
        tick(server)
        db = tmp_path / "aud.duckdb"
        run_sync(server, store, db, company_name=None)
    with read_only(db) as con:
        assert con.execute("SELECT name, home_currency FROM companies").fetchall() == [("Koala IT Pty Ltd", "AUD")]
        assert con.execute("SELECT currency FROM invoices").fetchall() == [("AUD",)]


def test_a_storm_of_throttling_is_waited_out_and_counted(shapes, store, tmp_path):
    told = []
    shapes.fail_next("query", "429", times=4, retry_after=120)  # QuickBooks says: wait two minutes, four times
    from etl import pipeline
    from etl.sources import quickbooks
    from tests.quickbooks_ledger import settings_for

    result = pipeline.run(tmp_path / "q.duckdb", quickbooks.SOURCE,
                          settings_for(shapes, store, retry_after_cap=0.1), lambda fraction, text: told.append(text))
    assert result.kind == "full"
    assert told.count("QuickBooks is throttling requests: waiting 0.1 s before trying again") == 4
    assert result.requests["query"] == shapes.requests["query"]  # every attempt counted, the retries too


def test_throttling_past_the_budget_fails_clearly_and_is_recorded(shapes, store, tmp_path):
    shapes.fail_next("query", "429", times=50, retry_after=1)
    db = tmp_path / "q.duckdb"
    with pytest.raises(SyncError, match=r"QuickBooks kept throttling the query request after 2 s of waiting"):
        run_sync(shapes, store, db, retry_after_cap=1, wait_budget=2.5)
    with read_only(db) as con:
        # the discovery document, the token, and three tries of the first query
        assert con.execute("SELECT status, requests FROM sync_runs").fetchall() == [("failed", 5)]


@pytest.mark.parametrize("fault", ["503", "reset"])
def test_a_token_endpoint_hiccup_is_tried_again(shapes, store, tmp_path, fault):
    shapes.fail_next("token", fault)
    assert run_sync(shapes, store, tmp_path / "q.duckdb").kind == "full"


def test_a_cut_off_token_answer_keeps_the_token_and_is_recorded(shapes, store, tmp_path):
    db = tmp_path / "q.duckdb"
    shapes.fail_next("token", "truncated")  # the answer is lost before QuickBooks rotated anything
    with pytest.raises(SyncError, match="QuickBooks' answer to the token request was lost .*the stored token was kept"):
        run_sync(shapes, store, db)
    with read_only(db) as con:
        assert con.execute("SELECT status FROM sync_runs").fetchall() == [("failed",)]
    assert run_sync(shapes, store, db).kind == "full"  # the next run goes on with the same token


def test_a_large_company_syncs_in_one_pass(monkeypatch, store, tmp_path):
    """50,000 invoices (50 pages) through the real clients: the server answers each page in time
    linear in its size, so this takes seconds (bench/bench_qbo_server.py measures it)."""
    monkeypatch.setenv("LEDGERLIGHT_TODAY", REPORT_DATE.isoformat())
    with QuickBooksServer(now=SERVER_NOW) as server:
        customer = server.add_customer("Big Client")
        start = date(2022, 1, 1)
        server.add_invoices(customer, [(start + timedelta(days=n % 1000), "10.00") for n in range(50_000)])
        tick(server)
        result = run_sync(server, store, tmp_path / "big.duckdb")
    assert result.counts["invoices"] == 50_000 and result.requests["query"] >= 50
    assert aging(tmp_path / "big.duckdb")["Big Client"][2] == D("500000.00")
