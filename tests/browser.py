"""What the browser tests share: a real `streamlit run app.py` on a loopback port, and Debian's
headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
ROOT = Path(__file__).resolve().parent.parent


def skip_without_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_app(env: dict, *options: str, port: int | None = None):
    """`streamlit run app.py` with `options` (e.g. --server.address=...) and `env` added to ours,
    until it answers its health check; yields (url, port, process). Always browsed as 127.0.0.1."""
    port = port or free_port()
    # The server's log goes to a file: a pipe nobody reads would stop the server once it filled.
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true", f"--server.port={port}", *options],
        cwd=ROOT, env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **env},
        stdout=log, stderr=subprocess.STDOUT,
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
                    raise RuntimeError("streamlit did not start: its log is printed below")
                time.sleep(0.3)
        yield url, port, server
    except BaseException:
        log.seek(0)
        print("streamlit's log:\n" + log.read().decode(errors="replace")[-5000:])  # pytest shows it with the failure
        raise
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@contextmanager
def serving(db: Path, **environ: str):
    """The dashboard over `db` on a free loopback port; yields its URL."""
    with streamlit_app({"LEDGERLIGHT_DB": str(db), **environ}, "--server.address=127.0.0.1") as (url, _, _):
        yield url


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


def in_tab(tab, viewport: dict | None = None, color_scheme: str = "light"):
    """The module's shared tab (conftest.tab) at this test's viewport and colour scheme."""
    tab.set_viewport_size(viewport or {"width": 1400, "height": 1000})
    tab.emulate_media(color_scheme=color_scheme)
    return tab


def wait_until_the_script_has_run(page) -> None:
    """Streamlit marks its root with the script's state: 'initial' before the first run, 'running',
    then 'notRunning' when the whole page is drawn (the header's running indicator appears only
    once a run has begun, so waiting for it to go could return before the page is there)."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', state="attached",
                           timeout=60_000)


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


_LAYOUT_PROBLEMS = """() => {
  const problems = [];
  for (const tile of document.querySelectorAll('[data-testid="stMetricValue"], [data-testid="stMetricLabel"]')) {
    for (const box of [tile, ...tile.querySelectorAll('*')]) {
      const text = box.innerText || '';
      if (text.trim().endsWith('…') || box.scrollWidth > box.clientWidth + 1) {
        problems.push(`cut short: ${tile.innerText.trim()}`);
        break;
      }
    }
  }
  for (const bar of document.querySelectorAll('.js-plotly-plot .bars path')) {
    const box = bar.getBBox();
    if (box.height > 0.5 && box.width < 4) problems.push(`a bar ${box.width.toFixed(1)} px wide`);
  }
  for (const header of document.querySelectorAll('[data-testid="stDataFrame"] table[role="grid"] th')) {
    const text = header.innerText.trim();
    if (/^[a-z0-9]+(_[a-z0-9]+)+$/.test(text)) problems.push(`a header that is not a label: ${text}`);
  }
  return [...new Set(problems)];
}"""


def layout_problems(page) -> list[str]:
    """What a reader trips over on the page as drawn: a tile cut short ("$374,…"), a bar too thin to
    see (a month drawn one day wide), a table header that is a column name, not a label. Each table
    is scrolled into view first: Streamlit draws a table's headers only once it has been on screen."""
    tables = page.locator('[data-testid="stDataFrame"]')
    for index in range(tables.count()):
        tables.nth(index).scroll_into_view_if_needed()
        tables.nth(index).locator('table[role="grid"] th').first.wait_for(state="attached", timeout=10_000)
    return page.evaluate(_LAYOUT_PROBLEMS)
