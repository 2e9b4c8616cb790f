"""The one pipeline: a run of any source writes only that source's rows, so every other source's
rows and ledgerlight's own (manual autopay entries) come through it byte for byte (hashes of every
table before and after, for each source against every other); runs are logged; a stale batch and a
bad file are refused with nothing written."""

import hashlib
from datetime import date

import duckdb
import pandas as pd
import pytest

from core.db import connect_for_write, read_only
from core.errors import BooksError, InputError, SyncError
from core.schema import MANUAL_ORIGIN
from etl import pipeline
from etl.batch import Batch
from etl.sources import autopay_roster, demo, files, ibm_sample, quickbooks, tables
from tests.books import TEST_COMPANY, customers_frame, import_roster, load_books
from tests.conftest import DEMO_AS_OF, build_demo
from tests.test_files import FIXTURES
from tests.test_public_data import SAMPLE
from tests.quickbooks_ledger import run_sync, settings_for, tick

# Every table that holds rows of a source (the run log is the pipeline's own, and grows by one).
TABLES = ("companies", "customers", "invoices", "payments", "credit_memos", "applications", "recurring_schedules",
          "autopay_enrollments", "source_refs", "source_aging")


def owned_by(source, company, table: str, row: dict) -> bool:
    """Whether a run of `source` for `company` may change this row."""
    if (row["source"], row["company_id"]) != (company.source, company.company_id):
        return False
    if table == "companies" or table == "source_aging":
        return source.books
    if table == "autopay_enrollments" and row["origin"] == "inference":
        return source.infers_autopay
    entity = source.entity(table)
    return entity is not None and all(row[column] == value for column, value in entity.owned)


def others_digest(db, source, company) -> dict[str, str]:
    """Per table, a SHA-256 of every row the run may not touch."""
    digests = {}
    with read_only(db) as con:
        for table in TABLES:
            frame = con.sql(f"SELECT * FROM {table} ORDER BY ALL").df()
            others = [repr(row) for row in frame.to_dict("records") if not owned_by(source, company, table, row)]
            digests[table] = hashlib.sha256("\n".join(others).encode()).hexdigest() + f" ({len(others)} rows)"
    return digests


def add_manual_period(db, company, customer_id: str) -> None:
    """ledgerlight's own rows: a period a person entered (no source writes these)."""
    con = duckdb.connect(str(db))
    con.execute(
        "INSERT INTO autopay_enrollments (source, company_id, customer_id, origin, provenance, valid_from, status, method) "
        "VALUES (?, ?, ?, ?, 'manual', DATE '2026-02-01', 'enabled', 'card')",
        [company.source, company.company_id, customer_id, MANUAL_ORIGIN])
    con.close()


def count(db, sql: str, params=()) -> int:
    with read_only(db) as con:
        return con.execute(sql, list(params)).fetchone()[0]


ROSTER = "customer,autopay,method,enrolled_on\nAcme Dental,yes,card,2026-01-05\nCedar CPA,no,,\n"


@pytest.fixture
def books_beside_quickbooks(server, store, tmp_path):
    """One file: IBM's sample, a QuickBooks company with a roster imported and a manual period."""
    db = tmp_path / "many.duckdb"
    pipeline.run(db, ibm_sample.SOURCE, SAMPLE)
    run_sync(server, store, db)
    qbo = quickbooks.company(settings_for(server, store))
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    import_roster(db, str(roster), company_id=server.realm_id, imported_on=date(2026, 3, 1))
    add_manual_period(db, qbo, server.ids["birch"])
    return db, qbo, roster


def assert_only_its_own_rows_changed(db, source, company, action) -> None:
    before, runs_before = others_digest(db, source, company), count(db, "SELECT count(*) FROM sync_runs")
    action()
    assert others_digest(db, source, company) == before
    assert count(db, "SELECT count(*) FROM sync_runs") == runs_before + 1


def test_a_full_sync_keeps_the_roster_the_manual_period_and_the_other_company(books_beside_quickbooks, server, store):
    db, qbo, _ = books_beside_quickbooks
    periods = count(db, "SELECT count(*) FROM autopay_enrollments WHERE origin = 'autopay_roster'")
    assert periods == 2  # Acme enabled from 01-05, Cedar disabled from the roster's date
    assert_only_its_own_rows_changed(db, quickbooks.SOURCE, qbo, lambda: run_sync(server, store, db, full=True))
    assert count(db, "SELECT count(*) FROM autopay_enrollments WHERE origin = 'autopay_roster'") == periods
    assert count(db, "SELECT count(*) FROM autopay_enrollments WHERE origin = 'manual'") == 1


def test_an_incremental_sync_keeps_them_too(books_beside_quickbooks, server, store):
    db, qbo, _ = books_beside_quickbooks
    tick(server)
    server.edit_invoice(server.ids["dormant_invoice"], total="95.00")
    tick(server)
    assert_only_its_own_rows_changed(db, quickbooks.SOURCE, qbo, lambda: run_sync(server, store, db))
    assert count(db, "SELECT total FROM invoices WHERE invoice_id = ?", [server.ids["dormant_invoice"]]) == 95


def test_a_roster_import_keeps_the_books_and_the_manual_period(books_beside_quickbooks, server, tmp_path):
    db, qbo, _ = books_beside_quickbooks
    april = tmp_path / "april.csv"
    april.write_text("customer,autopay,method\nAcme Dental,yes,ach\nCedar CPA,yes,card\n")
    assert_only_its_own_rows_changed(db, autopay_roster.SOURCE, qbo, lambda: import_roster(
        db, str(april), company_id=server.realm_id, imported_on=date(2026, 4, 1)))


def test_an_import_of_the_sample_keeps_the_quickbooks_company(books_beside_quickbooks):
    db, _, _ = books_beside_quickbooks
    assert_only_its_own_rows_changed(db, ibm_sample.SOURCE, ibm_sample.COMPANY,
                                     lambda: pipeline.run(db, ibm_sample.SOURCE, SAMPLE))


def test_a_demo_rebuild_keeps_its_roster_and_its_manual_period(tmp_path):
    db = tmp_path / "demo.duckdb"
    build_demo(db, clients=8, months=6)
    company = demo.demo_company(DEMO_AS_OF)
    with read_only(db) as con:
        first, second = [name for (name,) in con.execute(
            "SELECT name FROM customers WHERE source = 'demo' AND parent_id IS NULL ORDER BY customer_id LIMIT 2").fetchall()]
    roster = tmp_path / "roster.csv"
    roster.write_text(f"customer,autopay,method,enrolled_on\n{first},yes,card,2026-06-05\n{second},no,,\n")
    import_roster(db, str(roster), company_id=company.company_id, imported_on=date(2026, 7, 1))
    add_manual_period(db, company, "C1001")
    assert count(db, "SELECT count(*) FROM autopay_enrollments WHERE origin = 'autopay_roster'") == 2
    assert_only_its_own_rows_changed(db, demo.SOURCE, company, lambda: build_demo(db, clients=8, months=6))


def test_the_first_real_books_remove_the_demo_and_nothing_else(tmp_path):
    db = tmp_path / "demo.duckdb"
    build_demo(db, clients=5, months=3)
    pipeline.run(db, ibm_sample.SOURCE, SAMPLE)
    assert count(db, "SELECT count(*) FROM companies") == 1  # the sample's: the demo gave way
    assert count(db, "SELECT count(*) FROM invoices WHERE source = 'demo'") == 0
    assert count(db, "SELECT count(*) FROM invoices") == 2466


def test_the_demo_is_never_built_beside_real_books(books_beside_quickbooks):
    db, qbo, _ = books_beside_quickbooks
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with pytest.raises(InputError, match=f"holds real books \\('IBM A/R sample' \\(file\\), '{qbo.name}' \\(quickbooks\\)\\); "
                                         "the demo would be added beside them") as refused:
        build_demo(db, clients=5, months=3)
    assert f"python -m etl demo --db {tmp_demo_name(db)}" in str(refused.value)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def tmp_demo_name(db):
    return db.with_name(f"{db.stem}-demo.duckdb")


def test_a_batch_read_before_another_run_finished_is_refused(tmp_path):
    db = load_books(tmp_path / "b.duckdb", {"customers": customers_frame([{"customer_id": "C1", "name": "Acme"}])})
    stale = Batch(TEST_COMPANY, kind="test", complete=True,
                  rows={"customers": customers_frame([{"customer_id": "C2", "name": "Birch"}])})
    read_at = count(db, "SELECT max(run_id) FROM sync_runs")
    load_books(db, {"customers": customers_frame([{"customer_id": "C3", "name": "Cedar"}])})  # finished meanwhile
    with pytest.raises(SyncError, match="finished while this one was reading; nothing was written: run it again"):
        pipeline.write(db, tables.SOURCE, stale, since_run=read_at)
    with read_only(db) as con:
        assert con.execute("SELECT customer_id FROM customers").fetchall() == [("C3",)]


def test_records_pointing_at_nothing_are_refused_naming_them(tmp_path):
    db = tmp_path / "b.duckdb"
    books = {
        "customers": customers_frame([{"customer_id": "C1", "name": "Acme"}]),
        "invoices": pd.DataFrame([{"invoice_id": "I1", "customer_id": "C9", "txn_date": date(2026, 1, 1),
                                   "total": "10.00", "home_total": "10.00"}]),
    }
    with pytest.raises(BooksError, match=r"invoice I1: customer_id 'C9' is not in the books"):
        load_books(db, books)
    assert count(db, "SELECT count(*) FROM invoices") == 0
    assert count(db, "SELECT count(*) FROM sync_runs WHERE status = 'failed'") == 1


def test_a_bad_file_is_not_even_a_run(tmp_path):
    db = load_books(tmp_path / "b.duckdb", {"customers": customers_frame([{"customer_id": "C1", "name": "Acme"}])})
    bad = tmp_path / "bad.csv"
    bad.write_text("customer,autopay\nAcme,perhaps\n")
    with pytest.raises(autopay_roster.RosterError):
        import_roster(db, str(bad))
    assert count(db, "SELECT count(*) FROM sync_runs") == 1  # the load that made the books


def test_an_import_of_exported_files_keeps_the_other_companies_their_roster_and_manual_period(books_beside_quickbooks):
    db, _, _ = books_beside_quickbooks
    exported = files.SOURCE.importer.settings([str(FIXTURES / "qbd_customer_balance_detail.csv")], on=date(2026, 3, 31))
    company = files.company(exported, pd.DataFrame(columns=["source", "company_id"]))
    assert_only_its_own_rows_changed(db, files.SOURCE, company, lambda: pipeline.run(db, files.SOURCE, exported))
    assert count(db, "SELECT count(*) FROM invoices WHERE source = 'files'") == 7  # 1006 is voided: 0.00


def test_a_run_starts_from_its_origins_newest_succeeded_run_and_that_runs_cursor_even_none(tmp_path):
    """Per company and origin: the newest succeeded run (a failed one later does not count), and
    its own cursor, even when it recorded none (an older run's cursor would skip changes)."""
    con = connect_for_write(tmp_path / "runs.duckdb")
    runs = [(1, "c1", "quickbooks", "succeeded", "cdc-1"), (2, "c1", "quickbooks", "succeeded", None),
            (3, "c1", "quickbooks", "failed", "cdc-3"), (4, "c1", "autopay_roster", "succeeded", None),
            (5, "c2", "quickbooks", "succeeded", "cdc-5")]
    for run_id, company_id, origin, status, cursor in runs:
        con.execute("INSERT INTO sync_runs (run_id, source, company_id, kind, started_at, status, cursor, origin) "
                    "VALUES (?, 'quickbooks', ?, 'full', TIMESTAMP '2026-11-25 09:00', ?, ?, ?)",
                    [run_id, company_id, status, cursor, origin])
    assert pipeline._last_runs(con) == {("quickbooks", "c1", "quickbooks"): (2, None),
                                        ("quickbooks", "c1", "autopay_roster"): (4, None),
                                        ("quickbooks", "c2", "quickbooks"): (5, "cdc-5")}
    con.close()
