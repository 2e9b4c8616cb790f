"""Benchmark: the cash forecast, its backtest and the MRR outlook, in time and peak memory.

    .venv/bin/python -m bench.bench_forecast [--big PATH ...] [--heavy-client 5000] [--skip-books]
                                             [--highradius PATH]

Books: the demo, IBM's public A/R sample, a generated 10k-invoice book with and without one extra
client holding --heavy-client small invoices of similar amounts a few days apart (what made
recurring recognition quadratic), any --big DuckDB files (copied to a temporary folder and
upgraded there, never written in place), and with --highradius the HighRadius payment-date
sample's dataset.csv (not in the repository: docs/sources/highradius_sample.md says where it is),
read by etl/sources/highradius_sample.py. Each figure is one cold run in a fresh process, so its
peak memory (ru_maxrss, the whole Python process, about 200 MB of it libraries) is its own; the
call is then repeated in the same process (`again`: DuckDB's caches warm, the file read):

- `cash_forecast` (13 weeks at the as-of date), `backtest` (26 weekly cut-offs), `mrr_outlook`
  (the MRR forecast with the backtest that picks its method, as the Forecast page asks for it).

Goals (issue 12, 2 cores): backtest < 2 s on the demo, < 15 s and < 1.5 GB at 100k invoices,
< 2 GB at 1M; a client with 5,000 invoices adds well under a second.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_SAMPLE = ROOT.parent / "shared" / "data" / "public" / "WA_Fn-UseC_-Accounts-Receivable.csv"
CALLS = ("cash_forecast", "backtest", "mrr_outlook")

# Run in a child: one call on one book, printing its seconds and the process's peak memory.
CHILD = """
import json, resource, sys, time
import metrics
from core.db import read_only
from metrics.status import books_span
path, call = sys.argv[1], sys.argv[2]
with read_only(path) as con:
    as_of = books_span(con)[1]
    run = {"cash_forecast": lambda: metrics.cash_forecast(con, as_of), "backtest": lambda: metrics.backtest(con, as_of),
           "mrr_outlook": lambda: metrics.mrr_outlook(con, as_of)}[call]
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    run()
    again = time.perf_counter() - started
summary = result[1] if call == "backtest" else None
print(json.dumps({"seconds": seconds, "again": again, "peak_mb": peak, "as_of": as_of.isoformat(), "summary": summary}))
"""


def measure(path: Path, call: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), call], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.splitlines()[-1])


def with_heavy_client(books: dict[str, pd.DataFrame], invoices: int, seed: int = 3) -> dict[str, pd.DataFrame]:
    """`books` plus one client billed `invoices` times over the books' span, about 50.00 each,
    every few days, paid 0-20 days after its due date (Net 30) when that is by the last day."""
    rng = np.random.default_rng(seed)
    last = pd.Timestamp(books["invoices"]["txn_date"].max()).date()
    first = pd.Timestamp(books["invoices"]["txn_date"].min()).date()
    span = (last - first).days
    days = sorted(first + timedelta(days=int(d)) for d in rng.integers(0, span + 1, invoices))
    ids = [f"H{n}" for n in range(invoices)]
    amounts = [f"{50 + rng.integers(-200, 201) / 100:.2f}" for _ in ids]
    paid = [day + timedelta(days=30 + int(rng.integers(0, 21))) for day in days]
    settled = [on <= last for on in paid]
    heavy = {
        "customers": pd.DataFrame({"customer_id": ["HEAVY"], "name": ["Heavy Billing Co"]}),
        "invoices": pd.DataFrame({"invoice_id": ids, "customer_id": "HEAVY", "txn_date": days,
                                  "due_date": [d + timedelta(days=30) for d in days], "total": amounts,
                                  "home_total": amounts, "kind": "other"}),
        "payments": pd.DataFrame({"payment_id": [f"P{i}" for i, s in zip(ids, settled) if s], "customer_id": "HEAVY",
                                  "txn_date": [on for on, s in zip(paid, settled) if s],
                                  "amount": [a for a, s in zip(amounts, settled) if s], "method": "ach"}),
        "applications": pd.DataFrame({"application_id": [f"A{i}" for i, s in zip(ids, settled) if s],
                                      "invoice_id": [i for i, s in zip(ids, settled) if s],
                                      "payment_id": [f"P{i}" for i, s in zip(ids, settled) if s],
                                      "applied_on": [on for on, s in zip(paid, settled) if s],
                                      "amount": [a for a, s in zip(amounts, settled) if s]}),
    }
    return {name: pd.concat([books[name], heavy[name]], ignore_index=True) if name in heavy else frame
            for name, frame in books.items()}


def build_books(folder: Path, heavy_invoices: int) -> dict[str, Path]:
    from bench.bench_metrics import AS_OF, generate_books
    from etl import pipeline
    from etl.batch import Company
    from etl.sources import demo, tables
    from etl.sources.ibm_sample import read_books

    paths = {"demo": folder / "demo.duckdb"}
    pipeline.run(paths["demo"], demo.SOURCE, demo.DemoSettings(AS_OF))
    company, books = read_books(PUBLIC_SAMPLE)
    paths["IBM A/R sample"] = folder / "ibm.duckdb"
    pipeline.run(paths["IBM A/R sample"], tables.SOURCE, tables.Tables(company, books))
    generated = generate_books(10_000)
    bench_company = Company("bench", "b", "Bench MSP", data_through=AS_OF)
    paths["10k invoices"] = folder / "b10k.duckdb"
    pipeline.run(paths["10k invoices"], tables.SOURCE, tables.Tables(bench_company, generated, "bench"))
    name = f"10k + a client with {heavy_invoices:,}"
    paths[name] = folder / "b10k-heavy.duckdb"
    pipeline.run(paths[name], tables.SOURCE, tables.Tables(bench_company, with_heavy_client(generated, heavy_invoices),
                                                           "bench"))
    return paths


def highradius_book(folder: Path, sample: Path) -> dict[str, Path]:
    """The HighRadius sample's USD books, loaded as `python -m etl import highradius-sample` would."""
    from etl import pipeline
    from etl.sources import highradius_sample

    path = folder / "highradius.duckdb"
    print(pipeline.run(path, highradius_sample.SOURCE, sample).describe())
    return {"HighRadius A/R sample": path}


def copy_big(folder: Path, big: list[Path]) -> dict[str, Path]:
    """Copies of the --big files, upgraded in the copy (`python -m etl info` does that)."""
    paths = {}
    for source in big:
        copy = folder / source.name
        shutil.copyfile(source, copy)
        subprocess.run([sys.executable, "-m", "etl", "info", "--db", str(copy)], cwd=ROOT, capture_output=True,
                       check=True)
        paths[source.name] = copy
    return paths


def print_backtest(summary: dict, as_of: str) -> None:
    """The backtest's figures for docs/forecast.md: MAE and MAPE per method and horizon, coverage."""
    ours, due = summary["ledgerlight"], summary["due_date"]
    print(f"{'':32} backtest as of {as_of}, {summary['cutoffs']} cut-offs: weeks 1-4 MAE {ours['mae_1_4']:,.2f} vs "
          f"due date {due['mae_1_4']:,.2f} ({1 - ours['mae_1_4'] / due['mae_1_4']:.0%} better); in the 80 % band "
          f"{ours['coverage_1_4']:.0%} (weeks 1-4), {ours['coverage_5_13']:.0%} (5-13); the model's band "
          f"{ours['model_coverage_1_4']:.0%} / {ours['model_coverage_5_13']:.0%}")
    for method in ("ledgerlight", "due_date", "average_dso"):
        figures = summary[method]
        mape = " / ".join("n/a" if figures[f"mape_{h}"] != figures[f"mape_{h}"] else f"{figures[f'mape_{h}']:.1%}"
                          for h in ("1_4", "5_13"))
        print(f"{'':32}   {method:12} MAE {figures['mae_1_4']:14,.2f} / {figures['mae_5_13']:14,.2f}   "
              f"MAPE {mape} (weeks 1-4 / 5-13)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=Path, nargs="*", default=[], help="larger books (DuckDB files) to copy and time")
    parser.add_argument("--heavy-client", type=int, default=5000, help="invoices of the one heavy client (default 5000)")
    parser.add_argument("--skip-books", action="store_true", help="only the --big files (and --highradius)")
    parser.add_argument("--highradius", type=Path, help="the HighRadius sample's dataset.csv, to add its books")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = {} if args.skip_books else build_books(Path(folder), args.heavy_client)
        paths.update(highradius_book(Path(folder), args.highradius) if args.highradius else {})
        paths.update(copy_big(Path(folder), args.big))
        figures = {}
        print(f"{'book':32} {'call':14} {'cold s':>8} {'again s':>8} {'peak MB':>8}")
        for name, path in paths.items():
            for call in CALLS:
                figures[name, call] = result = measure(path, call)
                print(f"{name:32} {call:14} {result['seconds']:8.2f} {result['again']:8.2f} {result['peak_mb']:8.0f}",
                      flush=True)
                if result["summary"]:
                    print_backtest(result["summary"], result["as_of"])
        heavy = next((name for name in paths if name.startswith("10k +")), None)
        if heavy:
            print("\nThe heavy client adds:")
            for call in CALLS:
                cold, again = (figures[heavy, call][key] - figures["10k invoices", call][key] for key in ("seconds", "again"))
                print(f"  {call:14} {cold:+.2f} s cold, {again:+.2f} s again")


if __name__ == "__main__":
    main()
