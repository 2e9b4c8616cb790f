"""Benchmark: load time and metric times on generated books of 10k, 100k and 1M invoices.

    .venv/bin/python -m bench.bench_metrics [--sizes 10000 100000 1000000] [--repeat 3]

Books are made with numpy (one invoice a month per client over 36 months, per-client lateness,
10 % paid in two parts, the recent ones open) and written through etl/pipeline.py, the path
every source takes. Each metric runs on a read-only connection, as the dashboard does; the figure
is the median of --repeat runs. Target: aging at any as-of date on 1M invoices under 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

import metrics
from core.db import read_only
from etl import pipeline
from etl.batch import Company
from etl.sources import tables

AS_OF = date(2026, 11, 25)
MONTHS = 36


def _money_text(cents: np.ndarray) -> pd.Series:
    """Exact decimal strings from integer cents (DuckDB casts them to DECIMAL on insert)."""
    cents = pd.Series(cents)
    return (cents // 100).astype(str) + "." + (cents % 100).astype(str).str.zfill(2)


def generate_books(invoice_count: int, seed: int = 1) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    clients = -(-invoice_count // MONTHS)  # ceiling: the last client may have fewer months
    first_month = np.datetime64(f"{AS_OF:%Y-%m}", "M") - (MONTHS - 1)
    client = np.repeat(np.arange(clients), MONTHS)[:invoice_count]
    month = np.tile(np.arange(MONTHS), clients)[:invoice_count]
    issued = (first_month + month).astype("datetime64[D]")
    due = issued + 30
    monthly_cents = (rng.lognormal(8, 1, clients) * 100).astype(np.int64) + 30_000
    cents = monthly_cents[client]
    habit = rng.choice([-2, 5, 25, 60], size=clients, p=[0.4, 0.3, 0.2, 0.1])
    paid = due + (habit[client] + rng.normal(0, 4, invoice_count).round()).astype("timedelta64[D]")
    settled = paid <= np.datetime64(AS_OF)
    split = settled & (rng.random(invoice_count) < 0.1)
    first_part = np.where(split, cents // 2, cents)

    ids = pd.Series(np.arange(invoice_count)).astype(str)
    applications = pd.concat(
        [
            pd.DataFrame({"invoice_id": ids[settled], "applied_on": paid[settled], "cents": first_part[settled], "part": "a"}),
            pd.DataFrame({"invoice_id": ids[split], "applied_on": paid[split], "cents": (cents - first_part)[split], "part": "b"}),
        ],
        ignore_index=True,
    )
    applications["application_id"] = applications["invoice_id"] + applications["part"]
    applications["payment_id"] = applications["application_id"]
    applications["amount"] = _money_text(applications.pop("cents").to_numpy())
    customer_of = dict(enumerate(pd.Series(np.arange(clients)).astype(str)))
    invoice_customer = pd.Series(client).map(customer_of)
    return {
        "customers": pd.DataFrame({"customer_id": list(customer_of.values()),
                                   "name": [f"Client {n:06d}" for n in range(clients)]}),
        "invoices": pd.DataFrame({"invoice_id": ids, "customer_id": invoice_customer, "txn_date": issued,
                                  "due_date": due, "total": _money_text(cents), "home_total": _money_text(cents),
                                  "kind": "recurring"}),
        "payments": pd.DataFrame({"payment_id": applications["payment_id"],
                                  "customer_id": invoice_customer.to_numpy()[applications["invoice_id"].astype(int)],
                                  "txn_date": applications["applied_on"], "amount": applications["amount"],
                                  "method": "ach"}),
        "applications": applications.drop(columns="part"),
    }


def timed(function, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


METRIC_CALLS = {
    "aging_buckets": lambda con: metrics.aging_buckets(con, AS_OF),
    "aging_buckets (a year back)": lambda con: metrics.aging_buckets(con, date(2025, 11, 25)),
    "aging_by_customer": lambda con: metrics.aging_by_customer(con, AS_OF),
    "ar_trend (12 month-ends)": lambda con: metrics.ar_trend(con, AS_OF),
    "kpis (90 days)": lambda con: metrics.kpis(con, AS_OF),
    "client_payment_habits": lambda con: metrics.client_payment_habits(con, AS_OF),
    "collections_worklist": lambda con: metrics.collections_worklist(con, AS_OF),
}


def bench(size: int, repeat: int, folder: Path) -> None:
    started = time.perf_counter()
    books = generate_books(size)
    generated = time.perf_counter() - started
    path = folder / f"bench-{size}.duckdb"
    started = time.perf_counter()
    pipeline.run(path, tables.SOURCE, tables.Tables(Company("bench", "b", "Bench MSP", data_through=AS_OF), books, "bench"))
    loaded = time.perf_counter() - started

    print(f"\n{size:,} invoices ({len(books['applications']):,} applications): "
          f"generated in {generated:.2f} s, loaded in {loaded:.2f} s")
    opened = timed(lambda: read_only(path).__enter__().close(), repeat)
    with read_only(path) as con:
        scan = timed(lambda: con.execute("SELECT count(*), sum(total) FROM invoices").fetchall(), repeat)
        print(f"  {'open read-only connection':32} {opened * 1000:9.1f} ms")
        print(f"  {'bare scan of invoices':32} {scan * 1000:9.1f} ms")
        for name, call in METRIC_CALLS.items():
            seconds = timed(lambda: call(con), repeat)
            print(f"  {name:32} {seconds * 1000:9.1f} ms   {seconds / scan:7.1f}x scan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            bench(size, args.repeat, Path(folder))


if __name__ == "__main__":
    main()
