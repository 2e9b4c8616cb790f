"""`python -m etl ...`: a thin command-line shell over the library; JSON shapes are a public contract."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from etl import quickbooks, reports
from etl.db import DatabaseError, connect_for_write, database_path, read_only
from etl.autopay_inference import infer_autopay
from etl.autopay_roster import CANONICAL_COLUMNS, import_roster_file
from etl.demo import build_demo_database
from etl.summary import database_summary
from etl.tokens import TokenStore


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

    connect = commands.add_parser("connect", help="connect a source: prints the sign-in URL, stores the refresh token")
    connect.add_argument("source", choices=("quickbooks",))
    connect.add_argument("--redirect-url", help="the URL QuickBooks redirected to after sign-in (else asked for)")
    connect.set_defaults(run=_run_connect)

    sync = commands.add_parser("sync", help="bring the books up to date from a source (incremental after the first run)")
    sync.add_argument("source", choices=("quickbooks",))
    _add_db(sync)
    sync.add_argument("--full", action="store_true", help="re-read everything instead of the changes since the last sync")
    sync.set_defaults(run=_run_sync)

    roster = commands.add_parser("import", help="import an autopay roster (CSV or Excel) exported from a payment portal")
    roster.add_argument("kind", choices=("autopay",), help="what the file is")
    roster.add_argument("file", help="the roster: a header row, then one row per customer (see README, Autopay)")
    _add_db(roster)
    roster.add_argument("--company", help="company id, when the database holds several")
    roster.add_argument(
        "--map", action="append", default=[], type=_column_mapping, metavar="COLUMN=HEADER",
        help=f"which header holds a column ({', '.join(CANONICAL_COLUMNS)}), when its name is not recognised; repeatable",
    )
    roster.add_argument("--on", type=iso_date, help="the date the roster describes (default: today)")
    roster.set_defaults(run=_run_import)

    infer = commands.add_parser("infer", help="infer autopay from payment behaviour (imported rosters still win)")
    infer.add_argument("kind", choices=("autopay",), help="what to infer")
    _add_db(infer)
    infer.add_argument("--company", help="company id, when the database holds several")
    infer.set_defaults(run=_run_infer)

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

    backtest = commands.add_parser("backtest", help="replay the cash forecast at the last 26 weekly cut-offs vs cash collected")
    _add_db(backtest)
    backtest.add_argument("--as-of", type=iso_date, help="YYYY-MM-DD: the last cut-off is 13 weeks before it (default: the date the data runs to)")
    backtest.add_argument("--format", choices=("table", "json"), default="table")
    backtest.set_defaults(run=_run_backtest)
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


def _run_backtest(args: argparse.Namespace, console: Console) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with read_only(args.db) as con, Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        con.execute("SET enable_progress_bar = false")  # rich draws the progress
        as_of = args.as_of or con.execute("SELECT max(data_through) FROM companies").fetchall()[0][0] or date.today()
        reports.check_as_of(con, as_of)
        task = progress.add_task("Replaying the forecast at each cut-off", total=26)
        summary = reports.backtest_report(con, as_of, lambda done, total: progress.update(task, completed=done, total=total))
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"Cash forecast backtest: {summary['cutoffs']} weekly cut-offs to {as_of}")
    for heading in ("method", "MAE weeks 1–4", "MAPE weeks 1–4", "MAE weeks 5–13", "MAPE weeks 5–13"):
        table.add_column(heading, justify="left" if heading == "method" else "right")
    for method, figures in summary.items():
        if method != "cutoffs":
            table.add_row(method, f"{figures['mae_1_4']:,.2f}", f"{figures['mape_1_4']:.1%}",
                          f"{figures['mae_5_13']:,.2f}", f"{figures['mape_5_13']:.1%}")
    console.print(table)


def _run_connect(args: argparse.Namespace, console: Console) -> None:
    settings = quickbooks.read_settings()
    store = TokenStore()
    if args.redirect_url is None and (settings.refresh_token or store.get(quickbooks.SOURCE, settings.realm_id)):
        quickbooks.QuickBooksConnection(settings, store)  # proves the token works, and rotates it
        console.print(f"QuickBooks company {settings.realm_id} is connected; the refresh token is stored.")
        return
    redirect_url = args.redirect_url
    if redirect_url is None:
        console.print("Sign in to QuickBooks and choose the company:\n" + quickbooks.authorization_url(settings))
        redirect_url = input("Then paste the whole address you were redirected to: ").strip()
    realm = quickbooks.connect_with_redirect(settings, redirect_url, store)
    console.print(f"Connected QuickBooks company {realm}. Next: python -m etl sync quickbooks")


def _run_sync(args: argparse.Namespace, console: Console) -> None:
    settings = quickbooks.read_settings()
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("Syncing QuickBooks", total=1.0)
        result = quickbooks.sync(
            database_path(args.db), settings, full=args.full,
            progress=lambda fraction, text: progress.update(task, completed=fraction, description=text),
        )
    written = ", ".join(f"{n:,} {table}" for table, n in result.counts.items() if n)
    asked = ", ".join(f"{n} {endpoint}" for endpoint, n in result.requests.items())
    print(f"{result.mode.capitalize()} sync of QuickBooks company {settings.realm_id} done: "
          f"{written or 'nothing changed'} ({asked} requests).")


def _column_mapping(text: str) -> tuple[str, str]:
    column, equals, header = text.partition("=")
    if not equals or column.strip() not in CANONICAL_COLUMNS or not header.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not COLUMN=HEADER with COLUMN one of {', '.join(CANONICAL_COLUMNS)}")
    return column.strip(), header.strip()


def _run_import(args: argparse.Namespace, console: Console) -> None:
    report = import_roster_file(args.db, args.file, company_id=args.company, mapping=dict(args.map), imported_on=args.on)
    print(report.summary())
    for row in report.unmatched:
        print(f"  not imported: row {row.row} {row.customer!r}: {row.reason}")


def _run_infer(args: argparse.Namespace, console: Console) -> None:
    con = connect_for_write(args.db)
    try:
        written = infer_autopay(con, args.company)
    finally:
        con.close()
    print(f"{written} inferred autopay periods written (imported rosters and manual entries still win)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False)
    try:
        args.run(args, console)
    except (DatabaseError, ValueError, quickbooks.SyncError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
