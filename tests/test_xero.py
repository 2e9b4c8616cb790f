"""The Xero connector end to end: the official xero-python SDK against the Xero look-alike in
tests/xero_server.py, writing a real DuckDB file. The books and their figures, worked by hand, are
in tests/xero_ledger.py."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

from core.db import read_only
from metrics import aging_by_customer, kpis, reconciliation_with_source
from tests.xero_ledger import REPORT_DATE, run_sync

D = Decimal


def rows(db, sql, params=None):
    with read_only(db) as con:
        return con.execute(sql, params or []).fetchall()


def aging(db, company_id=None) -> dict[str, tuple]:
    """Per customer: (current, 1-30, 31-60, 61-90, 91+, total, unapplied credit)."""
    with read_only(db) as con:
        frame = aging_by_customer(con, REPORT_DATE, roll_up=False)
    if company_id:
        frame = frame[frame["company_id"] == company_id]
    return {row["customer"]: tuple(row[b] for b in ("current", "1-30", "31-60", "61-90", "91+", "total", "unapplied_credit"))
            for row in frame.to_dict("records")}


def test_a_full_sync_maps_every_xero_shape(xero_server, store, tmp_path):
    db, ids = tmp_path / "xero.duckdb", xero_server.ids
    result = run_sync(xero_server, store, db)
    assert result.kind == "full" and result.summary.warnings == []
    assert rows(db, "SELECT name, home_currency FROM companies") == [("Koala Managed IT", "NZD")]
    # Every contact but the supplier; the archived one inactive; terms and currency from Xero.
    assert rows(db, "SELECT name, active, currency, terms FROM customers ORDER BY name") == [
        ("Alder", True, "NZD", "20 days after the invoice date"), ("Birch", True, "NZD", None),
        ("Cedar", True, "USD", None), ("Dune", True, "NZD", None), ("Elm", False, "NZD", None), ("Fern", True, "NZD", None)]
    # Sales invoices: the voided one kept as voided, the draft and the deleted draft not on A/R, the bill not a sale.
    assert rows(db, "SELECT invoice_id, status FROM invoices WHERE customer_id = ?", [ids["Fern"]]) == [(ids["F_voided"], "voided")]
    assert rows(db, "SELECT count(*) FROM invoices WHERE invoice_id IN (?, ?, ?)", [ids["F_draft"], ids["F_deleted"], ids["bill"]]) == [(0,)]
    assert rows(db, "SELECT currency, exchange_rate, total, home_total FROM invoices WHERE invoice_id = ?", [ids["C1"]]) == [
        ("USD", D("1.60000000"), D("400.00"), D("640.00"))]
    assert rows(db, "SELECT kind, recurring_template_id FROM invoices WHERE invoice_id = ?", [ids["A1"]]) == [("other", None)]
    # Credits: the credit note and its allocation, the prepayment and overpayment as money not yet applied,
    # the refund of the overpayment a charge that the overpayment pays.
    assert rows(db, "SELECT total, unapplied_amount FROM credit_memos") == [(D("100.00"), D("40.00"))]
    assert rows(db, "SELECT invoice_id, amount, applied_on FROM applications WHERE credit_memo_id = ?", [ids["CN"]]) == [
        (ids["B2"], D("60.00"), date(2026, 11, 12))]
    assert rows(db, "SELECT doc_type, amount, unapplied_amount, currency FROM payments WHERE payment_id IN (?, ?) ORDER BY 1",
                [ids["C_prepaid"], ids["D_over"]]) == [("overpayment", D("45.00"), D("30.00"), "NZD"),
                                                       ("prepayment", D("50.00"), D("50.00"), "USD")]
    refund = f"Payment:{ids['D_refund']}:refund"
    assert rows(db, "SELECT doc_type, total, customer_id FROM invoices WHERE invoice_id = ?", [refund]) == [
        ("refund", D("15.00"), ids["Dune"])]
    assert rows(db, "SELECT payment_id, amount FROM applications WHERE invoice_id = ?", [refund]) == [(ids["D_over"], D("15.00"))]
    # The batch payment's two payments, each applied to its invoice.
    assert rows(db, "SELECT a.invoice_id, a.amount FROM applications a JOIN payments p USING (source, company_id, payment_id) "
                    "WHERE p.txn_date = '2026-11-20' ORDER BY 2") == [(ids["B1"], D("80.00")), (ids["A2"], D("120.00"))]
    assert rows(db, "SELECT schedule_id, interval_unit, interval_count, amount, next_date, active FROM recurring_schedules") == [
        (ids["template"], "month", 1, D("120.00"), date(2026, 12, 1), True)]


def test_the_aging_is_the_hand_worked_one_and_reconciles_with_xero_to_the_cent(xero_server, store, tmp_path):
    db = tmp_path / "xero.duckdb"
    run_sync(xero_server, store, db)
    z = D("0.00")
    assert aging(db) == {  # (current, 1-30, 31-60, 61-90, 91+, total, unapplied credit)
        "Alder": (z, z, z, D("300.00"), z, D("300.00"), z),
        "Birch": (D("190.00"), z, z, z, z, D("190.00"), D("40.00")),
        "Cedar": (z, D("480.00"), z, z, z, D("480.00"), D("80.00")),
        "Dune": (z, z, z, z, D("60.00"), D("60.00"), D("30.00")),
        "Elm": (z, z, z, D("35.00"), z, D("35.00"), z),
    }
    with read_only(db) as con:
        compared = reconciliation_with_source(con, REPORT_DATE, source="xero")
        kpi = kpis(con, REPORT_DATE, 90).iloc[0]
    assert (compared["difference"] == 0).all(), compared[compared["difference"] != 0]
    totals = compared[compared["customer_id"] == ""].set_index("bucket")["source"]
    assert totals.to_dict() == {"current": D("190.00"), "1-30": D("330.00"), "31-60": z, "61-90": D("335.00"),
                                "91+": D("60.00"), "total": D("915.00")}
    assert kpi.total_ar == D("1065.00")


def test_two_organisations_side_by_side_in_their_own_currencies(xero_server, store, tmp_path):
    db, wombat = tmp_path / "xero.duckdb", xero_server.wombat
    for tenant in (xero_server.tenant_id, wombat.tenant_id):  # as a sign-in to both leaves them: one token
        store.put("xero", tenant, "xrt-0")
    run_sync(xero_server, store, db, refresh_token=None)
    run_sync(xero_server, store, db, refresh_token=None, tenant_id=wombat.tenant_id)
    assert rows(db, "SELECT name, home_currency FROM companies ORDER BY name") == [
        ("Koala Managed IT", "NZD"), ("Wombat IT Pty Ltd", "AUD")]
    z = D("0.00")
    assert aging(db, wombat.tenant_id) == {"Quokka Clinic": (D("400.00"), D("600.00"), z, z, z, D("1000.00"), z)}
    assert aging(db, xero_server.tenant_id)["Cedar"][1] == D("480.00")  # Koala's books are untouched
    with read_only(db) as con:
        for company in (xero_server.tenant_id, wombat.tenant_id):
            compared = reconciliation_with_source(con, REPORT_DATE, source="xero", company_id=company)
            assert not compared.empty and (compared["difference"] == 0).all()
    # One sign-in, one refresh token for both: each refresh rotated it for both organisations.
    assert store.get("xero", xero_server.tenant_id) == store.get("xero", wombat.tenant_id) == xero_server.current_refresh_token


def table_hashes(db) -> dict[str, str]:
    """What ledgerlight counts, whichever way the rows arrived: every live row of each book table
    (a deleted record kept as 'deleted' is not counted), hashed."""
    queries = {table: f"SELECT * EXCLUDE (updated_at) FROM {table} WHERE status <> 'deleted' ORDER BY ALL"
               for table in ("invoices", "payments", "credit_memos")}
    queries |= {"applications": "SELECT * FROM applications ORDER BY ALL",
                "customers": "SELECT * EXCLUDE (updated_at) FROM customers ORDER BY ALL",
                "recurring_schedules": "SELECT * FROM recurring_schedules ORDER BY ALL"}
    with read_only(db) as con:
        return {table: hashlib.sha256(repr(con.execute(sql).fetchall()).encode()).hexdigest()[:16]
                for table, sql in queries.items()}


def change_everything(server) -> dict[str, str]:
    """One change of every kind: a new invoice, an edit, a payment, a void, deletions (a draft, a
    payment, a batch payment, a repeating invoice), a credit allocated and refunded."""
    books, ids = server.books, server.ids
    server.tick()
    new = books.add_invoice(ids["Fern"], date(2026, 11, 24), "44.00", due=date(2026, 12, 24))        # new
    books.approve_invoice(ids["F_draft"])                                                            # a draft approved
    books.edit_invoice(ids["D1"], total="65.00", due=date(2026, 7, 5))                                # edited
    books.add_payment(ids["E1"], date(2026, 11, 24), "35.00")                                        # paid
    books.delete_payment(ids["A1_paid"])                                                             # a payment deleted
    books.delete_batch_payment(ids["batch"])                                                         # a batch deleted
    books.void_invoice(ids["B1"])                                                                    # voided (now unpaid)
    books.allocate(ids["C_prepaid"], ids["C1"], "50.00", date(2026, 11, 24))                         # a credit used
    books.refund(ids["CN"], date(2026, 11, 24), "40.00")                                             # a credit refunded
    books.delete_repeating_invoice(ids["template"])                                                  # a schedule gone
    doomed = books.add_invoice(ids["Fern"], date(2026, 11, 24), "9.00", status="DRAFT")
    server.tick()
    books.delete_invoice(doomed)                                                                     # a draft deleted
    server.tick()
    return {"new": new}


def test_an_incremental_sync_counts_every_change_as_a_full_sync_does(xero_server, store, tmp_path):
    incremental, full = tmp_path / "incremental.duckdb", tmp_path / "full.duckdb"
    run_sync(xero_server, store, incremental)
    change_everything(xero_server)
    xero_server.request_log.clear()
    assert run_sync(xero_server, store, incremental).kind == "incremental"
    asked = {endpoint: headers for endpoint, _, _, headers in xero_server.request_log}
    assert "If-Modified-Since" in asked["invoices"] and "If-Modified-Since" not in asked["contacts"]
    assert run_sync(xero_server, store, full, full=True).kind == "full"
    assert table_hashes(incremental) == table_hashes(full)
    counted, ids = aging(incremental), xero_server.ids
    z = D("0.00")
    # Alder: A1 500.00 open again (its payment deleted), A2 120.00 open again (4 days) after the batch went.
    # Cedar: C1 250.00 USD = 400.00 NZD, the prepayment used up. Dune: D1 65.00, now due 07-05 (143 days).
    # Elm paid. Fern: F_draft 70.00 approved (due 12-03) and the new 44.00, both current. Birch: B1 voided,
    # the credit note refunded.
    assert counted["Alder"] == (z, D("120.00"), z, D("500.00"), z, D("620.00"), z)
    assert counted["Cedar"] == (z, D("400.00"), z, z, z, D("400.00"), z)
    assert counted["Dune"][4:6] == (D("65.00"), D("65.00")) and "Elm" not in counted
    assert counted["Fern"][0] == D("114.00") and counted["Birch"] == (D("190.00"), z, z, z, z, D("190.00"), z)
    assert rows(incremental, "SELECT status FROM invoices WHERE invoice_id = ?", [ids["B1"]]) == [("voided",)]
    assert rows(incremental, "SELECT count(*) FROM recurring_schedules") == [(0,)]
    with read_only(incremental) as con:
        assert (reconciliation_with_source(con, REPORT_DATE, source="xero")["difference"] == 0).all()


def test_nothing_changed_costs_one_request_per_list(xero_server, store, tmp_path):
    db = tmp_path / "xero.duckdb"
    run_sync(xero_server, store, db)
    xero_server.tick()
    xero_server.requests.clear()
    result = run_sync(xero_server, store, db)
    assert result.kind == "incremental"
    assert {k: v for k, v in xero_server.requests.items() if k != "reports"} == {
        "token": 1, "organisation": 1, "currencies": 1, "contacts": 1, "invoices": 1, "creditnotes": 1,
        "overpayments": 1, "prepayments": 1, "payments": 1, "batchpayments": 1, "repeatinginvoices": 1}
    assert xero_server.requests["reports"] == 5  # Alder, Birch, Cedar, Dune, Elm: the contacts with a balance
    assert result.requests == dict(xero_server.requests)
