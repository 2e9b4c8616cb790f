"""The dashboard's background warm-up (ui/warmup.py): it waits for pages, skips what fails, warms
exactly what the Forecast and client pages ask for, and a page it has warmed computes nothing."""

import threading

import pytest
import streamlit as st

import metrics
from core.errors import SettingsError
from core.settings import Settings
from tests.conftest import DEMO_AS_OF
from tests.test_dashboard import app_on
from ui import shell, warmup


def test_the_warm_up_waits_while_a_page_runs_and_skips_a_figure_that_fails():
    answers = [True, True, False, False, False]  # a page is running for two looks, then none
    computed = []

    def busy():
        return answers.pop(0)

    def compute(name, options):
        computed.append((name, len(answers)))
        if name == "broken":
            raise ValueError("no such figure")

    done = warmup.warm(compute, [("first", ()), ("broken", ()), ("last", ())], busy=busy)
    assert done == ["first", "last"]
    # the first figure only once the page had finished (3 looks taken), then one look per figure
    assert computed == [("first", 2), ("broken", 1), ("last", 0)]


def test_the_warm_up_of_data_a_sync_has_replaced_stops():
    versions = iter([True, False])  # the file changes after the first figure
    computed = []
    done = warmup.warm(lambda name, options: computed.append(name), [("first", ()), ("second", ())],
                       busy=lambda: False, current=lambda: next(versions))
    assert done == computed == ["first"]


def recorded(monkeypatch) -> list[tuple[str, tuple]]:
    """The (name, options) of every figure the pages ask shell for, at the date the data runs to."""
    calls = []
    real = shell._metric

    def recording(name, db, version, as_of, options, company=None):
        if as_of == DEMO_AS_OF:
            calls.append((name, options))
        return real(name, db, version, as_of, options, company)

    monkeypatch.setattr(shell, "_metric", recording)
    return calls


def test_the_warmed_figures_are_what_the_pages_ask_for(monkeypatch, demo_db):
    calls = recorded(monkeypatch)
    app_on(monkeypatch, demo_db, "pages/forecast.py")
    forecast = set(calls)
    for page, query in [("pages/client.py", {"client": "C1112"}), ("pages/autopay.py", {}),
                        ("pages/clients.py", {}), ("pages/aging.py", {})]:
        app = app_on(monkeypatch, demo_db, page, **query)
    app.toggle(key="aging_past_due").set_value(True).run()
    instant = {("snapshot_limit", (("history", True),))}  # what the book can tell: one small query
    assert forecast - instant <= set(warmup.WARMED), "every figure of the Forecast page is warmed"
    assert set(warmup.WARMED) <= set(calls), "the warm-up computes nothing a page does not ask for"


def test_pages_the_warm_up_has_reached_compute_nothing_themselves(monkeypatch, demo_db):
    """One warm-up, then the Forecast page reads its backtest; once Autopay has been seen, the
    Forecast page's what-if starts from Autopay's best candidates, and reads that warmed too."""
    runs = []
    real_backtest, real_forecast = metrics.backtest, metrics.cash_forecast

    def backtest(*args, **options):
        runs.append(("backtest", threading.current_thread().name, 0))
        return real_backtest(*args, **options)

    def cash_forecast(con, as_of, **options):
        what_if = len(options.get("autopay_customer_ids") or ())
        runs.append(("cash_forecast", threading.current_thread().name, what_if))
        return real_forecast(con, as_of, **options)

    monkeypatch.setattr(metrics, "backtest", backtest)
    monkeypatch.setattr(metrics, "cash_forecast", cash_forecast)
    monkeypatch.setenv("LEDGERLIGHT_WARM_UP", "on")
    st.cache_data.clear()  # nothing computed by an earlier test
    st.cache_resource.clear()
    app = app_on(monkeypatch, demo_db)  # the Overview, which starts the warm-up once it is drawn
    for thread in threading.enumerate():
        if thread.name == "ledgerlight-warm-up":
            thread.join()
    warmed = [("backtest", "ledgerlight-warm-up", 0), ("cash_forecast", "ledgerlight-warm-up", 0),
              ("cash_forecast", "ledgerlight-warm-up", 10)]
    assert sorted(runs) == warmed
    app.switch_page("pages/forecast.py").run()
    assert not app.exception
    assert app.title[0].value == "Cash forecast and recurring revenue"
    assert sorted(runs) == warmed, "the page read the warmed backtest and forecast"
    app.switch_page("pages/autopay.py").run()
    app.switch_page("pages/forecast.py").run()
    assert not app.exception
    assert len(app.multiselect(key="forecast_what_if").value) == 10
    assert sorted(runs) == warmed, "the page read the warmed what-if"
    st.cache_resource.clear()


def test_the_warm_up_setting_is_on_by_default_and_refuses_what_it_does_not_know():
    assert Settings({}, secrets_file=None).warm_up() is True
    assert Settings({"LEDGERLIGHT_WARM_UP": "OFF"}, secrets_file=None).warm_up() is False
    with pytest.raises(SettingsError, match="LEDGERLIGHT_WARM_UP='later' is neither on nor off"):
        Settings({"LEDGERLIGHT_WARM_UP": "later"}, secrets_file=None).warm_up()
