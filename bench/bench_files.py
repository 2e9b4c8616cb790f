"""Benchmark: importing exported files at the sizes the shared reader allows.

    .venv/bin/python -m bench.bench_files [--sizes 1000 10000 50000 90000]

For each size, an invoices file and a payments file (a payment a month per paid invoice, every
invoice named, a tenth paid in two parts) are written as CSV, then imported through
etl/pipeline.py as `python -m etl import files` does; and a roster of as many rows is read (the
autopay roster shares the reader). Prints the file sizes, the seconds (one run) and the peak memory the
Python side allocated (tracemalloc, a second run), and the seconds per 10,000 invoices. Last, the time to refuse a
200 MB file (the size issue 11 measured at 5 minutes and 3.1 GB): it is refused from its size
alone, before a byte is read.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

from core.errors import InputError
from etl import pipeline, tabular
from etl.sources import autopay_roster, files

AS_OF = date(2026, 11, 25)


def write_export(folder: Path, invoices: int) -> tuple[Path, Path]:
    start = AS_OF - timedelta(days=3 * 365)
    invoice_lines = ["Invoice Number,Invoice Date,Due Date,Customer Name,Total,Balance"]
    payment_lines = ["Payment Number,Date,Customer Name,Amount,Invoice Number,Amount Applied to Invoice"]
    payment = 0
    for number in range(invoices):
        issued = start + timedelta(days=number * 3 * 365 // invoices)
        due = issued + timedelta(days=30)
        customer = f"Client {number % 400:03d}"
        cents = 30_000 + (number * 7919) % 900_000
        total = f"{cents // 100}.{cents % 100:02d}"
        paid_on = due + timedelta(days=number % 40 - 5)
        if paid_on <= AS_OF:
            parts = [cents // 2, cents - cents // 2] if number % 10 == 0 else [cents]
            for offset, part in enumerate(parts):
                payment += 1
                text = f"{part // 100}.{part % 100:02d}"
                payment_lines.append(f"{payment},{paid_on + timedelta(days=offset)},{customer},{text},INV-{number},{text}")
            balance = "0.00"
        else:
            balance = total
        invoice_lines.append(f"INV-{number},{issued},{due},{customer},{total},{balance}")
    invoice_file, payment_file = folder / "invoices.csv", folder / "payments.csv"
    invoice_file.write_text("\n".join(invoice_lines) + "\n")
    payment_file.write_text("\n".join(payment_lines) + "\n")
    return invoice_file, payment_file


def measured(work) -> tuple[float, float]:
    """Seconds of one run, then the peak memory of another (tracemalloc slows Python several times)."""
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / (1024 * 1024)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000, 90000])
    args = parser.parse_args()
    print(f"{'invoices':>9} {'files':>9} {'import':>9} {'peak':>9} {'s/10k':>7} | {'roster rows':>11} {'read':>8} {'peak':>8}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for size in args.sizes:
            work = root / str(size)
            work.mkdir()
            invoice_file, payment_file = write_export(work, size)
            megabytes = (invoice_file.stat().st_size + payment_file.stat().st_size) / (1024 * 1024)
            settings = files.SOURCE.importer.settings([str(invoice_file), str(payment_file)], on=AS_OF)
            runs = iter(range(2))
            seconds, peak = measured(lambda: pipeline.run(work / f"books{next(runs)}.duckdb", files.SOURCE, settings))
            roster = ("customer,autopay,method\n" + "".join(f"Client {n},yes,card\n" for n in range(size))).encode()
            read_seconds, read_peak = measured(lambda: autopay_roster.read_roster("roster.csv", roster, on=AS_OF))
            print(f"{size:>9,} {megabytes:>7.1f}MB {seconds:>8.2f}s {peak:>7.0f}MB {seconds / size * 10_000:>7.2f} | "
                  f"{size:>11,} {read_seconds:>7.2f}s {read_peak:>6.0f}MB")
        huge = root / "huge.csv"
        with huge.open("wb") as handle:
            handle.truncate(200 * 1024 * 1024)
        started = time.perf_counter()
        try:
            tabular.read_bytes(str(huge))
        except InputError as refused:
            print(f"200 MB file refused in {(time.perf_counter() - started) * 1000:.2f} ms: {refused}")


if __name__ == "__main__":
    main()
