"""Benchmark: the QuickBooks test server (tests/qbo_server.py) under a large company.

    .venv/bin/python -m bench.bench_qbo_server [--sizes 10000 50000] [--sync] [--server PATH]

For each size it builds a ledger of that many invoices (20 per customer, Net 30, one in ten paid,
one credit memo and one journal entry per hundred invoices when the server has them), then reads
it the way the connector does: the real python-quickbooks client paging every entity 1,000 at a
time, one CDC request after a few edits, one AgedReceivables report. It prints the build time,
each entity's pages (count, total, slowest, first and last page) and the CDC and report times.
With --sync it also times the product's full sync (etl.pipeline into a temporary DuckDB file).
--server loads another copy of qbo_server.py (e.g. the one on main, to compare before/after).

Figures are wall-clock seconds on this machine; the server runs in-process on a thread, so they
include the client's JSON parsing. Linear means the per-page times stay flat as pages go by.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 25, 17, 0, tzinfo=timezone.utc)
ENTITIES = ("Term", "PaymentMethod", "Customer", "Invoice", "Payment", "CreditMemo", "RecurringTransaction")


def load_server_module(path: str | None):
    if path is None:
        from tests import qbo_server
        return qbo_server
    spec = importlib.util.spec_from_file_location("qbo_server_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build(server, invoices: int) -> None:
    net30 = server.add_term("Net 30", 30)
    customers = [server.add_customer(f"Client {n:05d}", terms_id=net30) for n in range(-(-invoices // 20))]
    start = date(2024, 1, 1)
    for n in range(invoices):
        customer = customers[n // 20]
        issued = start + timedelta(days=(n % 20) * 30)
        invoice = server.add_invoice(customer, issued, "125.00", term_id=net30)
        if n % 10 == 0:
            server.add_payment(customer, issued + timedelta(days=25), "125.00", {invoice: "125.00"})
        if n % 100 == 50:
            server.add_credit_memo(customer, issued, "10.00")
        if n % 100 == 70 and hasattr(server, "add_journal_entry"):
            server.add_journal_entry(issued, [("debit", "84", "7.50", customer), ("credit", "79", "7.50")])


def connect(server):
    from intuitlib.client import AuthClient
    from quickbooks import QuickBooks

    auth = AuthClient(server.client_id, server.client_secret, server.redirect_uri, environment=server.discovery_url)
    qb = QuickBooks(auth_client=auth, refresh_token=server.current_refresh_token, company_id=server.realm_id,
                    minorversion=75, use_decimal=True)
    qb.api_url_v3 = server.api_base
    return qb


def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def read_everything(qb) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    for entity in ENTITIES:
        where = " WHERE Active IN (true, false)" if entity == "Customer" else ""
        start, pages = 1, []
        while True:
            text = f"SELECT * FROM {entity}{where} ORDERBY Id STARTPOSITION {start} MAXRESULTS 1000"
            seconds, response = timed(lambda: qb.query(text))
            pages.append(seconds)
            if len(response.get("QueryResponse", {}).get(entity, [])) < 1000:
                break
            start += 1000
        timings[entity] = pages
    return timings


def run_size(module, invoices: int, sync: bool) -> None:
    print(f"\n== {invoices:,} invoices ==")
    with module.QuickBooksServer(now=NOW) as server:
        seconds, _ = timed(lambda: build(server, invoices))
        print(f"build ledger: {seconds:8.2f} s")
        qb = connect(server)
        total = 0.0
        for entity, pages in read_everything(qb).items():
            total += sum(pages)
            print(f"query {entity:<21} {len(pages):3d} pages  total {sum(pages):7.2f} s  slowest {max(pages):6.3f} s"
                  f"  first {pages[0]:6.3f} s  last {pages[-1]:6.3f} s")
        print(f"all queries: {total:8.2f} s")

        since = server.now.isoformat()
        server.now = server.now + timedelta(minutes=1)
        customer = next(iter(server._records["Customer"]))
        for _ in range(5):
            server.add_invoice(customer, date(2026, 11, 20), "10.00")
        seconds, _ = timed(lambda: qb.change_data_capture(",".join(ENTITIES), since))
        print(f"cdc (5 changes): {seconds:6.3f} s")
        seconds, _ = timed(lambda: qb.get_report("AgedReceivables", {"report_date": "2026-11-25"}))
        print(f"AgedReceivables: {seconds:6.3f} s")
        if sync:
            print(f"product full sync: {product_sync(server):8.2f} s")


def product_sync(server) -> float:
    from core.tokens import TokenStore
    from etl import pipeline
    from etl.sources import quickbooks
    from etl.sources.quickbooks.api import QuickBooksSettings

    with tempfile.TemporaryDirectory() as folder:
        store = TokenStore(Path(folder) / "tokens")
        settings = QuickBooksSettings(
            client_id=server.client_id, client_secret=server.client_secret, redirect_uri=server.redirect_uri,
            realm_id=server.realm_id, environment=server.discovery_url, api_base=server.api_base,
            refresh_token=server.current_refresh_token, token_folder=store.folder, backoff=0.01)
        seconds, _ = timed(lambda: pipeline.run(Path(folder) / "qbo.duckdb", quickbooks.SOURCE, settings, full=True))
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--sync", action="store_true", help="also time the product's full sync")
    parser.add_argument("--server", help="path of another qbo_server.py to measure")
    args = parser.parse_args()
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
    os.environ.setdefault("LEDGERLIGHT_TODAY", "2026-11-25")
    module = load_server_module(args.server)
    print(f"server: {module.__file__}")
    for size in args.sizes:
        run_size(module, size, args.sync)


if __name__ == "__main__":
    main()
