"""`python -m etl report aging|kpis|clients` as a cron job runs it: real processes, exact JSON."""

import json

import pytest

from etl.reports import KPI_KEYS, render
from tests import test_kpis as kpi_book
from tests.books import write_book, write_sample_book
from tests.test_cli import etl_here


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    return write_sample_book(tmp_path_factory.mktemp("sample") / "s.duckdb")


def report_json(*args):
    result = etl_here("report", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def zeros(**amounts):
    buckets = {k: "0.00" for k in ("current", "1-30", "31-60", "61-90", "91+", "total", "unapplied_credit", "disputed")}
    return {**buckets, **amounts}


def test_aging_json_is_exactly_the_documented_shape(sample_db):
    assert report_json("aging", "--db", str(sample_db), "--as-of", "2026-03-31") == {
        "as_of": "2026-03-31",
        "basis": "due",
        "currency": "USD",
        "buckets": ["current", "1-30", "31-60", "61-90", "91+"],
        "customers": [
            {"customer_id": "C1", "customer": "Acme Dental", **zeros(current="600.00", **{"31-60": "200.00", "61-90": "80.00"}, total="880.00")},
            {"customer_id": "C3", "customer": "Cedar CPA", **zeros(**{"1-30": "486.67"}, total="486.67")},
            {"customer_id": "C2", "customer": "Birch Legal", **zeros(**{"91+": "120.50"}, total="120.50", unapplied_credit="75.00")},
            {"customer_id": "C5", "customer": "Elm Dental", **zeros(unapplied_credit="25.00")},
        ],
        "totals": zeros(current="600.00", **{"1-30": "486.67", "31-60": "200.00", "61-90": "80.00", "91+": "120.50"},
                        total="1487.17", unapplied_credit="100.00"),
    }


def test_aging_by_invoice_date_as_csv(sample_db):
    result = etl_here("report", "aging", "--db", str(sample_db), "--as-of", "2026-03-31", "--basis", "invoice", "--format", "csv")
    lines = result.stdout.splitlines()
    assert lines[0] == "customer_id,customer,0-30,31-60,61-90,91+,total,unapplied_credit,disputed"
    assert lines[-1] == ",TOTAL,600.00,486.67,280.00,120.50,1487.17,100.00,0.00"


def test_aging_with_custom_periods(sample_db):
    report = report_json("aging", "--db", str(sample_db), "--as-of", "2026-03-31", "--period-days", "60", "--periods", "2")
    assert report["buckets"] == ["current", "1-60", "61+"]
    # I6 28 dpd and I2 45 dpd fall in 1-60; I8 70 dpd and I3 120 dpd in 61+.
    assert report["totals"] == {"current": "600.00", "1-60": "686.67", "61+": "200.50", "total": "1487.17", "unapplied_credit": "100.00",
                                "disputed": "0.00"}


def test_kpis_json(tmp_path):
    b = kpi_book
    db = write_book(tmp_path / "k.duckdb", b.CUSTOMERS, b.INVOICES, b.PAYMENTS, b.CREDIT_MEMOS, b.APPLICATIONS)
    report = report_json("kpis", "--db", str(db), "--as-of", "2026-06-30", "--window", "90")
    assert list(report) == list(KPI_KEYS)
    # The 90-day window is April to June (91 days): DSO 3,400 / 6,000 x 91 (tests/test_kpis.py).
    assert report == {
        "total_ar": "3400.00", "overdue_ar": "2400.00", "pct_current": 0.2941, "pct_91_plus": 0.1176,
        "dso": 51.57, "dso_countback": 54.8, "bpdso": 15.17, "add": 36.4, "add_invoice": 17.5, "cei": 52.0,
        "ar_turnover": 1.62, "bad_debt_ratio": 0.1, "window_days": 90,
        "window_months": 3, "window_start": "2026-04-01", "window_end": "2026-06-30", "days_in_window": 91, "notes": [],
    }


def test_clients_json_is_the_worklist(sample_db):
    report = report_json("clients", "--db", str(sample_db), "--as-of", "2026-03-31")
    assert [c["customer_id"] for c in report["clients"]] == ["C3", "C1", "C2"]
    acme = report["clients"][1]
    assert acme["overdue"] == "280.00" and acme["oldest_days_past_due"] == 70 and acme["overdue_since"] == "2026-01-20"
    assert acme["email"] == "ap@acme.example" and acme["last_payment_date"] == "2026-03-15"


def test_as_of_defaults_to_the_date_the_data_runs_to(sample_db):
    assert report_json("aging", "--db", str(sample_db))["as_of"] == "2026-03-31"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--as-of", "2025-01-01"], "error: as-of date 2025-01-01 is before the first transaction (2025-11-01); choose 2025-11-01 or later"),
        (["--basis", "paid"], "python -m etl report: error: argument --basis: invalid choice: 'paid' (choose from 'due', 'invoice') (see --help)"),
        (["--as-of", "31/03/2026"], "python -m etl report: error: argument --as-of: '31/03/2026' is not a date: use YYYY-MM-DD (see --help)"),
    ],
)
def test_bad_requests_are_one_line_errors(sample_db, args, message):
    result = etl_here("report", "aging", "--db", str(sample_db), *args)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [message]
    assert result.stdout == ""


def test_a_table_is_written_for_people():
    report = {"total_ar": "384557.41", "overdue_ar": "-7994.14", "pct_current": 0.6133, "cei": 69.8612,
              "dso": 35.72, "bad_debt_ratio": 0.0201, "window_days": 90, "paid_invoices": 1234, "dso_countback": None}
    header, values = render("kpis", report, "table").splitlines()
    assert values.split() == ["384,557.41", "-7,994.14", "61.3%", "69.9%", "35.72", "2.0%", "90", "1,234"]
    assert header.split() == list(report)
