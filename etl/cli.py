"""`python -m etl ...`: a thin command-line shell over the library; JSON shapes are a public
contract (docs/cli.md). Errors are one line on stderr with exit code 2; nothing prints a traceback."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from contextlib import contextmanager
from datetime import date

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.access import hash_password
from core.db import connect_for_write, database_path, read_only
from core.errors import InputError, LedgerlightError
from core.settings import settings
from core.tokens import TokenStore
from etl import activity, pipeline, reminders, reports, sources, statements
from etl import pack as review_pack
from etl.sources.demo import DemoSettings
from metrics import database_summary


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


def _mappable_columns() -> list[str]:
    return sorted({column for source in sources.importable().values() for column in source.importer.columns})


def _column_mapping(text: str) -> tuple[str, str]:
    column, equals, header = text.partition("=")
    if not equals or column.strip() not in _mappable_columns() or not header.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not COLUMN=HEADER with COLUMN one of {', '.join(_mappable_columns())}")
    return column.strip(), header.strip()


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", help="DuckDB file (default: $LEDGERLIGHT_DB, else data/ledgerlight.duckdb)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m etl", description="ledgerlight: load A/R data into DuckDB and report on it.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser("demo", help="build the demo MSP company (replaces any earlier demo)")
    _add_db(demo)
    demo.add_argument("--as-of", type=iso_date, help="last day of the books (default: today, or $LEDGERLIGHT_TODAY)")
    demo.add_argument("--seed", type=int, default=7, help="random seed; same seed and as-of date give the same books")
    demo.add_argument("--clients", type=_positive, default=120, help="number of clients (default 120)")
    demo.add_argument("--months", type=_positive, default=36, help="months of history (default 36)")
    demo.set_defaults(run=_run_demo)

    info = commands.add_parser("info", help="what the database holds: companies, counts, dates, last sync")
    _add_db(info)
    info.add_argument("--format", choices=("table", "json"), default="table")
    info.set_defaults(run=_run_info)

    connectable = list(sources.connectable())
    connect = commands.add_parser("connect", help="connect a source: prints the sign-in URL, stores the refresh token")
    connect.add_argument("source", choices=connectable)
    connect.add_argument("--redirect-url", help="the URL the source redirected to after sign-in (else asked for)")
    connect.set_defaults(run=_run_connect)

    sync = commands.add_parser("sync", help="bring the books up to date from a source (incremental after the first run)")
    sync.add_argument("source", choices=connectable)
    _add_db(sync)
    sync.add_argument("--full", action="store_true", help="re-read everything instead of the changes since the last sync")
    sync.set_defaults(run=_run_sync)

    importable = sources.importable()
    kinds = ", ".join(f"{kind} ({source.label})" for kind, source in importable.items())
    load = commands.add_parser("import", help=f"import a file: {kinds}")
    load.add_argument("kind", choices=list(importable), help="what the file is (docs/sources/)")
    load.add_argument("files", nargs="+", metavar="FILE",
                      help="the file (CSV or .xlsx); `files` takes several at once, e.g. invoices.csv payments.csv")
    _add_db(load)
    load.add_argument("--company", help="company id, when the database holds several")
    load.add_argument(
        "--map", action="append", default=[], type=_column_mapping, metavar="COLUMN=HEADER",
        help=f"which header holds a column ({', '.join(_mappable_columns())}), when its name is not recognised; repeatable",
    )
    load.add_argument("--on", type=iso_date, help="the date the file describes (default: the file's own, else today)")
    load.add_argument("--replace-all", action="store_true",
                      help="confirm an import that replaces much of what is held (a roster that matches nobody or "
                      "takes most clients off autopay; an export older than the one loaded)")
    load.set_defaults(run=_run_import)

    infer = commands.add_parser("infer", help="infer autopay from payment behaviour (imported rosters still win)")
    infer.add_argument("kind", choices=("autopay",), help="what to infer")
    _add_db(infer)
    infer.add_argument("--company", help="company id, when the database holds several")
    infer.set_defaults(run=_run_infer)

    report = commands.add_parser("report", help=f"a report as a table, CSV or JSON: {', '.join(reports.REPORTS)}")
    report.add_argument("name", choices=list(reports.REPORTS), help="which report")
    _add_db(report)
    report.add_argument("--as-of", type=iso_date, help="YYYY-MM-DD (default: the date the data runs to)")
    report.add_argument("--basis", choices=("due", "invoice"), default="due", help="aging basis (default: due date)")
    report.add_argument("--period-days", type=_positive, default=30, help="aging period length in days (default 30)")
    report.add_argument("--periods", type=_positive, default=4, help="number of aging periods, the last open-ended (default 4)")
    report.add_argument("--window", type=int, choices=(30, 90, 365), default=90, help="KPI window: 30 = the last month, 90 = the last 3 months, 365 = the last 12, counted back from the as-of date (default 90)")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument("--hide-parked", action="store_true", help="clients: leave out clients parked by an open promise to pay")
    report.add_argument("--owner", help="clients: only those whose next action this person owns")
    report.add_argument("--action-due-by", type=iso_date, metavar="YYYY-MM-DD",
                        help="clients: only those whose next action is due on or before this date")
    report.set_defaults(run=_run_report)

    statement = commands.add_parser("statement", help="a client's statement (open invoices, credits, aging) as PDF or HTML")
    _add_db(statement)
    statement.add_argument("--customer", required=True, metavar="ID", help="the client's id (sub-customers are included)")
    statement.add_argument("--as-of", type=iso_date, help="YYYY-MM-DD (default: the date the data runs to)")
    statement.add_argument("--out", required=True, metavar="FILE", help="FILE.pdf or FILE.html")
    statement.set_defaults(run=_run_statement)

    remind = commands.add_parser("remind", help="send the reminder emails that are due, each exactly once (for cron)")
    _add_db(remind)
    remind.add_argument("--dry-run", action="store_true", help="show exactly what would go to whom, and send nothing")
    remind.add_argument("--stage", action="append", default=[], metavar="STAGE",
                        help="only this stage (repeatable); autopay_invite invites the conversion list")
    remind.add_argument("--eml", metavar="DIR", help="write each message to DIR as an .eml file instead of sending it")
    remind.add_argument("--company", help="company id, when the database holds several")
    remind.add_argument("--mark-sent", action="append", default=[], metavar="MESSAGE_ID",
                        help="an uncertain message you found was delivered: record it as sent")
    remind.add_argument("--mark-unsent", action="append", default=[], metavar="MESSAGE_ID",
                        help="an uncertain message you found was not delivered: the next run sends it")
    remind.add_argument("--format", choices=("table", "json"), default="table")
    remind.set_defaults(run=_run_remind)

    collections = commands.add_parser("activity", help="export or import ledgerlight's own collections data (JSON)")
    collections.add_argument("action", choices=("export", "import"))
    collections.add_argument("file", help="the JSON file to write or read")
    _add_db(collections)
    collections.set_defaults(run=_run_activity)

    backtest = commands.add_parser("backtest", help="replay the cash forecast at the last 26 weekly cut-offs vs cash collected")
    _add_db(backtest)
    backtest.add_argument("--as-of", type=iso_date, help="YYYY-MM-DD: the last cut-off is 13 weeks before it (default: the date the data runs to)")
    backtest.add_argument("--format", choices=("table", "json"), default="table")
    backtest.set_defaults(run=_run_backtest)

    pack = commands.add_parser("pack", help="the monthly review pack as PDF or HTML: the month's figures, each beside "
                               "the month before's, with the dashboard's charts")
    pack.add_argument("--month", required=True, metavar="YYYY-MM", help="the month; figures are as of its last day "
                      "(today, for the month under way)")
    pack.add_argument("--out", metavar="FILE", help="where to write it: a .pdf or .html file (--out, --email or both)")
    pack.add_argument("--email", metavar="TO,...", help="email it (the PDF attached, the month's sentences in the body) "
                      "to these addresses through the reminders' SMTP settings, e.g. from a monthly cron")
    _add_db(pack)
    pack.add_argument("--company", metavar="NAME", help="the name on the cover (default: the companies the file holds)")
    pack.set_defaults(run=_run_pack)

    hashed = commands.add_parser("hash-password", help="the Argon2 hash of a local account's password, for "
                                 "LEDGERLIGHT_ACCOUNTS (asks twice; reads one line when stdin is not a terminal)")
    hashed.set_defaults(run=_run_hash_password)
    return parser


@contextmanager
def _progress(label: str):
    """A progress listener `(fraction, text)` for long work: a bar on a terminal; elsewhere (cron,
    a pipe) one line on stderr each time the text changes, so a log shows where a run was."""
    if sys.stderr.isatty():
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(label, total=1.0)
            yield lambda fraction, text: bar.update(task, completed=fraction, description=text)
        return
    said = [None]

    def line(fraction: float, text: str) -> None:
        if text != said[0]:
            said[0] = text
            print(f"progress {fraction:4.0%} {text}", file=sys.stderr, flush=True)
    line(0.0, label)
    yield line


def _run_with_progress(label: str, work):
    """Run `work(progress)` with `_progress` listening."""
    with _progress(label) as listener:
        return work(listener)


def _run_demo(args: argparse.Namespace, console: Console) -> None:
    path = database_path(args.db)
    demo = DemoSettings(args.as_of or settings().today(), args.seed, args.clients, args.months)
    result = _run_with_progress("Building the demo company",
                                lambda progress: pipeline.run(path, sources.get("demo"), demo, progress))
    print(f"Demo company written to {path} as of {demo.as_of}: "
          + ", ".join(f"{n:,} {table}" for table, n in result.counts.items()))


def _run_info(args: argparse.Namespace, console: Console) -> None:
    con = connect_for_write(args.db, verify=True, create=False)  # also upgrades an older file in place
    try:
        summary = database_summary(con)
    finally:
        con.close()
    today = settings().today()
    tokens = TokenStore().connections()
    summary["connections"] = [
        {"source": c.source, "company_id": c.company_id, "token_saved_at": c.saved_at and c.saved_at.isoformat(),
         "token_expires_at": c.expires_at and c.expires_at.isoformat(), "token_days_left": c.days_left(today)}
        for c in tokens]
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
        if company["snapshot_on"]:
            console.print(f"A snapshot of what was open on {company['snapshot_on']}: the aging at that date only")
        sync = company["last_sync"]
        if sync:
            console.print(f"Last run: {sync['kind']} {sync['status']} at {sync['finished_at'] or sync['started_at']}"
                          + (f" — {sync['error']}" if sync["error"] else ""))
    for token in tokens:
        console.print(f"{token.source} {token.company_id}: {token.describe(today)}")


def _run_report(args: argparse.Namespace, console: Console) -> None:
    with read_only(args.db) as con:
        as_of = reports.report_date(con, args.as_of, settings().today())
        report = reports.report(con, args.name, as_of, args)
    print(reports.render(args.name, report, args.format), end="" if args.format == "csv" else "\n")


def _run_statement(args: argparse.Namespace, console: Console) -> None:
    with read_only(args.db) as con:
        as_of = reports.report_date(con, args.as_of, settings().today())
        target = statements.write_statement(con, as_of, args.customer, args.out)
    print(f"Statement for {args.customer} as of {as_of} written to {target}")


def _run_remind(args: argparse.Namespace, console: Console) -> None:
    actor = activity.local_actor()
    path = database_path(args.db)
    for message_id, was_sent in [*((m, True) for m in args.mark_sent), *((m, False) for m in args.mark_unsent)]:
        activity.settle_uncertain(path, actor, message_id, was_sent)
        print(f"{message_id}: recorded as {'sent' if was_sent else 'not sent (the next run sends it)'}")
    if args.mark_sent or args.mark_unsent:
        return
    via = "eml" if args.eml else "smtp"
    with read_only(path) as con:
        plan = reminders.plan_reminders(con, stages=args.stage or None, company_id=args.company,
                                        via="dry-run" if args.dry_run else via)
    outcome = plan if args.dry_run else reminders.send_reminders(path, actor, plan, eml_folder=args.eml)
    shown = reminders.describe(outcome, args.dry_run, via)
    if args.format == "json":
        print(json.dumps(shown, indent=2))
    else:
        _print_reminders(shown)
    error = None if args.dry_run else reminders.run_error(outcome)
    if error is not None:
        raise error


def _print_reminders(shown: dict) -> None:
    for warning in shown["warnings"]:
        print(f"warning: {warning}")
    for message in shown["messages"]:
        print(f"{message['status']:>9}  {message['stage']:<14} {message['customer']} <{', '.join(message['to'])}>: "
              f"{message['subject']} ({', '.join(message['invoices']) or 'no invoices'}; {message['attachment']})")
        if shown["dry_run"]:
            print("           " + message["body"].rstrip().replace("\n", "\n           "))
    for skipped in shown["skipped"]:
        print(f"  skipped  {skipped['stage']:<14} {skipped['customer']}: {skipped['reason']}")
    for uncertain in shown["uncertain"]:
        print(f"uncertain  {uncertain['stage']:<14} {uncertain['customer']} since {uncertain['since']} "
              f"({uncertain['message_id']}): check the mailbox, then --mark-sent or --mark-unsent it")
    planned = len(shown["messages"])
    print(f"{planned} message{'s' if planned != 1 else ''} " + ("would be sent (dry run: nothing was sent)"
                                                               if shown["dry_run"] else "planned"))


def _run_activity(args: argparse.Namespace, console: Console) -> None:
    path = database_path(args.db)
    if args.action == "export":
        counts = activity.export_activity(path, args.file)
        print(f"Exported to {args.file}: " + ", ".join(f"{n:,} {table}" for table, n in counts.items()))
    else:
        counts = activity.import_activity(path, activity.local_actor(), args.file)
        print(f"Imported from {args.file}: " + ", ".join(f"{n:,} {table}" for table, n in counts.items()))


def _run_backtest(args: argparse.Namespace, console: Console) -> None:
    label = "Replaying the forecast at each cut-off"
    with read_only(args.db) as con, _progress(label) as listener:
        con.execute("SET enable_progress_bar = false")  # ours reports the cut-offs
        as_of = reports.report_date(con, args.as_of, settings().today())
        summary = reports.backtest_report(con, as_of, lambda done, total: listener(done / total, f"{label}: {done} of {total}"))
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"Cash forecast backtest: {summary['cutoffs']} weekly cut-offs to {as_of}")
    for heading in ("method", "MAE weeks 1–4", "MAPE weeks 1–4", "MAE weeks 5–13", "MAPE weeks 5–13",
                    "in 80 % band, weeks 1–4", "weeks 5–13"):
        table.add_column(heading, justify="left" if heading == "method" else "right")
    for method, figures in summary.items():
        if method != "cutoffs":
            cells = [reports.table_cell(key, figures.get(key))
                     for key in ("mae_1_4", "mape_1_4", "mae_5_13", "mape_5_13", "coverage_1_4", "coverage_5_13")]
            table.add_row(method, *cells)
    console.print(table)


def _run_pack(args: argparse.Namespace, console: Console) -> None:
    if not args.out and not args.email:
        raise InputError("say where the pack goes: --out FILE.pdf or FILE.html, --email TO,... or both")
    # before any work: a bad path, address, SMTP setting or login is refused at once
    out = review_pack.check_output(args.out) if args.out else None
    actor, path = activity.local_actor(), database_path(args.db)
    recipients = review_pack.check_email(actor, args.email) if args.email else []
    with read_only(path) as con:
        built = review_pack.build_pack(con, args.month, args.company)
    about = f"Review pack for {built.view['month']} (as of {built.view['as_of']})"
    pdf = built.pdf() if recipients or (out and out.suffix.lower() == ".pdf") else None
    if out:
        print(f"{about} written to {review_pack.write_pack(built, out, pdf=pdf)}")
    if recipients:
        sent = review_pack.email_pack(path, actor, built, recipients, pdf)
        print(f"{about} emailed to {', '.join(sent.recipients)} ({sent.attachment}; message {sent.message_id})")
    for sentence in built.view["sentences"]:
        print(f"  {sentence}")


def _run_connect(args: argparse.Namespace, console: Console) -> None:
    source = sources.get(args.source)
    connector = source.connector
    chosen = connector.settings(settings())
    if args.redirect_url is None and connector.is_connected(chosen):
        console.print(connector.check(chosen))
        return
    redirect_url = args.redirect_url
    if redirect_url is None:
        console.print(f"Sign in to {source.label} and choose the company:")
        print(connector.authorization_url(chosen), flush=True)  # whole, on one line, to copy
        try:
            redirect_url = input("Then paste the whole address you were redirected to: ").strip()
        except EOFError:
            raise InputError("no address was pasted: run `python -m etl connect ...` again, or pass --redirect-url") from None
    company_id = connector.connect(chosen, redirect_url)
    console.print(f"Connected {source.label} company {company_id}. Next: python -m etl sync {source.name}")


def _run_sync(args: argparse.Namespace, console: Console) -> None:
    source = sources.get(args.source)
    chosen = source.connector.settings(settings())
    result = _run_with_progress(f"Syncing {source.label}", lambda progress: pipeline.run(
        database_path(args.db), source, chosen, progress, full=args.full))
    print(result.describe())


def _run_import(args: argparse.Namespace, console: Console) -> None:
    source = sources.importable()[args.kind]
    if len(args.files) > 1 and not source.importer.several:
        raise InputError(f"`import {args.kind}` reads one file at a time; import the others one by one")
    chosen = source.importer.settings(args.files if source.importer.several else args.files[0], company_id=args.company,
                                      mapping=dict(args.map), on=args.on, replace_all=args.replace_all)
    result = pipeline.run(database_path(args.db), source, chosen)
    print(result.describe())
    for row in getattr(result.summary, "unmatched", []):
        print(f"  not imported: row {row.row} {row.customer!r}: {row.reason}")


def _run_infer(args: argparse.Namespace, console: Console) -> None:
    result = pipeline.infer_autopay(database_path(args.db), args.company)
    print(f"{result.counts['inferred_autopay_periods']} inferred autopay periods written "
          "(imported rosters and manual entries still win)")


def _run_hash_password(args: argparse.Namespace, console: Console) -> None:
    if not sys.stdin.isatty():  # a script pipes the password in
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password for the account (12 characters or more): ")
        if getpass.getpass("The same again: ") != password:
            raise InputError("the two passwords differ; nothing was made")
    print(hash_password(password))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False)
    try:
        args.run(args, console)
    except LedgerlightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for problem in getattr(exc, "problems", [])[1:]:  # a file's every problem, one a line
            print(f"  {problem}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`... | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush is quiet too
        return 0
    except KeyboardInterrupt:
        print("interrupted: nothing was written by the step that was running", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, no traceback
        print(f"error: unexpected {type(exc).__name__}: {exc}. This is a bug in ledgerlight; "
              "nothing was written by the step that failed.", file=sys.stderr)
        return 1
    return 0
