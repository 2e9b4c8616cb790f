"""The real Streamlit app, run headless with AppTest against real DuckDB files."""

from datetime import date

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")

from core.db import read_only
from metrics import aging_buckets, aging_by_customer, ar_summary, collections_worklist, kpis, open_invoices_as_of
from tests.conftest import DEMO_AS_OF, client_names, shown
from ui.format import days, money, percent


def run_app(monkeypatch, db) -> AppTest:
    monkeypatch.setenv("LEDGERLIGHT_DB", str(db))
    app = AppTest.from_file(APP, default_timeout=120)
    return app.run()


def test_overview_shows_the_figures_the_metrics_compute(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db)
    assert not app.exception
    with read_only(demo_db) as con:
        expected = ar_summary(con, DEMO_AS_OF).iloc[0]
        kpi = kpis(con, DEMO_AS_OF, window_days=90).iloc[0]
    shown = {m.label: m.value for m in app.metric}
    assert {label: shown[label] for label in ("Total A/R", "Overdue A/R", "% current", "DSO", "CEI")} == {
        "Total A/R": money(expected.total_ar),
        "Overdue A/R": money(expected.overdue_ar),
        "% current": percent(expected.pct_current),
        "DSO": days(kpi.dso),
        "CEI": percent(kpi.cei / 100),
    }
    helps = {m.label: m.help for m in app.metric}
    assert all(len(text) > 20 for text in helps.values()), helps  # every tile carries its formula
    # The window is whole months (tests/test_kpis.py): 90 days are the three months to 25 November.
    assert helps["DSO"] == "A/R ÷ credit sales in the last 3 months, 26 Aug 2026 to 25 Nov 2026 (92 days) × 92."
    assert helps["Avg days delinquent (CRF)"] == "ADD = DSO − best possible DSO."
    assert expected.total_ar > 0 and expected.overdue_ar > 0
    assert app.sidebar.date_input[0].value == DEMO_AS_OF  # defaults to the day the data runs to
    assert "Demo data" in app.info[0].value
    assert "25 November 2026" in app.caption[0].value
    # the monthly review pack (tests/test_pack.py reads it), for any month of the books, this one first
    assert [button.label for button in app.get("download_button")] == ["Download the pack (PDF)", "Download the pack (HTML)"]
    months = app.selectbox(key="pack_month")
    assert (months.value, months.options[0], months.options[-1], len(months.options)) == (
        "2026-11", "November 2026", "December 2023", 36)


def test_changing_the_as_of_date_recomputes(monkeypatch, demo_db):
    app = run_app(monkeypatch, demo_db)
    app.sidebar.date_input[0].set_value(date(2025, 6, 30)).run()
    with read_only(demo_db) as con:
        expected = ar_summary(con, date(2025, 6, 30)).iloc[0]
    assert app.metric[0].value == money(expected.total_ar)


def test_first_start_builds_the_demo_company(monkeypatch, tmp_path):
    db = tmp_path / "fresh" / "ledgerlight.duckdb"
    app = run_app(monkeypatch, db)
    assert not app.exception
    assert db.exists()
    assert "Demo data" in app.info[0].value
    assert app.metric[0].label == "Total A/R"


def test_foreign_database_is_reported_and_not_touched(monkeypatch, tmp_path):
    db = tmp_path / "books.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE ledger (id INTEGER)")
    con.close()
    before = db.read_bytes()
    app = run_app(monkeypatch, db)
    assert "books.duckdb is a DuckDB file from something else" in shown(app.error[0])
    assert not app.metric
    assert db.read_bytes() == before


def open_page(monkeypatch, db, script) -> AppTest:
    """A page opened straight from its URL: only that page's script runs, not app.py's."""
    monkeypatch.setenv("LEDGERLIGHT_DB", str(db))
    return AppTest.from_file(APP, default_timeout=120).switch_page(script).run()


@pytest.mark.parametrize("script", ["pages/aging.py", "pages/clients.py"])
def test_a_bookmarked_page_has_the_shared_sidebar_and_banner(monkeypatch, demo_db, script):
    page = open_page(monkeypatch, demo_db, script)
    assert not page.exception
    assert page.sidebar.date_input[0].value == DEMO_AS_OF
    assert "Demo data" in page.info[0].value


def test_aging_page_figures_and_drill_down(monkeypatch, demo_db):
    page = open_page(monkeypatch, demo_db, "pages/aging.py")
    with read_only(demo_db) as con:
        buckets = aging_buckets(con, DEMO_AS_OF)
        customers = aging_by_customer(con, DEMO_AS_OF)
        owing_past_due = aging_by_customer(con, DEMO_AS_OF, past_due_only=True)
        top = owing_past_due[owing_past_due["total"] > 0].iloc[0]  # listed with and without "Past due only"
        everyone = open_invoices_as_of(con, DEMO_AS_OF)
        theirs = open_invoices_as_of(con, DEMO_AS_OF, customer_id=top.customer_id)
        theirs_past_due = theirs[theirs["days_past_due"] > 0]
        past_due = aging_buckets(con, DEMO_AS_OF, past_due_only=True)
    shown = {m.label: m.value for m in page.metric}
    assert shown == {str(b.bucket): money(b.amount) for b in buckets.itertuples()}
    assert len(page.dataframe[0].value) == len(customers)
    assert page.selectbox(key="aging_customer").value is None  # every customer's open invoices at first
    assert len(page.dataframe[1].value) == len(everyone)

    page.selectbox(key="aging_customer").set_value(top.customer_id).run()  # what a click on its row does
    invoices = page.dataframe[1].value
    assert len(invoices) == len(theirs) > 0
    assert any(f"Open **{money(sum(theirs['home_open_amount']))}**" in c.value for c in page.main.caption)  # totals line

    page.segmented_control(key="aging_bucket").set_value("current").run()
    assert len(page.dataframe[1].value) == (theirs["bucket"] == "current").sum()

    page.segmented_control(key="aging_bucket").set_value(None).run()
    page.toggle(key="aging_past_due").set_value(True).run()  # tiles, customers and invoices agree
    assert {m.label: m.value for m in page.metric}["current"] == "$0.00"
    assert {m.label: m.value for m in page.metric}["91+"] == money(past_due["amount"].iloc[-1])
    assert len(page.dataframe[1].value) == len(theirs_past_due)

    page.radio[0].set_value("invoice").run()
    assert [m.label for m in page.metric] == ["0-30", "31-60", "61-90", "91+"]


def test_clients_page_lists_the_worklist(monkeypatch, demo_db):
    page = open_page(monkeypatch, demo_db, "pages/clients.py")
    with read_only(demo_db) as con:
        worklist = collections_worklist(con, DEMO_AS_OF, include_parked=False)  # parked clients shown on request
    assert page.metric[0].value == f"{len(worklist):,}"
    table = page.dataframe[0].value
    assert client_names(table["customer"]) == worklist["customer"].tolist()
    assert table["customer"].iloc[0].endswith(f"client={worklist['customer_id'].iloc[0]}")  # a link to its page
    assert table["overdue"].iloc[0] == float(worklist["overdue"].iloc[0])


def _two_companies(tmp_path, second_currency: str):
    """Harbor IT (USD) owes 100.00 and Maple MSP owes 250.00 in `second_currency`, each one invoice."""
    from etl.batch import Company
    from tests.books import write_book

    db = tmp_path / "two.duckdb"
    for company, total in ((Company("test", "c1", "Harbor IT"), "100.00"),
                           (Company("test", "c2", "Maple MSP", home_currency=second_currency), "250.00")):
        write_book(db, [{"customer_id": "K1", "name": "Kite Co", "currency": company.home_currency}],
                   [{"invoice_id": "I1", "customer_id": "K1", "txn_date": date(2026, 11, 2),
                     "due_date": date(2026, 12, 2), "total": total, "currency": company.home_currency}],
                   company=company)
    return db


def test_companies_in_two_home_currencies_are_shown_one_at_a_time(monkeypatch, tmp_path):
    app = run_app(monkeypatch, _two_companies(tmp_path, "CAD"))
    assert not app.exception
    picker = app.sidebar.selectbox(key="company_widget")
    assert [picker.format_func(option) for option in picker.options] == ["Harbor IT (test)", "Maple MSP (test)"]
    assert "mix currencies" in shown(app.sidebar.caption[0])  # why there is no "All companies"
    assert {m.label: m.value for m in app.metric}["Total A/R"] == "$100.00"
    picker.select(picker.options[1]).run()
    assert {m.label: m.value for m in app.metric}["Total A/R"] == "CA$250.00"


def test_companies_in_one_currency_can_be_summed_or_chosen(monkeypatch, tmp_path):
    app = run_app(monkeypatch, _two_companies(tmp_path, "USD"))
    picker = app.sidebar.selectbox(key="company_widget")
    assert picker.value == "All companies"
    assert {m.label: m.value for m in app.metric}["Total A/R"] == "$350.00"  # 100.00 + 250.00
    picker.select(picker.options[2]).run()
    assert {m.label: m.value for m in app.metric}["Total A/R"] == "$250.00"
    app.switch_page("pages/aging.py").run()  # the choice holds on every page
    assert app.sidebar.selectbox(key="company_widget").value == ("test", "c2")
    assert {m.label: m.value for m in app.metric}["current"] == "$250.00"
