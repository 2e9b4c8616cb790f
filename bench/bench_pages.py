"""Benchmark: the dashboard as people use it, in a real browser (Debian's chromium via Playwright).

    .venv/bin/python -m bench.bench_pages [--size 100000] [--load-seconds 60] [--skip-load]

Prints, per page: the models it runs (and any run twice for the same dates), first-visit time
in a new session with the caches cold and warm, and the time a control change takes; the first
start of a fresh clone (demo built) to a rendered Overview; and, with --load-seconds, the page
times while 20 HTTP sessions and 4 browser tabs read and a writer loops, with the writer's
lock-outs and the server's memory; then the Forecast and Client pages' first visit on a fresh
server after --reading-seconds on the Overview, with and without the background warm-up
(ui/warmup.py; the table above is without it, each page's own cost). Books of --size invoices are generated as bench_metrics does
(0: the default demo).
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

import models
from bench.bench_metrics import AS_OF, generate_books
from etl import pipeline
from etl.batch import Company
from etl.sources import demo, tables
from tests.browser import CHROMIUM, serving, wait_until_the_script_has_run

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"Overview": "", "Aging": "/aging", "Clients to chase": "/clients", "Autopay": "/autopay",
         "Forecast": "/forecast", "Data & sync": "/data_sync", "Client": "/client"}
SCRIPTS = {"Overview": "app.py", "Aging": "pages/aging.py", "Clients to chase": "pages/clients.py",
           "Autopay": "pages/autopay.py", "Forecast": "pages/forecast.py", "Data & sync": "pages/data_sync.py",
           "Client": "pages/client.py"}


def build_books(size: int, folder: Path) -> Path:
    path = folder / f"books-{size}.duckdb"
    if size == 0:
        pipeline.run(path, demo.SOURCE, demo.DemoSettings(AS_OF))
    else:
        company = Company("bench", "b", "Bench MSP", data_through=AS_OF)
        pipeline.run(path, tables.SOURCE, tables.Tables(company, generate_books(size), "bench"))
    return path


def model_calls(db: Path) -> dict[str, tuple[int, list[str], float]]:
    """Per page: the model queries it runs, those run twice for the same dates, and their seconds."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["LEDGERLIGHT_DB"] = str(db)
    original = models.frame
    found = {}
    for page, script in SCRIPTS.items():
        calls: list[tuple[str, tuple]] = []
        spent = [0.0]

        def counted(con, name, params=None, **variables):
            calls.append((name, tuple(sorted(map(str, (params or {}).get("dates", []))))))
            started = time.perf_counter()
            try:
                return original(con, name, params, **variables)
            finally:
                spent[0] += time.perf_counter() - started
        models.frame = counted
        try:
            st.cache_data.clear()
            app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
            (app.switch_page(script) if script != "app.py" else app).run()
        finally:
            models.frame = original
        repeated = [f"{name}×{n}" for (name, dates), n in collections.Counter(calls).items() if n > 1 and dates]
        found[page] = (len(calls), repeated, spent[0])
    return found


def _open(browser, url: str) -> float:
    """Seconds from asking for `url` in a new tab to the page script having finished."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    started = time.perf_counter()
    page.goto(url)
    page.locator('[data-testid="stMainBlockContainer"] h1').first.wait_for(timeout=600_000)
    wait_until_the_script_has_run(page)
    elapsed = time.perf_counter() - started
    page.close()
    return elapsed


def _control_change(browser, url: str, toggles: int = 6) -> tuple[float, float]:
    """Seconds for the Aging page to redraw after "Past due only" is switched, in one tab once the
    page has settled (its charts' scripts loaded): the first switch (its figures computed), and the
    median of the next ones (on and off again, both cached)."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url + "/aging")
    page.locator('[data-testid="stMainBlockContainer"] h1').first.wait_for(timeout=600_000)
    wait_until_the_script_has_run(page)
    page.wait_for_timeout(2000)
    times = []
    for _ in range(toggles):
        started = time.perf_counter()
        page.get_by_text("Past due only").click()
        page.wait_for_timeout(50)
        wait_until_the_script_has_run(page)
        page.evaluate("() => new Promise(drawn => requestAnimationFrame(() => requestAnimationFrame(drawn)))")
        times.append(time.perf_counter() - started)
    page.close()
    return times[0], statistics.median(times[1:])


def first_visits(browser, db: Path, reading_seconds: float) -> None:
    """The slowest pages' first visit on a freshly started server, after the Overview has been open
    `reading_seconds`: without the background warm-up, and with it (ui/warmup.py)."""
    print(f"\nFirst visit after {reading_seconds:.0f} s on the Overview (fresh server):")
    for warm_up in ("off", "on"):
        with serving(db, LEDGERLIGHT_WARM_UP=warm_up) as url:
            overview = _open(browser, url)
            time.sleep(reading_seconds)
            forecast, client = _open(browser, url + PAGES["Forecast"]), _open(browser, url + PAGES["Client"])
        print(f"  warm-up {warm_up:<4} Overview {overview:6.2f} s · then Forecast {forecast:6.2f} s · then Client {client:6.2f} s")


def first_start(browser) -> float:
    """A fresh clone's first start: no database yet, the demo built, to a rendered Overview."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        with serving(Path(folder) / "data" / "ledgerlight.duckdb") as url:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)
            page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=600_000)
            wait_until_the_script_has_run(page)
            elapsed = time.perf_counter() - started
            page.close()
    return elapsed


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _streamlit_pid(port: str) -> int:
    out = subprocess.run(["pgrep", "-f", f"server.port={port}"], capture_output=True, text=True).stdout.split()
    return int(out[0])


def _launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])


def load(url: str, db: Path, seconds: float) -> None:
    """20 HTTP sessions and 4 browser tabs read while `python -m etl infer autopay` writes in a loop."""
    pid = _streamlit_pid(url.rsplit(":", 1)[1])
    memory_before = _rss_mb(pid)
    stop = threading.Event()
    http_times: list[float] = []
    page_times: list[float] = []
    writes = collections.Counter()

    def http_session():
        while not stop.is_set():
            started = time.perf_counter()
            urllib.request.urlopen(url, timeout=60).read()
            http_times.append(time.perf_counter() - started)

    def tab():  # Playwright's sync API belongs to one thread: each tab has its own browser
        with sync_playwright() as playwright:
            browser = _launch(playwright)
            while not stop.is_set():
                for path in PAGES.values():
                    page_times.append(_open(browser, url + path))
            browser.close()

    def writer():
        env = {**os.environ, "LEDGERLIGHT_DB": str(db)}
        while not stop.is_set():
            done = subprocess.run([sys.executable, "-m", "etl", "infer", "autopay"], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
            writes["succeeded" if done.returncode == 0 else "failed: " + done.stderr.strip()[-120:]] += 1

    threads = ([threading.Thread(target=http_session) for _ in range(20)] + [threading.Thread(target=tab) for _ in range(4)]
               + [threading.Thread(target=writer)])
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    print(f"\nLoad for {seconds:.0f} s: page p50 {statistics.median(page_times):.2f} s, max {max(page_times):.2f} s "
          f"over {len(page_times)} page views; HTTP p50 {statistics.median(http_times) * 1000:.0f} ms over "
          f"{len(http_times)} requests; writer {dict(writes)}; streamlit memory {memory_before:.0f} → {_rss_mb(pid):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=0, help="invoices in generated books (0: the demo)")
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--reading-seconds", type=float, default=30,
                        help="how long the reader stays on the Overview before opening the slow pages")
    args = parser.parse_args()
    os.environ.setdefault("LEDGERLIGHT_TODAY", AS_OF.isoformat())
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        browser = _launch(playwright)
        print(f"First start of a fresh clone (demo built) to a rendered Overview: {first_start(browser):.1f} s")
        db = build_books(args.size, Path(folder))
        print(f"\nBooks: {'the demo' if args.size == 0 else f'{args.size:,} invoices'} as of {AS_OF}")
        calls = model_calls(db)
        print(f"{'page':<18}{'models':>7}{'model s':>9}{'cold s':>8}{'warm s':>8}  repeated for one date set")
        with serving(db, LEDGERLIGHT_WARM_UP="off") as url:  # each page's own cost
            for page, path in PAGES.items():
                cold = _open(browser, url + path)
                warm = _open(browser, url + path)
                count, repeated, spent = calls[page]
                print(f"{page:<18}{count:>7}{spent:>9.2f}{cold:>8.2f}{warm:>8.2f}  {', '.join(repeated) or '-'}")
            first, again = _control_change(browser, url)
            print(f"Control change (Aging, Past due only, one tab): first {first:.2f} s, again {again:.2f} s")
            if not args.skip_load:
                load(url, db, args.load_seconds)
        first_visits(browser, db, args.reading_seconds)
        browser.close()


if __name__ == "__main__":
    main()
