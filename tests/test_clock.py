"""Time is an input: LEDGERLIGHT_TODAY sets the product's today for the demo, a sync's report date,
CDC's window and the dashboard's default as-of date; the as-of date follows the data until the
user picks one."""

import json
import os
import subprocess
from datetime import date

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.db import read_only
from core.errors import SettingsError
from core.settings import Settings
from tests.conftest import build_demo
from tests.quickbooks_ledger import run_sync, tick
from tests.test_app import APP
from tests.test_cli import etl_here


def cli(*args: str, today: str) -> subprocess.CompletedProcess:
    return etl_here(*args, env={**os.environ, "LEDGERLIGHT_TODAY": today})


def test_the_clock_reads_one_setting():
    assert Settings({"LEDGERLIGHT_TODAY": "2031-02-28"}, secrets_file=None).today() == date(2031, 2, 28)
    assert Settings({"LEDGERLIGHT_TODAY": "2031-02-28"}, secrets_file=None).now().date() == date(2031, 2, 28)
    with pytest.raises(SettingsError, match="LEDGERLIGHT_TODAY='next monday' is not a date: use YYYY-MM-DD"):
        Settings({"LEDGERLIGHT_TODAY": "next monday"}, secrets_file=None).today()


def test_the_demo_ends_on_the_clocks_today(tmp_path):
    db = tmp_path / "demo.duckdb"
    built = cli("demo", "--db", str(db), "--clients", "4", "--months", "3", today="2025-05-15")
    assert built.returncode == 0, built.stderr
    assert "as of 2025-05-15" in built.stdout
    (company,) = json.loads(cli("info", "--db", str(db), "--format", "json", today="2025-05-15").stdout)["companies"]
    assert company["data_through"] == "2025-05-15"
    assert company["last_invoice"] <= "2025-05-15"
    wrong = cli("demo", "--db", str(tmp_path / "x.duckdb"), today="soon")
    assert wrong.returncode == 2
    assert wrong.stderr == "error: LEDGERLIGHT_TODAY='soon' is not a date: use YYYY-MM-DD, or unset it\n"


def test_a_sync_reports_and_reconciles_at_the_clocks_today(server, store, tmp_path, monkeypatch):
    db = tmp_path / "qbo.duckdb"
    run_sync(server, store, db)
    tick(server)
    monkeypatch.setenv("LEDGERLIGHT_TODAY", "2026-11-27")
    assert run_sync(server, store, db).kind == "incremental"
    with read_only(db) as con:
        assert con.execute("SELECT DISTINCT report_date FROM source_aging ORDER BY 1").fetchall() == [
            (date(2026, 11, 25),), (date(2026, 11, 27),)]
        assert con.execute("SELECT data_through FROM companies").fetchall() == [(date(2026, 11, 27),)]


@pytest.mark.parametrize("today, kind", [("2026-12-23", "incremental"), ("2026-12-24", "full")])
def test_cdcs_thirty_days_are_counted_on_the_clock(server, store, tmp_path, monkeypatch, today, kind):
    db = tmp_path / "qbo.duckdb"
    run_sync(server, store, db)  # the cursor: the server's time on 2026-11-25
    tick(server)
    monkeypatch.setenv("LEDGERLIGHT_TODAY", today)  # 28 days on, then 29: past CDC's window less a day
    assert run_sync(server, store, db).kind == kind


def as_of_shown(app: AppTest) -> date:
    return app.sidebar.date_input[0].value


def test_the_as_of_date_follows_new_data_until_the_user_picks_one(tmp_path, monkeypatch):
    db = tmp_path / "demo.duckdb"
    build_demo(db, date(2026, 10, 31), clients=6, months=4)
    monkeypatch.setenv("LEDGERLIGHT_DB", str(db))
    st.cache_data.clear()
    app = AppTest.from_file(APP, default_timeout=120).run()
    assert as_of_shown(app) == date(2026, 10, 31)

    build_demo(db, date(2026, 11, 25), clients=6, months=4)  # new data arrives
    app.run()
    assert as_of_shown(app) == date(2026, 11, 25)
    assert "25 November 2026" in app.caption[0].value

    app.sidebar.date_input[0].set_value(date(2026, 9, 30)).run()  # the user picks a date
    assert as_of_shown(app) == date(2026, 9, 30)
    build_demo(db, date(2026, 11, 27), clients=6, months=4)
    app.switch_page("pages/aging.py").run()
    assert as_of_shown(app) == date(2026, 9, 30)  # kept across new data and pages

    app.sidebar.button(key="as_of_follow").click().run()
    assert as_of_shown(app) == date(2026, 11, 27)
    assert not app.exception
