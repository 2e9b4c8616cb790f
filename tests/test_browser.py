"""End to end: `streamlit run app.py` on a loopback port, read by headless Chromium."""

import shutil

import pytest
from playwright.sync_api import expect

from core.db import read_only
from metrics import ar_summary
from tests.browser import (
    ARTIFACTS,
    ROOT,
    in_tab,
    layout_problems,
    screenshot,
    serving,
    skip_without_chromium,
    wait_until_the_script_has_run,
)
from tests.conftest import DEMO_AS_OF
from ui.charts import NEUTRAL
from ui.format import money

NEUTRAL_RGB = "rgb({}, {}, {})".format(*(int(NEUTRAL[i:i + 2], 16) for i in (1, 3, 5)))

skip_without_chromium()
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1440, "height": 900}


@pytest.fixture(scope="module")
def dashboard(demo_db):
    with serving(demo_db) as url:
        yield url


def test_overview_in_a_real_browser(dashboard, tab, demo_db):
    page = in_tab(tab)
    page.goto(dashboard)
    value = page.locator('[data-testid="stMetricValue"]').first
    value.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
    wait_until_the_script_has_run(page)
    with read_only(demo_db) as con:
        expected = ar_summary(con, DEMO_AS_OF).iloc[0].total_ar
    assert value.inner_text() == money(expected)
    expect(page.get_by_text("Demo data.")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "overview.png", full_page=True)


@pytest.mark.parametrize("path, heading", [
    ("/aging", "Aging"), ("/clients", "Clients to chase"), ("/autopay", "Autopay"),
    ("/forecast", "Cash forecast and recurring revenue"), ("/data_sync", "Data & sync"),
    ("/client?client=C1112", "Bayview Foods"),
])
def test_a_bookmarked_page_url_keeps_the_sidebar_and_banner(dashboard, tab, path, heading):
    page = in_tab(tab, DESKTOP)
    page.goto(dashboard + path)
    page.get_by_role("heading", name=heading, exact=True, level=1).wait_for(timeout=60_000)
    wait_until_the_script_has_run(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("As of", exact=True)).to_be_visible()
    expect(sidebar.get_by_role("link", name="Overview")).to_be_visible()
    expect(page.get_by_text("Demo data.")).to_be_visible()
    assert layout_problems(page) == []  # no tile cut short, no hairline bar, no raw column name
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{path.strip('/').split('?')[0]}.png", full_page=True)


@pytest.mark.parametrize("path, viewport, theme", [
    ("/", PHONE, "light"), ("/clients", PHONE, "light"), ("/aging", PHONE, "light"),
    ("/", DESKTOP, "dark"), ("/forecast", DESKTOP, "dark"),
])
def test_pages_read_on_a_phone_and_in_dark_mode(dashboard, tab, path, viewport, theme):
    # Streamlit follows the reader's system setting (no theme is configured): a browser set to dark.
    page = in_tab(tab, viewport, theme)
    page.goto(dashboard + path)
    page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=60_000)
    wait_until_the_script_has_run(page)
    assert layout_problems(page) == []
    if theme == "dark":  # the neutral series (totals, what was actually collected) stay readable
        background = page.evaluate("() => getComputedStyle(document.querySelector('.stApp')).backgroundColor")
        assert background != "rgb(255, 255, 255)"
        assert page.locator(f'.js-plotly-plot path[style*="{NEUTRAL_RGB}"]').count() > 0
    screenshot(page, f"{theme}-{viewport['width']}{path.replace('/', '-').rstrip('-') or '-overview'}")


@pytest.fixture
def writable_dashboard(demo_db, tmp_path):
    """The app on a copy of the demo, for tests that import into it."""
    copy = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, copy)
    with serving(copy) as url:
        yield url, copy


def test_uploads_a_sweeping_roster_only_when_confirmed_then_books_from_files(writable_dashboard, tab, tmp_path):
    url, db = writable_dashboard
    with read_only(db) as con:
        enrolled = con.execute("SELECT name FROM customers JOIN autopay_enrollments USING (source, company_id, "
                               "customer_id) WHERE valid_to IS NULL AND status = 'enabled'").fetchall()
    roster = tmp_path / "everyone-off.csv"
    roster.write_text("customer,autopay\n" + "".join(f'"{name}",no\n' for (name,) in enrolled))
    page = in_tab(tab)
    page.goto(url + "/autopay")
    page.get_by_text("Import an autopay roster").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(roster))
    # Each step waits for the page to finish drawing: a click while the previous run still reads the
    # database would have the import's write refused by DuckDB in the same process (see the report).
    wait_until_the_script_has_run(page)
    page.get_by_role("button", name="Import roster").click()
    expect(page.get_by_text("Nothing was written: everyone-off.csv would take")).to_be_visible(timeout=60_000)
    page.get_by_text("Yes, take them off autopay").click()
    wait_until_the_script_has_run(page)
    page.get_by_role("button", name="Import roster").click()
    expect(page.get_by_text("everyone-off.csv: 50 customers matched")).to_be_visible(timeout=60_000)

    page.goto(url + "/data_sync")
    page.get_by_role("heading", name="Books from exported files").wait_for(timeout=60_000)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(ROOT / "tests" / "fixtures" / "files" / "qbd_open_invoices.csv"))
    wait_until_the_script_has_run(page)
    page.get_by_role("button", name="Import files").click()
    expect(page.get_by_text("a snapshot of 31 March 2026: the aging is known at that date only")).to_be_visible(timeout=60_000)
    page.goto(url)
    expect(page.get_by_text("The books of Harbor IT Services are a snapshot")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Demo data.")).to_have_count(0)  # the imported books replaced the demo
    wait_until_the_script_has_run(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "snapshot-overview.png", full_page=True)
