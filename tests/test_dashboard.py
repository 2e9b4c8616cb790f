"""The dashboard's shared parts, through the real app (AppTest): the client page, finding a client
from the sidebar, a what-if that outlives its page, the Overview's plain KPIs, tables' labels."""

import json
from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from core.db import read_only
from metrics import ar_summary, kpis
from metrics.kpi_review import previous_month_end
from tests.books import write_sample_book
from tests.conftest import DEMO_AS_OF, client_names
from tests.test_app import APP
from ui.format import days, money, signed_money

AS_OF = date(2026, 3, 31)  # the sample book's worked date (tests/books.py)


@pytest.fixture
def sample_db(tmp_path):
    return write_sample_book(tmp_path / "sample.duckdb")


def app_on(monkeypatch, db, page: str | None = None, **query) -> AppTest:
    monkeypatch.setenv("LEDGERLIGHT_DB", str(db))
    app = AppTest.from_file(APP, default_timeout=120)
    if page:
        app.switch_page(page)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def at(app: AppTest, day: date) -> AppTest:
    app.sidebar.date_input(key="as_of").set_value(day)
    return app.run()


def figures(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_the_client_page_shows_one_account_worked_by_hand(monkeypatch, sample_db):
    # Acme Dental (C1) with its sub-customer Dune Clinic (C4) at 03-31: I1 600.00 current, I2 200.00
    # 45 days past due, I8 80.00 70 days past due; nothing unapplied (CM1 went to I2); no autopay.
    app = at(app_on(monkeypatch, sample_db, "pages/client.py", client="C1"), AS_OF)
    assert not app.exception
    assert app.title[0].value == "Acme Dental"
    shown = figures(app)
    assert (shown["Owes"], shown["Overdue"], shown["Unapplied credit"], shown["Autopay"]) == (
        "$880.00", "$280.00", "$0.00", "off")
    open_invoices = app.dataframe[0].value
    assert sorted(open_invoices["home_open_amount"]) == [80.0, 200.0, 600.0]
    assert any("Open **$880.00**" in caption.value for caption in app.main.caption)  # the totals line
    assert app.query_params["client"] == "C1"  # the address names the client: a bookmark


def test_the_client_page_lists_payments_and_paid_invoices(monkeypatch, sample_db):
    # Birch Legal (C2): I3 120.50 open 120 days past due; I4 300.00 paid in full by P3 on 03-20,
    # 28 days after its invoice date and 13 after its due date; P6 75.00 still unapplied.
    app = at(app_on(monkeypatch, sample_db, "pages/client.py", client="C2"), AS_OF)
    shown = figures(app)
    assert (shown["Owes"], shown["Overdue"], shown["Unapplied credit"]) == ("$120.50", "$120.50", "$75.00")
    assert shown["Last payment"] == "28 Mar 2026"  # P6, though none of it is applied yet
    tables = {tuple(frame.value.columns): frame.value for frame in app.dataframe}
    paid = next(frame for columns, frame in tables.items() if "settled_on" in columns)
    assert paid[["doc_number", "days_to_pay", "days_late"]].values.tolist() == [["I4", 28.0, 13.0]]
    payments = next(frame for columns, frame in tables.items() if "payment_date" in columns)
    assert sorted(zip(payments["amount"], payments["unapplied"])) == [(75.0, 75.0), (300.0, 0.0)]


def test_an_unknown_client_in_the_address_falls_back_to_the_first(monkeypatch, sample_db):
    app = app_on(monkeypatch, sample_db, "pages/client.py", client="nobody")
    assert not app.exception
    assert app.title[0].value == "Acme Dental"  # the directory is by name


def test_finding_a_client_in_the_sidebar_opens_its_page(monkeypatch, sample_db):
    app = app_on(monkeypatch, sample_db)
    search = app.sidebar.selectbox(key="client_search")
    assert search.options == [
        "Acme Dental", "Birch Legal", "Cedar CPA", "Elm Dental"]  # accounts: Dune Clinic is under Acme
    search.set_value("C2").run()
    assert not app.exception
    assert app.title[0].value == "Birch Legal"
    assert app.query_params["client"] == "C2"


def test_tables_have_labels_dates_and_links_never_raw_names(monkeypatch, sample_db):
    app = at(app_on(monkeypatch, sample_db, "pages/aging.py"), AS_OF)
    customers = app.dataframe[0]
    assert "customer_id" not in customers.value.columns and "source" not in customers.value.columns
    assert sorted(client_names(customers.value["customer"])) == ["Acme Dental", "Birch Legal", "Cedar CPA", "Elm Dental"]
    labels = {column: config.get("label") for column, config in json.loads(customers.proto.columns).items()}
    assert labels["unapplied_credit"] == "Unapplied credit" and labels["customer"] == "Client"


def test_the_autopay_what_if_outlives_its_page(monkeypatch, demo_db):
    app = app_on(monkeypatch, demo_db, "pages/autopay.py")
    clients = app.multiselect(key="autopay_what_if_clients")
    chosen = clients.value[:2]
    clients.set_value(chosen).run()
    app.switch_page("app.py").run()
    app.switch_page("pages/autopay.py").run()
    assert app.multiselect(key="autopay_what_if_clients").value == chosen  # not back to the top 10
    app.radio(key="autopay_what_if_by").set_value("a share of non-autopay MRR").run()
    app.slider(key="autopay_what_if_share").set_value(50).run()
    app.switch_page("pages/forecast.py").run()
    app.switch_page("pages/autopay.py").run()
    assert app.radio(key="autopay_what_if_by").value == "a share of non-autopay MRR"
    assert app.slider(key="autopay_what_if_share").value == 50
    app.switch_page("pages/forecast.py").run()
    assert app.multiselect(key="forecast_what_if").value  # the share reaches the cash forecast as clients


def test_the_overview_reads_in_plain_words_with_the_change_since_last_month(monkeypatch, demo_db):
    app = app_on(monkeypatch, demo_db)
    previous = previous_month_end(DEMO_AS_OF)
    with read_only(demo_db) as con:
        now, before = ar_summary(con, DEMO_AS_OF).iloc[0], ar_summary(con, previous).iloc[0]
        kpi = kpis(con, DEMO_AS_OF, window_days=90).iloc[0]
    total = next(m for m in app.metric if m.label == "Total A/R")
    assert total.delta == f"{signed_money(now.total_ar - before.total_ar)} since 31 Oct"
    assert figures(app)["Days to collect (DSO)"] == days(kpi.dso)
    verdict = "worse than" if kpi.dso > 42 else "better than" if kpi.dso < 38 else "within"
    assert any(f"{verdict}] the typical 38.0 days–42.0 days" in c.value for c in app.main.caption)
    assert money(now.total_ar) == total.value
