"""The cash-in forecast and its backtest, on a hand-worked book, the demo and IBM's public sample."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from core.db import read_only
from etl.sources.ibm_sample import read_books
from metrics.forecast import autopay_what_if_clients, backtest, backtest_weeks, cash_forecast
from tests.books import _invoice, _with_money, load_books, money
from tests.conftest import DEMO_AS_OF

AS_OF = date(2026, 3, 31)  # week 1 = 04-01..04-07, week 3 = 04-15..04-21, week 8 = 05-20..05-26
PUBLIC_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "public" / "WA_Fn-UseC_-Accounts-Receivable.csv"

# A: on autopay; of its last three invoices one was charged 5 days late (a failed charge retried):
#    failure share 1/3 of the money, retry after 5 days. Open 300.00 due 04-20 -> 200.00 on 04-20
#    (week 3) and 100.00 on 04-25 (week 4).
# L: habitually 20 days late (three invoices). Open 400.00 due 04-10 -> 04-30 (week 5).
# O: no history (the portfolio: every manual invoice was paid 20 days late); 250.00 due 2025-12-31
#    is 90 days overdue, later than anything on record -> the day after as-of (week 1), not the past.
# Q: quarterly schedule, last billed 01-01 on Net 30 -> next 900.00 on 04-01, due 05-01, paid
#    20 days late -> 05-21 (week 8), not yet issued. The one after (07-01) is past 13 weeks.
# X: churned: its schedule ended 02-01, so nothing more is expected from it.
# A's, L's and O's agreements end with the quarter (schedules ending 03-31).
SCHEDULES = [
    ("SA", "A", 300, "month", 1, date(2025, 1, 1), AS_OF, None, False, AS_OF),
    ("SL", "L", 400, "month", 1, date(2025, 1, 1), AS_OF, None, False, AS_OF),
    ("SO", "O", 250, "month", 1, date(2025, 1, 1), AS_OF, None, False, AS_OF),
    ("SQ", "Q", 900, "month", 3, date(2025, 10, 1), None, date(2026, 4, 1), True, date(2026, 1, 1)),
    ("SX", "X", 500, "month", 1, date(2025, 6, 1), date(2026, 2, 1), None, False, date(2026, 2, 1)),
]
# (invoice, customer, issued, due, total, paid on or None)
INVOICES = [
    ("IA1", "A", date(2026, 1, 5), date(2026, 1, 20), 100, date(2026, 1, 20)),
    ("IA2", "A", date(2026, 2, 5), date(2026, 2, 20), 100, date(2026, 2, 20)),
    ("IA3", "A", date(2026, 3, 5), date(2026, 3, 20), 100, date(2026, 3, 25)),
    ("IA4", "A", date(2026, 3, 21), date(2026, 4, 20), 300, None),
    ("IL1", "L", date(2025, 11, 1), date(2025, 12, 1), 400, date(2025, 12, 21)),
    ("IL2", "L", date(2025, 12, 1), date(2025, 12, 31), 400, date(2026, 1, 20)),
    ("IL3", "L", date(2026, 1, 1), date(2026, 1, 31), 400, date(2026, 2, 20)),
    ("IL4", "L", date(2026, 3, 11), date(2026, 4, 10), 400, None),
    ("IO1", "O", date(2025, 12, 1), date(2025, 12, 31), 250, None),
    ("IQ1", "Q", date(2026, 1, 1), date(2026, 1, 31), 900, date(2026, 2, 20)),
    ("IX1", "X", date(2026, 2, 1), date(2026, 3, 3), 500, date(2026, 3, 23)),
]
SCHEDULE_OF = {"A": "SA", "L": "SL", "O": "SO", "Q": "SQ", "X": "SX"}


def write_forecast_book(path: Path, invoices=INVOICES, schedules=SCHEDULES) -> Path:
    paid = [row for row in invoices if row[5] is not None]
    books = {
        "customers": pd.DataFrame([{"customer_id": c, "name": f"Client {c}", "currency": "USD"} for c in "ALOQX"]),
        "invoices": pd.DataFrame([
            _invoice({"invoice_id": i, "customer_id": c, "txn_date": issued, "due_date": due, "total": total,
                      "recurring_template_id": SCHEDULE_OF[c]})
            for i, c, issued, due, total, _ in invoices
        ]),
        "payments": pd.DataFrame([
            _with_money({"payment_id": f"P{i}", "customer_id": c, "txn_date": on, "amount": total, "method": "ach"}, "amount", "unapplied_amount")
            for i, c, _, _, total, on in paid
        ]),
        "applications": pd.DataFrame([
            {"application_id": f"A{i}", "invoice_id": i, "payment_id": f"P{i}", "credit_memo_id": None,
             "applied_on": on, "amount": money(total)}
            for i, _, _, _, total, on in paid
        ]),
        "recurring_schedules": pd.DataFrame(
            [(s, c, money(a), u, n, start, end, nxt, active, datetime.combine(updated, datetime.min.time()))
             for s, c, a, u, n, start, end, nxt, active, updated in schedules],
            columns=["schedule_id", "customer_id", "amount", "interval_unit", "interval_count", "start_date",
                     "end_date", "next_date", "active", "updated_at"]),
        "autopay_enrollments": pd.DataFrame(
            [("A", "imported", date(2025, 1, 1), None, "enabled", "ach")],
            columns=["customer_id", "provenance", "valid_from", "valid_to", "status", "method"]),
    }
    return load_books(path, books)


@pytest.fixture
def book(tmp_path):
    return write_forecast_book(tmp_path / "forecast.duckdb")


def _weeks(path: Path, **options) -> pd.DataFrame:
    with read_only(path) as con:
        return cash_forecast(con, AS_OF, **options)


def _by_week(frame: pd.DataFrame, column: str) -> dict[int, Decimal]:
    return {row.week: getattr(row, column) for row in frame.itertuples() if getattr(row, column) != 0}


def test_hand_worked_forecast(book):
    weeks = _weeks(book)
    assert len(weeks) == 13 and weeks["week_start"].iloc[0] == AS_OF + timedelta(days=1)
    assert _by_week(weeks, "expected") == {1: Decimal("250.00"), 3: Decimal("200.00"), 4: Decimal("100.00"),
                                           5: Decimal("400.00"), 8: Decimal("900.00")}
    assert _by_week(weeks, "from_not_yet_issued") == {8: Decimal("900.00")}
    assert (weeks["expected"] == weeks["from_open"] + weeks["from_not_yet_issued"]).all()
    assert (weeks["low"] <= weeks["expected"]).all() and (weeks["expected"] <= weeks["high"]).all()


def test_autopay_what_if_moves_a_client_to_its_due_date(book):
    weeks = _weeks(book, autopay_customer_ids={"L"})
    # L's 400.00 due 04-10: 266.67 charged on 04-10 (week 2), the failure share 133.33 on 04-15 (week 3)
    assert _by_week(weeks, "expected")[2] == Decimal("266.67")
    assert _by_week(weeks, "expected")[3] == Decimal("200.00") + Decimal("133.33")
    assert 5 not in _by_week(weeks, "expected")


def test_backtest_ignores_everything_after_its_cutoff(tmp_path):
    plain = write_forecast_book(tmp_path / "plain.duckdb")
    # Planted after the cut-off: O pays its overdue invoice on 04-02, L gets a new invoice, and
    # Q's schedule is edited (a new amount and an end date) on 04-05.
    later = [*INVOICES, ("IO2", "O", date(2026, 4, 1), date(2026, 4, 1), 250, None),
             ("IL5", "L", date(2026, 4, 3), date(2026, 5, 3), 999, date(2026, 4, 6))]
    later = [(i, c, issued, due, total, date(2026, 4, 2) if i == "IO1" else on)
             for i, c, issued, due, total, on in later]
    schedules = [(*row[:2], 1200, *row[3:6], date(2026, 6, 1), row[7], row[8], date(2026, 4, 5)) if row[0] == "SQ" else row
                 for row in SCHEDULES]
    planted = write_forecast_book(tmp_path / "planted.duckdb", later, schedules)
    run_to = AS_OF + timedelta(weeks=13)  # the backtest's only cut-off is then AS_OF
    with read_only(plain) as con:
        before = backtest_weeks(con, run_to, cutoffs=1)
    with read_only(planted) as con:
        after = backtest_weeks(con, run_to, cutoffs=1)
    assert (after["cutoff"] == AS_OF).all()
    forecast_columns = ["expected", "low", "high", "due_date_baseline", "average_dso_baseline"]
    pd.testing.assert_frame_equal(before[forecast_columns], after[forecast_columns])
    # ...while the planted payments do show up as cash actually collected
    assert after.loc[0, "actual"] - before.loc[0, "actual"] == Decimal("250.00") + Decimal("999.00")
    assert after.loc[0, "expected"] == Decimal("250.00")


def _improvement(summary: dict) -> float:
    return 1 - summary["ledgerlight"]["mae_1_4"] / summary["due_date"]["mae_1_4"]


def test_backtest_on_the_demo_beats_the_due_date_baseline(demo_db):
    with read_only(demo_db) as con:
        weekly, summary = backtest(con, DEMO_AS_OF)
    assert summary["cutoffs"] == 26 and len(weekly) == 26 * 13
    assert weekly["cutoff"].max() == DEMO_AS_OF - timedelta(weeks=13)
    assert _improvement(summary) >= 0.30
    assert set(summary["due_date"]) == {"mae_1_4", "mape_1_4", "mae_5_13", "mape_5_13"}


def test_backtest_on_the_public_sample_beats_the_due_date_baseline(tmp_path):
    company, books = read_books(PUBLIC_SAMPLE)
    with read_only(load_books(tmp_path / "ibm.duckdb", books, company)) as con:
        _, summary = backtest(con, company.data_through)
    assert _improvement(summary) >= 0.30


def test_cli_report_and_backtest_json(book):
    import json
    import subprocess
    import sys

    def etl(*args):
        return subprocess.run([sys.executable, "-m", "etl", *args], cwd=Path(__file__).resolve().parent.parent,
                              capture_output=True, text=True, timeout=120)

    report = etl("report", "forecast", "--db", str(book), "--as-of", AS_OF.isoformat(), "--format", "json")
    assert report.returncode == 0, report.stderr
    shape = json.loads(report.stdout)
    assert shape["as_of"] == "2026-03-31" and len(shape["weeks"]) == 13
    assert shape["weeks"][7] == {"week_start": "2026-05-20", "week_end": "2026-05-26", "expected": "900.00",
                                 "low": "900.00", "high": "900.00", "from_open": "0.00", "from_not_yet_issued": "900.00"}
    assert shape["totals"]["expected"] == "1850.00"
    csv = etl("report", "forecast", "--db", str(book), "--as-of", AS_OF.isoformat(), "--format", "csv")
    assert csv.stdout.splitlines()[0] == "week_start,week_end,expected,low,high,from_open,from_not_yet_issued"
    result = etl("backtest", "--db", str(book), "--as-of", "2026-06-30", "--format", "json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["cutoffs"] == 26
    assert set(summary) == {"cutoffs", "ledgerlight", "due_date", "average_dso"}
    assert set(summary["ledgerlight"]) == {"mae_1_4", "mape_1_4", "mae_5_13", "mape_5_13"}


def test_forecast_page(monkeypatch, demo_db):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP

    monkeypatch.setenv("LEDGERLIGHT_DB", str(demo_db))
    st.cache_data.clear()
    page = AppTest.from_file(APP, default_timeout=120).switch_page("pages/forecast.py").run()
    assert not page.exception
    with read_only(demo_db) as con:
        expected = sum(cash_forecast(con, DEMO_AS_OF)["expected"])
        chosen = autopay_what_if_clients(con, DEMO_AS_OF)["customer_id"].iloc[0]
        with_what_if = sum(cash_forecast(con, DEMO_AS_OF, autopay_customer_ids={chosen})["expected"])
    assert page.metric[0].value == f"${expected:,.2f}"
    page.multiselect[0].set_value([chosen]).run()
    assert not page.exception
    assert page.metric[0].value == f"${with_what_if:,.2f}"


def test_the_autopay_pages_what_if_carries_into_the_cash_curve(monkeypatch, demo_db):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP

    monkeypatch.setenv("LEDGERLIGHT_DB", str(demo_db))
    st.cache_data.clear()
    app = AppTest.from_file(APP, default_timeout=120).switch_page("pages/autopay.py").run()
    chosen = app.multiselect(key="autopay_what_if_clients").value[:2]
    app.multiselect(key="autopay_what_if_clients").set_value(chosen).run()
    app.switch_page("pages/forecast.py").run()
    assert not app.exception
    assert app.multiselect(key="forecast_what_if").value == chosen
    with read_only(demo_db) as con:
        expected = sum(cash_forecast(con, DEMO_AS_OF, autopay_customer_ids=set(chosen))["expected"])
    assert app.metric[0].value == f"${expected:,.2f}"
