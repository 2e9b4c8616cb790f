"""`python -m etl ...`: a thin command-line shell over the library; JSON shapes are a public contract."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from etl import reports
from etl.db import DatabaseError, connect_for_write, database_path, read_only
from etl.demo import build_demo_database
from etl.summary import database_summary


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit 2) instead of dumping the usage."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", help="DuckDB file (default: $LEDGERLIGHT_DB, else data/ledgerlight.duckdb)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m etl", description="ledgerlight: load A/R data into DuckDB and report on it.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser("demo", help="build the demo MSP company (replaces any earlier demo)")
    _add_db(demo)
    demo.add_argument("--as-of", type=iso_date, default=date.today(), help="last day of the books (default: today)")
    demo.add_argument("--seed", type=int, default=7, help="random seed; same seed and as-of date give the same books")
    demo.add_argument("--clients", type=_positive, default=120, help="number of clients (default 120)")
    demo.add_argument("--months", type=_positive, default=36, help="months of history (default 36)")
    demo.set_defaults(run=_run_demo)

    info = commands.add_parser("info", help="what the database holds: companies, counts, dates, last sync")
    _add_db(info)
    info.add_argument("--format", choices=("table", "json"), default="table")
    info.set_defaults(run=_run_info)

    report = commands.add_parser("report", help="aging, KPIs or the collections worklist as a table, CSV or JSON")
    report.add_argument("name", choices=list(reports.REPORTS), help="which report")
    _add_db(report)
    report.add_argument("--as-of", type=iso_date, help="YYYY-MM-DD (default: the date the data runs to)")
    report.add_argument("--basis", choices=("due", "invoice"), default="due", help="aging basis (default: due date)")
    report.add_argument("--period-days", type=_positive, default=30, help="aging period length in days (default 30)")
    report.add_argument("--periods", type=_positive, default=4, help="number of aging periods, the last open-ended (default 4)")
    report.add_argument("--window", type=int, choices=(30, 90, 365), default=90, help="KPI window in days (default 90)")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.set_defaults(run=_run_report)
    return parser


def _run_demo(args: argparse.Namespace, console: Console) -> None:
    path = database_path(args.db)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("Building the demo company", total=1.0)
        counts = build_demo_database(
            path,
            as_of=args.as_of,
            seed=args.seed,
            clients=args.clients,
            months=args.months,
            progress=lambda fraction, text: progress.update(task, completed=fraction, description=text),
        )
    print(f"Demo company written to {path} as of {args.as_of}: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))


def _run_info(args: argparse.Namespace, console: Console) -> None:
    con = connect_for_write(args.db)  # also upgrades an older file in place
    try:
        summary = database_summary(con)
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return
    console.print(f"{database_path(args.db)} · schema {summary['schema_version']}")
    if not summary["companies"]:
        console.print("No company yet: run `python -m etl demo` or connect a source.")
    for company in summary["companies"]:
        table = Table(title=f"{company['name']} ({company['source']}:{company['company_id']}, {company['home_currency']})")
        table.add_column("entity")
        table.add_column("rows", justify="right")
        for entity, count in company["counts"].items():
            table.add_row(entity, f"{count:,}")
        console.print(table)
        console.print(f"Invoices {company['first_invoice']} → {company['last_invoice']}; data through {company['data_through']}")
        sync = company["last_sync"]
        if sync:
            console.print(f"Last run: {sync['kind']} {sync['status']} at {sync['finished_at'] or sync['started_at']}"
                          + (f" — {sync['error']}" if sync["error"] else ""))


def _run_report(args: argparse.Namespace, console: Console) -> None:
    with read_only(args.db) as con:
        as_of = args.as_of or con.execute("SELECT max(data_through) FROM companies").fetchall()[0][0] or date.today()
        reports.check_as_of(con, as_of)
        report = reports.REPORTS[args.name](con, as_of, args)
    print(reports.render(args.name, report, args.format), end="" if args.format == "csv" else "\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False)
    try:
        args.run(args, console)
    except (DatabaseError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
