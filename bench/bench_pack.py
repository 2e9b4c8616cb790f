"""Benchmark: the monthly review pack of the demo company, as `python -m etl pack` makes it.

    .venv/bin/python -m bench.bench_pack [--repeat 3] [--month 2026-10]

Builds the demo (as of 2026-11-25, the tests' product clock) in a temporary file, then times the
command end to end for a PDF and for an HTML file (a fresh process each time: imports, metrics,
Kaleido's Chromium, printing), and, in this process, each stage of one build: the metrics, the
charts (Kaleido boots while the metrics run, so its time is what it adds after them) and printing.
Prints the median of --repeat runs and the ratio to the 15 s target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from core.db import read_only
from core.settings import Settings
from etl import pack, pipeline
from etl.sources import demo

AS_OF = date(2026, 11, 25)
TARGET_SECONDS = 15.0
ROOT = Path(__file__).resolve().parent.parent


def command_seconds(db: Path, month: str, out: Path) -> float:
    env = {**os.environ, "LEDGERLIGHT_TODAY": AS_OF.isoformat()}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "etl", "pack", "--db", str(db), "--month", month, "--out", str(out)],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def stage_seconds(db: Path, month: str) -> dict[str, float]:
    reader = Settings({"LEDGERLIGHT_TODAY": AS_OF.isoformat()}, secrets_file=None)
    times = {}
    with read_only(db) as con, pack.ChartDrawer(reader.chromium()) as drawer:
        started = time.perf_counter()
        data = pack.pack_data(con, pack.pack_month(con, month, AS_OF))
        view = pack.pack_view(data, None, AS_OF)
        times["metrics"] = time.perf_counter() - started
        started = time.perf_counter()
        images = drawer.draw(pack.pack_figures(data))
        times["charts after the metrics"] = time.perf_counter() - started
    started = time.perf_counter()
    pack.pack_pdf(pack.pack_html(view, images), reader.chromium(), AS_OF)
    times["printing the PDF"] = time.perf_counter() - started
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--month", default="2026-10")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "demo.duckdb"
        pipeline.run(db, demo.SOURCE, demo.DemoSettings(AS_OF))
        print(f"demo company as of {AS_OF}, pack for {args.month}, {os.cpu_count()} cores, median of {args.repeat}")
        for suffix in (".pdf", ".html"):
            runs = [command_seconds(db, args.month, Path(folder) / f"pack{suffix}") for _ in range(args.repeat)]
            median = statistics.median(runs)
            print(f"python -m etl pack --out pack{suffix}: {median:5.2f} s (runs {', '.join(f'{r:.2f}' for r in runs)}); "
                  f"{median / TARGET_SECONDS:.0%} of the {TARGET_SECONDS:.0f} s target")
        stages = [stage_seconds(db, args.month) for _ in range(args.repeat)]
        for stage in stages[0]:
            print(f"  {stage}: {statistics.median(s[stage] for s in stages):5.2f} s")


if __name__ == "__main__":
    main()
