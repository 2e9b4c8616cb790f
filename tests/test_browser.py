"""End to end: `streamlit run app.py` on a loopback port, read by headless Chromium."""

import pytest
from playwright.sync_api import expect

from core.db import read_only
from metrics import ar_summary
from tests.browser import ARTIFACTS, serving, skip_without_chromium, wait_until_the_script_has_run
from tests.conftest import DEMO_AS_OF
from ui.format import money

skip_without_chromium()


@pytest.fixture(scope="module")
def dashboard(demo_db):
    with serving(demo_db) as url:
        yield url


def test_overview_in_a_real_browser(dashboard, browser, demo_db):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
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
    page.close()


@pytest.mark.parametrize("path, heading", [
    ("/aging", "Aging"), ("/clients", "Clients to chase"), ("/autopay", "Autopay"),
    ("/forecast", "Cash forecast and recurring revenue"), ("/data_sync", "Data & sync"),
])
def test_a_bookmarked_page_url_keeps_the_sidebar_and_banner(dashboard, browser, path, heading):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard + path)
    page.get_by_role("heading", name=heading, exact=True, level=1).wait_for(timeout=60_000)
    wait_until_the_script_has_run(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("As of", exact=True)).to_be_visible()
    expect(sidebar.get_by_role("link", name="Overview")).to_be_visible()
    expect(page.get_by_text("Demo data.")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{path.strip('/')}.png", full_page=True)
    page.close()
