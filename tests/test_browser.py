"""End to end: `streamlit run app.py` on a loopback port, read by headless Chromium."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from core.db import read_only
from metrics import ar_summary
from tests.conftest import DEMO_AS_OF
from ui.format import money

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
ROOT = Path(__file__).resolve().parent.parent

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(db: Path, **environ: str):
    """`streamlit run app.py` on a free loopback port over `db`; yields its URL once it answers."""
    port = free_port()
    env = {**os.environ, "LEDGERLIGHT_DB": str(db), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **environ}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("streamlit did not start:\n" + server.stdout.read1().decode())
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def dashboard(demo_db):
    with serving(demo_db) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield chromium
        chromium.close()


def wait_until_the_script_has_run(page) -> None:
    """Streamlit shows a running indicator in its header until the page script finishes."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText.includes('Stop')", timeout=60_000)


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
