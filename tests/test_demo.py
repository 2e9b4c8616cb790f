"""The demo company: internally consistent books that show every feature the dashboard explains,
identical for the same seed and as-of date. Checked in SQL on a real DuckDB file."""

import hashlib
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from core.db import read_only
from core.schema import BOOK_TABLES
from etl.sources import demo
from etl.sources.demo import AUTOPAY_RETRY_DAYS, DEMO_COMPANY_ID, WRITE_OFF_AFTER_DAYS, build_demo_books
from tests.conftest import build_demo

AS_OF = date(2026, 11, 25)
SEED = 7
PARAMETERS = {"as_of": AS_OF, "retry": AUTOPAY_RETRY_DAYS, "write_off": WRITE_OFF_AFTER_DAYS}
MONEY_COLUMNS = {
    "invoices": ("total", "home_total"),
    "payments": ("amount", "unapplied_amount"),
    "credit_memos": ("total", "unapplied_amount"),
    "applications": ("amount",),
    "recurring_schedules": ("amount",),
}
DATE_COLUMNS = {
    "invoices": ("txn_date", "due_date"),
    "payments": ("txn_date",),
    "credit_memos": ("txn_date",),
    "applications": ("applied_on",),
    "recurring_schedules": ("start_date", "end_date", "next_date"),
    "autopay_enrollments": ("valid_from", "valid_to"),
}


def load_demo(path, seed=SEED):
    """The demo written through the real pipeline, and a read-only connection to it."""
    build_demo(path, AS_OF, seed=seed)
    return read_only(path)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    with load_demo(tmp_path_factory.mktemp("demo") / "demo.duckdb") as connection:
        yield connection


def rows(con, sql):
    used = {name: value for name, value in PARAMETERS.items() if f"${name}" in sql}
    return con.execute(sql, used).fetchall()


def scalar(con, sql):
    return rows(con, sql)[0][0]


def books_digest(con):
    digest = hashlib.sha256()
    for table in BOOK_TABLES:
        for row in con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall():
            digest.update(repr(row).encode())
    return digest.hexdigest()


# Each query lists the rows breaking one rule of a consistent A/R book: all must come back empty.
VIOLATIONS = {
    "invoice over-applied": """
        SELECT i.invoice_id FROM invoices i JOIN applications a USING (invoice_id)
        GROUP BY i.invoice_id, i.total HAVING sum(a.amount) > i.total""",
    "applied + open at as_of differs from total": """
        WITH settled AS (
            SELECT i.invoice_id, i.total,
                   coalesce(sum(a.amount), 0) AS applied,
                   i.total - coalesce(sum(a.amount) FILTER (WHERE a.applied_on <= $as_of), 0) AS open
            FROM invoices i LEFT JOIN applications a USING (invoice_id) GROUP BY i.invoice_id, i.total)
        SELECT invoice_id FROM settled WHERE applied + open <> total OR open < 0""",
    "application dated before its invoice or after as_of": """
        SELECT a.application_id FROM applications a JOIN invoices i USING (invoice_id)
        WHERE a.applied_on > $as_of OR a.applied_on < i.txn_date""",
    "application without a positive amount": "SELECT application_id FROM applications WHERE amount <= 0",
    "application to an unknown invoice": "SELECT application_id FROM applications ANTI JOIN invoices USING (invoice_id)",
    "application paid by another customer": """
        SELECT a.application_id FROM applications a
        JOIN invoices i USING (invoice_id)
        LEFT JOIN payments p USING (payment_id)
        LEFT JOIN credit_memos m USING (credit_memo_id)
        WHERE coalesce(p.customer_id, m.customer_id) IS DISTINCT FROM i.customer_id""",
    "application dated apart from its payment or credit memo": """
        SELECT a.application_id FROM applications a
        LEFT JOIN payments p USING (payment_id) LEFT JOIN credit_memos m USING (credit_memo_id)
        WHERE a.applied_on <> coalesce(p.txn_date, m.txn_date)""",
    "payment amount differs from applications + unapplied": """
        SELECT p.payment_id FROM payments p LEFT JOIN applications a USING (payment_id)
        GROUP BY p.payment_id, p.amount, p.unapplied_amount
        HAVING p.amount <> coalesce(sum(a.amount), 0) + p.unapplied_amount OR p.amount <= 0""",
    "credit memo total differs from applications + unapplied": """
        SELECT m.credit_memo_id FROM credit_memos m LEFT JOIN applications a USING (credit_memo_id)
        GROUP BY m.credit_memo_id, m.total, m.unapplied_amount
        HAVING m.total <> coalesce(sum(a.amount), 0) + m.unapplied_amount OR m.total <= 0""",
    "transaction dated after as_of": """
        SELECT invoice_id FROM invoices WHERE txn_date > $as_of
        UNION ALL SELECT payment_id FROM payments WHERE txn_date > $as_of
        UNION ALL SELECT credit_memo_id FROM credit_memos WHERE txn_date > $as_of""",
    "home total is not round(total x rate, 2)": """
        SELECT invoice_id FROM invoices WHERE home_total <> round(total * exchange_rate, 2)""",
    "USD row with a rate other than 1": """
        SELECT invoice_id FROM invoices WHERE currency = 'USD' AND exchange_rate <> 1
        UNION ALL SELECT payment_id FROM payments WHERE currency = 'USD' AND exchange_rate <> 1
        UNION ALL SELECT credit_memo_id FROM credit_memos WHERE currency = 'USD' AND exchange_rate <> 1""",
    "transaction in another currency than its customer": """
        SELECT t.id FROM (
            SELECT invoice_id AS id, customer_id, currency FROM invoices
            UNION ALL SELECT payment_id, customer_id, currency FROM payments
            UNION ALL SELECT credit_memo_id, customer_id, currency FROM credit_memos
            UNION ALL SELECT schedule_id, customer_id, currency FROM recurring_schedules) t
        JOIN customers c USING (customer_id) WHERE t.currency <> c.currency""",
    "due date disagrees with the terms": """
        SELECT invoice_id FROM invoices
        WHERE terms NOT IN ('Net 15', 'Net 30')
           OR due_date <> txn_date + CAST(split_part(terms, ' ', 2) AS INTEGER)""",
    "recurring invoice off the 1st or from another customer's schedule": """
        SELECT i.invoice_id FROM invoices i LEFT JOIN recurring_schedules s ON s.schedule_id = i.recurring_template_id
        WHERE (i.kind = 'recurring') <> (i.recurring_template_id IS NOT NULL)
           OR (i.kind = 'recurring' AND (day(i.txn_date) <> 1 OR s.customer_id IS DISTINCT FROM i.customer_id))""",
    "autopay invoice not settled within the retry window": """
        WITH covered AS (
            SELECT DISTINCT i.invoice_id, i.total, i.due_date FROM invoices i
            JOIN autopay_enrollments e ON e.customer_id = i.customer_id AND e.status = 'enabled'
                AND i.txn_date >= e.valid_from AND (e.valid_to IS NULL OR i.txn_date < e.valid_to)
            WHERE i.status = 'posted' AND i.due_date < $as_of - $retry)
        SELECT c.invoice_id FROM covered c LEFT JOIN applications a USING (invoice_id)
        GROUP BY c.invoice_id, c.total, c.due_date
        HAVING coalesce(sum(a.amount), 0) <> c.total
            OR min(a.applied_on) < c.due_date OR max(a.applied_on) > c.due_date + $retry""",
    "sub-customer of an unknown or nested parent": """
        SELECT c.customer_id FROM customers c LEFT JOIN customers p ON p.customer_id = c.parent_id
        WHERE c.parent_id IS NOT NULL AND (p.customer_id IS NULL OR p.parent_id IS NOT NULL)""",
    "duplicate customer name or invoice number": """
        SELECT name FROM customers GROUP BY name HAVING count(*) > 1
        UNION ALL SELECT doc_number FROM invoices GROUP BY doc_number HAVING count(*) > 1""",
}


@pytest.mark.parametrize("sql", VIOLATIONS.values(), ids=VIOLATIONS.keys())
def test_books_are_consistent(con, sql):
    assert rows(con, sql) == []


def test_company_and_size(con):
    assert rows(con, "SELECT source, company_id, name, home_currency, data_through FROM companies") == [
        ("demo", DEMO_COMPANY_ID, "Northwind Managed IT (demo)", "USD", AS_OF)
    ]
    assert scalar(con, "SELECT count(*) FROM customers") == 120
    assert scalar(con, "SELECT count(DISTINCT customer_id) FROM recurring_schedules") == 120
    assert scalar(con, "SELECT count(*) FROM recurring_schedules") == 120


def test_thirty_six_months_of_recurring_invoices(con):
    first, last, months = rows(con, """
        SELECT min(txn_date), max(txn_date), count(DISTINCT date_trunc('month', txn_date))
        FROM invoices WHERE kind = 'recurring' AND status = 'posted'""")[0]
    assert (first, last, months) == (date(2023, 12, 1), date(2026, 11, 1), 36)


def test_agreements_vary_in_size_and_over_time(con):
    smallest, largest = rows(con, "SELECT min(amount), max(amount) FROM recurring_schedules WHERE interval_count = 1 AND interval_unit = 'month'")[0]
    assert smallest < 500 and largest > 10_000
    changed = scalar(con, """
        SELECT count(*) FROM (SELECT customer_id FROM invoices WHERE kind = 'recurring' AND status = 'posted'
                              GROUP BY customer_id HAVING count(DISTINCT total) > 1)""")
    assert changed >= 10


def test_project_and_hardware_invoices(con):
    counts = dict(rows(con, "SELECT kind, count(*) FROM invoices WHERE status = 'posted' GROUP BY kind"))
    assert set(counts) == {"recurring", "project", "hardware"}
    assert counts["project"] >= 20 and counts["hardware"] >= 20


def test_quarterly_and_annual_schedules(con):
    assert rows(con, """
        SELECT interval_unit, interval_count FROM recurring_schedules
        WHERE NOT (interval_unit = 'month' AND interval_count = 1) ORDER BY ALL""") == [("month", 3), ("year", 1)]


def test_exactly_one_voided_invoice_zeroed_and_unapplied(con):
    assert rows(con, """
        SELECT i.total, i.home_total, count(a.application_id) FROM invoices i
        LEFT JOIN applications a USING (invoice_id) WHERE i.status = 'voided' GROUP BY ALL""") == [
        (Decimal("0.00"), Decimal("0.00"), 0)
    ]
    assert scalar(con, "SELECT count(*) FROM invoices WHERE status <> 'posted'") == 1


def test_one_cad_client_with_monthly_rates(con):
    assert scalar(con, "SELECT count(*) FROM customers WHERE currency = 'CAD'") == 1
    invoices, rates, at_one, mismatched = rows(con, """
        SELECT count(*), count(DISTINCT exchange_rate), count(*) FILTER (WHERE exchange_rate = 1),
               count(*) FILTER (WHERE home_total <> round(total * exchange_rate, 2))
        FROM invoices WHERE currency = 'CAD'""")[0]
    assert invoices >= 36 and rates > 10 and at_one == 0 and mismatched == 0
    assert scalar(con, "SELECT count(*) FROM payments WHERE currency = 'CAD' AND exchange_rate <> 1") > 0


def test_partial_payments(con):
    assert scalar(con, """
        SELECT count(*) FROM (SELECT invoice_id FROM applications WHERE payment_id IS NOT NULL
                              GROUP BY invoice_id HAVING count(*) >= 2)""") > 0


def test_payments_covering_several_invoices(con):
    assert scalar(con, """
        SELECT count(*) FROM (SELECT payment_id FROM applications WHERE payment_id IS NOT NULL
                              GROUP BY payment_id HAVING count(DISTINCT invoice_id) >= 2)""") > 0


def test_credit_memos_applied_and_left_unapplied(con):
    assert scalar(con, """
        SELECT count(*) FROM applications a JOIN credit_memos m USING (credit_memo_id)
        WHERE a.payment_id IS NULL AND NOT m.is_write_off""") > 0
    assert scalar(con, "SELECT count(*) FROM credit_memos WHERE unapplied_amount > 0") > 0


def test_write_off_of_an_old_problem_invoice(con):
    written_off = rows(con, """
        SELECT a.applied_on - i.due_date, a.amount = i.total FROM credit_memos m
        JOIN applications a USING (credit_memo_id) JOIN invoices i USING (invoice_id)
        WHERE m.is_write_off""")
    assert written_off
    assert all(days_late >= WRITE_OFF_AFTER_DAYS and whole for days_late, whole in written_off)


def test_unapplied_payment(con):
    assert scalar(con, "SELECT count(*) FROM payments WHERE unapplied_amount > 0 AND amount > unapplied_amount") > 0


def test_churned_and_new_clients(con):
    churned = rows(con, """
        SELECT c.customer_id, s.end_date, max(i.txn_date) FILTER (WHERE i.kind = 'recurring')
        FROM customers c JOIN recurring_schedules s USING (customer_id) JOIN invoices i USING (customer_id)
        WHERE NOT c.active AND NOT s.active AND i.status = 'posted' GROUP BY ALL""")
    assert len(churned) >= 5
    assert all(end == last_billed for _, end, last_billed in churned)
    assert scalar(con, "SELECT count(*) FROM recurring_schedules WHERE active AND (end_date IS NOT NULL OR next_date <= $as_of)") == 0
    new_clients = scalar(con, """
        SELECT count(*) FROM (SELECT customer_id FROM invoices WHERE kind = 'recurring'
                              GROUP BY customer_id HAVING min(txn_date) > DATE '2023-12-01')""")
    assert new_clients >= 10


def test_sub_customers(con):
    assert scalar(con, "SELECT count(*) FROM customers WHERE parent_id IS NOT NULL") >= 2


def autopay_adoption(con, at):
    """Active recurring clients (a recurring invoice in the last 45 days) on autopay at `at`."""
    return con.execute("""
        WITH active AS (
            SELECT DISTINCT customer_id FROM invoices
            WHERE kind = 'recurring' AND status = 'posted' AND txn_date > $at - 45 AND txn_date <= $at)
        SELECT count(e.customer_id) / count(*) FROM active
        LEFT JOIN autopay_enrollments e ON e.customer_id = active.customer_id AND e.status = 'enabled'
            AND e.valid_from <= $at AND (e.valid_to IS NULL OR e.valid_to > $at)""", {"at": at}).fetchone()[0]


def test_autopay_adoption_rises(con):
    at_start = autopay_adoption(con, date(2023, 12, 25))
    a_year_ago = autopay_adoption(con, AS_OF - timedelta(days=365))
    now = autopay_adoption(con, AS_OF)
    assert at_start < a_year_ago < now
    assert at_start < 0.2 and 0.4 <= now <= 0.6
    assert rows(con, "SELECT DISTINCT provenance, status FROM autopay_enrollments") == [("imported", "enabled")]


def test_autopay_charges_occasionally_retried(con):
    late_charges = scalar(con, """
        SELECT count(*) FROM applications a JOIN payments p USING (payment_id) JOIN invoices i USING (invoice_id)
        JOIN autopay_enrollments e ON e.customer_id = i.customer_id
            AND i.txn_date >= e.valid_from AND (e.valid_to IS NULL OR i.txn_date < e.valid_to)
        WHERE a.applied_on > i.due_date AND p.method IN ('card', 'ach')""")
    assert late_charges > 0


def test_payment_methods(con):
    methods = dict(rows(con, "SELECT method, count(*) FROM payments GROUP BY method"))
    assert set(methods) == {"check", "ach", "card", "cash"}
    assert methods["cash"] < methods["check"]


def test_invoices_unpaid_more_than_90_days_past_due(con):
    invoices, clients = rows(con, """
        SELECT count(*), count(DISTINCT customer_id) FROM (
            SELECT i.customer_id FROM invoices i LEFT JOIN applications a USING (invoice_id)
            WHERE i.status = 'posted' AND $as_of - i.due_date > 90
            GROUP BY i.invoice_id, i.customer_id, i.total HAVING i.total > coalesce(sum(a.amount), 0))""")[0]
    assert invoices >= 3 and clients >= 1


@pytest.mark.parametrize("table", MONEY_COLUMNS)
def test_money_reads_back_as_decimal(con, table):
    columns = MONEY_COLUMNS[table]
    row = con.execute(f"SELECT {', '.join(columns)} FROM {table} LIMIT 1").fetchone()
    assert all(isinstance(value, Decimal) for value in row)


def test_frames_match_the_schema_with_decimals_and_dates(con):
    _, books = build_demo_books(AS_OF, seed=SEED)
    assert tuple(books) == BOOK_TABLES
    for table, frame in books.items():
        schema = [name for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()]
        entity = demo.SOURCE.entity(table)
        filled_by_pipeline = {"source", "company_id", *dict(entity.owned)}
        derived_only = {entity.made_by} if entity.made_by else set()  # only rows derived from another record name it
        assert set(frame.columns) == set(schema) - filled_by_pipeline - derived_only
        for column in MONEY_COLUMNS.get(table, ()):
            assert all(isinstance(v, Decimal) and v.as_tuple().exponent == -2 for v in frame[column]), column
        for column in DATE_COLUMNS.get(table, ()):
            values = frame[column].dropna()
            assert all(type(v) is date for v in values), column
    assert (books["invoices"]["updated_at"].dt.hour == 12).all()


def test_same_seed_same_books_other_seed_other_books(con, tmp_path):
    first, second = build_demo_books(AS_OF, seed=SEED)[1], build_demo_books(AS_OF, seed=SEED)[1]
    for table in BOOK_TABLES:
        pd.testing.assert_frame_equal(first[table], second[table])

    with load_demo(tmp_path / "again.duckdb") as again, load_demo(tmp_path / "other.duckdb", seed=SEED + 1) as other:
        assert books_digest(again) == books_digest(con)
        assert books_digest(other) != books_digest(con)
