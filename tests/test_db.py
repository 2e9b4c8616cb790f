"""The DuckDB file: versioned migrations, refusing files that are not ours, all-or-nothing loads."""

from datetime import date
from decimal import Decimal

import duckdb
import pandas as pd
import pytest

from core.db import connect_for_write, database_path, migrate, read_only, schema_version
from core.errors import BooksError, DatabaseError
from core.schema import SCHEMA_VERSION
from tests.books import SAMPLE_CUSTOMERS, customers_frame, load_books, write_book


def test_new_file_gets_every_migration(tmp_path):
    con = connect_for_write(tmp_path / "new.duckdb")
    assert schema_version(con) == SCHEMA_VERSION == 9
    con.close()


def test_file_from_version_1_upgrades_in_place_without_loss(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    migrate(con, path, upto=1)  # what the first release wrote
    con.execute("INSERT INTO companies (source, company_id, name) VALUES ('demo', 'd', 'Demo')")
    con.execute("INSERT INTO customers (source, company_id, customer_id, name) VALUES ('demo', 'd', 'C1', 'Acme')")
    con.execute(
        "INSERT INTO invoices (source, company_id, invoice_id, customer_id, txn_date, total, home_total) "
        "VALUES ('demo', 'd', 'I1', 'C1', DATE '2026-01-01', 120.50, 120.50)"
    )
    con.execute(
        "INSERT INTO credit_memos (source, company_id, credit_memo_id, customer_id, txn_date, total) "
        "VALUES ('demo', 'd', 'CM1', 'C1', DATE '2026-01-05', 20.00)"
    )
    con.close()

    with pytest.raises(DatabaseError, match=f"has schema 1; this ledgerlight needs {SCHEMA_VERSION}"):
        with read_only(path):
            pass

    con = connect_for_write(path)
    assert schema_version(con) == SCHEMA_VERSION
    assert con.execute("SELECT cursor FROM sync_runs").fetchall() == []
    assert con.execute("SELECT count(*) FROM source_aging").fetchone() == (0,)
    assert con.execute("SELECT invoice_id, total, kind FROM invoices").fetchall() == [("I1", Decimal("120.50"), "other")]
    assert con.execute("SELECT credit_memo_id, is_write_off FROM credit_memos").fetchall() == [("CM1", False)]
    assert con.execute("SELECT name FROM customers").fetchall() == [("Acme",)]
    assert con.execute("SELECT name, snapshot_on FROM companies").fetchall() == [("Demo", None)]  # a history
    con.close()


def test_file_from_version_8_gains_the_record_of_packs_emailed_and_keeps_its_collections(tmp_path):
    path = tmp_path / "v8.duckdb"
    con = duckdb.connect(str(path))
    migrate(con, path, upto=8)  # the collections release
    con.execute("INSERT INTO collection_activities (source, company_id, activity_id, customer_id, kind, activity_on, "
                "author, body, origin) VALUES ('demo', 'd', 'note-1', 'C1', 'note', DATE '2026-10-26', 'os:maria', "
                "'Called AP', 'user')")
    con.close()
    con = connect_for_write(path)
    assert schema_version(con) == SCHEMA_VERSION
    assert con.execute("SELECT body FROM collection_activities").fetchall() == [("Called AP",)]
    assert con.execute("SELECT count(*) FROM pack_deliveries").fetchone() == (0,)
    con.close()


def test_file_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "newer.duckdb"
    connect_for_write(path).execute("INSERT INTO schema_version VALUES (99, 'future', now())").close()
    with pytest.raises(DatabaseError, match=f"newer ledgerlight \\(schema 99, this one knows {SCHEMA_VERSION}\\)"):
        connect_for_write(path)


def test_missing_file_for_reading_names_the_fix(tmp_path):
    with pytest.raises(DatabaseError, match=r"does not exist \(check the name\). Build the demo company with `python -m etl demo"):
        with read_only(tmp_path / "absent.duckdb"):
            pass


def test_database_path_prefers_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LEDGERLIGHT_DB", str(tmp_path / "env.duckdb"))
    assert database_path() == tmp_path / "env.duckdb"
    assert database_path(tmp_path / "arg.duckdb") == tmp_path / "arg.duckdb"
    monkeypatch.delenv("LEDGERLIGHT_DB")
    assert database_path().parts[-2:] == ("data", "ledgerlight.duckdb")


def test_reload_is_idempotent_and_money_reads_back_as_decimal(tmp_path):
    invoices = [{"invoice_id": "I1", "customer_id": "C1", "txn_date": date(2026, 1, 1), "due_date": date(2026, 1, 31), "total": "99.95"}]
    path = write_book(tmp_path / "b.duckdb", SAMPLE_CUSTOMERS, invoices)
    write_book(path, SAMPLE_CUSTOMERS, invoices)
    with read_only(path) as con:
        assert con.execute("SELECT total, home_total FROM invoices").fetchall() == [(Decimal("99.95"), Decimal("99.95"))]
        assert con.execute("SELECT count(*) FROM customers").fetchone() == (5,)
        assert con.execute("SELECT status FROM sync_runs ORDER BY run_id").fetchall() == [("succeeded",), ("succeeded",)]


def test_failed_load_leaves_the_books_exactly_as_they_were(tmp_path):
    invoices = [{"invoice_id": "I1", "customer_id": "C1", "txn_date": date(2026, 1, 1), "total": "10.00"}]
    path = write_book(tmp_path / "b.duckdb", SAMPLE_CUSTOMERS, invoices)
    broken = {
        "customers": pd.DataFrame([{"customer_id": "C9", "name": "New client"}]),
        "invoices": pd.DataFrame([{"invoice_id": "I2", "customer_id": "C9", "txn_date": None,
                                   "total": Decimal("5.00"), "home_total": Decimal("5.00")}]),
    }
    with pytest.raises(BooksError, match="invoices.txn_date"):
        load_books(path, broken)
    with read_only(path) as con:
        assert con.execute("SELECT customer_id FROM customers ORDER BY 1").fetchall() == [("C1",), ("C2",), ("C3",), ("C4",), ("C5",)]
        assert con.execute("SELECT invoice_id FROM invoices").fetchall() == [("I1",)]
        assert con.execute("SELECT status, error LIKE '%txn_date%' FROM sync_runs ORDER BY run_id").fetchall() == [
            ("succeeded", None), ("failed", True)]


def test_decimal_columns_keep_every_place_whatever_the_first_rows_hold(tmp_path):
    # 200 USD invoices at rate 1 first: a sampled type guess would be DECIMAL(1,0) and round 0.7345.
    invoices = [{"invoice_id": f"U{n}", "customer_id": "C1", "txn_date": date(2026, 1, 1), "total": "10.00"} for n in range(200)]
    invoices.append({"invoice_id": "CAD1", "customer_id": "C3", "txn_date": date(2026, 1, 1), "total": "14488.81",
                     "currency": "CAD", "exchange_rate": "0.7345"})
    path = write_book(tmp_path / "b.duckdb", SAMPLE_CUSTOMERS, invoices)
    with read_only(path) as con:
        assert con.execute("SELECT total, exchange_rate, home_total FROM invoices WHERE invoice_id = 'CAD1'").fetchall() == [
            (Decimal("14488.81"), Decimal("0.73450000"), Decimal("10642.03"))]


def test_an_amount_with_too_many_places_is_refused_naming_the_column(tmp_path):
    path = write_book(tmp_path / "b.duckdb", SAMPLE_CUSTOMERS)
    books = {"payments": pd.DataFrame([{"payment_id": "P1", "customer_id": "C1", "txn_date": date(2026, 1, 1),
                                        "amount": Decimal("10.005")}])}
    with pytest.raises(BooksError, match=r"payments\.amount: not an amount with at most 2 decimal places"):
        load_books(path, {**books, "customers": customers_frame(SAMPLE_CUSTOMERS)})
    with read_only(path) as con:
        assert con.execute("SELECT count(*) FROM customers").fetchone() == (5,)  # nothing lost


def test_a_payment_that_does_not_add_up_is_refused(tmp_path):
    path = write_book(tmp_path / "b.duckdb", SAMPLE_CUSTOMERS)
    books = {
        "invoices": pd.DataFrame([{"invoice_id": "I1", "customer_id": "C1", "txn_date": date(2026, 1, 1),
                                   "total": Decimal("100.00"), "home_total": Decimal("100.00")}]),
        # 120.00 received, 100.00 applied, but no unapplied 20.00 recorded
        "payments": pd.DataFrame([{"payment_id": "P1", "customer_id": "C1", "txn_date": date(2026, 1, 5),
                                   "amount": Decimal("120.00")}]),
        "applications": pd.DataFrame([{"application_id": "A1", "invoice_id": "I1", "payment_id": "P1",
                                       "applied_on": date(2026, 1, 5), "amount": Decimal("100.00")}]),
    }
    with pytest.raises(BooksError, match=r"payment P1: 120.00 ≠ 100.00 applied \+ 0.00 unapplied"):
        load_books(path, {**books, "customers": customers_frame(SAMPLE_CUSTOMERS)})
    with read_only(path) as con:
        assert con.execute("SELECT count(*) FROM invoices").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM customers").fetchone() == (5,)


def test_a_reader_waits_out_a_short_write_by_another_process(tmp_path):
    import subprocess
    import sys
    import time

    path = write_book(tmp_path / "b.duckdb", SAMPLE_CUSTOMERS)
    writer = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); "
         "time.sleep(1.0); c.close()"],
        stdout=subprocess.PIPE, text=True,
    )
    assert writer.stdout.readline().strip() == "held"
    started = time.monotonic()
    with read_only(path) as con:  # DuckDB refuses readers while another process writes
        assert con.execute("SELECT count(*) FROM customers").fetchone() == (5,)
    assert time.monotonic() - started >= 0.5
    writer.wait(timeout=10)
