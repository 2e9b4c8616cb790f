"""The one writer. Every source's run goes through here: read the source's state, let it fetch
(holding no database connection), then write its batch in one short all-or-nothing transaction.

What the pipeline owns, once for every source:
- the run log (`sync_runs`): one record per run, `failed` with the reason when anything goes
  wrong, the cursor of a succeeded run for the next incremental one;
- ownership: a source writes only its own rows (its company's rows of the tables it declares,
  narrowed by `Entity.owned`), so a full re-read by one source never touches another's rows
  (a roster's periods, ledgerlight's own manual entries);
- the demo giving way to real books, the source's own aging report, autopay re-inference, and
  the checks that refuse books that do not add up or point at records they do not hold.
- who may write: every run needs the admin role (core/access.py) and records its actor; a
  library call that names no actor acts as the machine's own user (the command line, cron).

DuckDB lets one process write a file at a time; readers (the dashboard, reports) wait out the
short write (core/db.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

import models
from core import file_checks
from core.access import ADMIN, Actor, local_user, require
from core.db import connect_for_write, database_path, query_frame, read_only, rollback_quietly
from core.errors import BooksError, InputError, LedgerlightError, SyncError
from core.schema import ACTIVITY_TABLES, BOOK_TABLES, DEMO_ORIGIN, INFERENCE_ORIGIN
from core.run_lock import one_run_at_a_time
from core.settings import settings as current_settings
from etl.batch import Batch, Company, Progress, Source, SourceState, company_in_file, no_progress

DEMO_SOURCE = "demo"
WRITE_LOCK_WAIT = 60.0  # how long a run's write waits for readers (a long report) to let go of the file
_DIED = "stopped before it finished: the process running it ended (killed, crashed or out of disk space); nothing it read was written"
# What a record deleted at the source leaves: a deleted transaction stays, marked, and counts
# nowhere; a deleted (or merged-away) customer stays, inactive, for the transactions that name it.
_KEPT_WHEN_DELETED = {"invoices": "status = 'deleted'", "payments": "status = 'deleted'",
                      "credit_memos": "status = 'deleted'", "customers": "active = false"}
# Every table that holds one company's rows, in load order (parents first).
COMPANY_TABLES = (*BOOK_TABLES, "source_refs", "source_aging")


@dataclass
class RunResult:
    """What a run did. `summary` is the source's own report of it; `describe()` says it in one
    sentence for the terminal or a page (the source's words when its report has them)."""

    run_id: int
    source: str
    company: Company
    kind: str
    counts: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    summary: Any = None

    def describe(self) -> str:
        if hasattr(self.summary, "describe"):
            return self.summary.describe(self)
        written = ", ".join(f"{n:,} {table.replace('_', ' ')}" for table, n in self.counts.items() if n)
        return f"{self.company.name}: {written or 'nothing changed'}."


# --- reading before a run --------------------------------------------------------------------


def _last_runs(con) -> dict[tuple[str, str, str], tuple[int, str | None]]:
    """(source, company_id, origin) -> the id of the newest run that succeeded, and its cursor."""
    rows = con.execute(
        "SELECT source, company_id, origin, max(run_id), arg_max_null(cursor, run_id) FROM sync_runs "
        "WHERE status = 'succeeded' GROUP BY ALL").fetchall()
    return {(source, company_id, origin): (run_id, cursor) for source, company_id, origin, run_id, cursor in rows}


def _company_rows(path, company: Company):
    def rows(table: str, **equal_to) -> pd.DataFrame:
        if table not in COMPANY_TABLES:
            raise ValueError(f"not a company table: {table}")
        where = "".join(f" AND {column} = ${column}" for column in equal_to if column.isidentifier())
        with read_only(path) as con:
            return query_frame(con, f"SELECT * FROM {table} WHERE source = $source AND company_id = $company_id{where}",
                               {"source": company.source, "company_id": company.company_id, **equal_to})
    return rows


def _company_model(path, company: Company):
    def model(name: str, **params) -> pd.DataFrame:
        with read_only(path) as con:
            frame = models.frame(con, name, params)
        if {"source", "company_id"} <= set(frame.columns):
            frame = frame[(frame["source"] == company.source) & (frame["company_id"] == company.company_id)]
        return frame.reset_index(drop=True)
    return model


def _acting(actor: Actor | None, source: Source) -> Actor:
    """The actor of a run, refused (AccessError, before anything is read or written) unless an admin."""
    actor = actor or local_user(current_settings().os_user())
    require(actor, ADMIN, f"running the {source.label}")
    return actor


def run(db, source: Source, settings: Any, progress: Progress = no_progress, full: bool = False,
        actor: Actor | None = None) -> RunResult:
    """One run of `source`: state, fetch, write. `full`: re-read everything, not only what
    changed since the last run. `actor`: who runs it (default: the machine's own user); anyone
    but an admin is refused before anything is read. Any error leaves the file exactly as it
    was, plus a `failed` run record with the reason, and is raised again. Runs on one file take
    turns: a second waits for the first (core/run_lock.py)."""
    actor = _acting(actor, source)
    path = database_path(db)
    file_checks.inspect(path, for_write=True)  # before the lock file is made beside it
    with one_run_at_a_time(path, lambda text: progress(0.0, text)):
        companies, last_runs = _prepare(path)
        _refuse_demo_beside_real_books(source, companies, path)
        company = source.company(settings, companies)
        last_run_id, cursor = last_runs.get((company.source, company.company_id, source.name), (0, None))
        state = SourceState(current_settings().today(), company, None if full else cursor, _company_rows(path, company),
                             _company_model(path, company))
        try:
            batch = source.fetch(settings, state, progress)
        except InputError:
            raise  # a file or request refused before anything began: not a run
        except Exception as exc:
            kind = getattr(exc, "kind", None) or ("incremental" if state.cursor else "full")
            _record_failed_run(path, company, source.name, kind, exc, getattr(exc, "requests", {}), actor)
            raise
        progress(0.95, "Writing to the database")
        result = write(path, source, batch, since_run=last_run_id, actor=actor)
    progress(1.0, "Done")
    return result


def _prepare(path) -> tuple[pd.DataFrame, dict]:
    """Before a run reads anything: refuse a file that is not wholly ours and readable, upgrade
    it, and close the records of runs whose process died (no run can hold the lock for them).
    Returns the companies and their last runs (_last_runs), read on the same connection."""
    con = connect_for_write(path, verify=True, lock_wait=WRITE_LOCK_WAIT)
    try:
        con.execute("UPDATE sync_runs SET status = 'failed', finished_at = ?, error = ? WHERE status = 'running'",
                    [current_settings().now(), _DIED])
        return models.frame(con, "companies"), _last_runs(con)
    finally:
        con.close()


def _refuse_demo_beside_real_books(source: Source, companies: pd.DataFrame, path) -> None:
    real = companies[companies["source"] != DEMO_SOURCE]
    if source.name == DEMO_SOURCE and not real.empty:
        names = ", ".join(f"{row.name!r} ({row.source})" for row in real.itertuples())
        raise InputError(f"{path} holds real books ({names}); the demo would be added beside them. Build it into "
                         f"a file of its own: python -m etl demo --db {Path(path).with_name(Path(path).stem + '-demo.duckdb')}")


# --- writing ------------------------------------------------------------------------------------


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LedgerlightError) else f"{type(exc).__name__}: {exc}"


def _start_run(con, company: Company, origin: str, kind: str, actor: Actor) -> int:
    (run_id,) = con.execute(
        "INSERT INTO sync_runs (source, company_id, origin, kind, started_at, status, actor) "
        "VALUES (?, ?, ?, ?, ?, 'running', ?) RETURNING run_id",
        [company.source, company.company_id, origin, kind, current_settings().now(), actor.id],
    ).fetchone()
    return run_id


def _finish_run(con, run_id: int, status: str, counts: dict | None = None, requests: dict | None = None,
                cursor: str | None = None, error: str | None = None, warnings: list[str] | None = None) -> None:
    con.execute(
        "UPDATE sync_runs SET finished_at = ?, status = ?, counts = ?, requests = ?, error = ?, cursor = ?, "
        "warnings = ? WHERE run_id = ?",
        [current_settings().now(), status, json.dumps(counts or {}), sum((requests or {}).values()), error,
         cursor if status == "succeeded" else None, json.dumps(warnings) if warnings else None, run_id],
    )


def _record_failed_run(path, company: Company, origin: str, kind: str, exc: BaseException, requests: dict,
                       actor: Actor) -> None:
    try:
        con = connect_for_write(path, lock_wait=WRITE_LOCK_WAIT)
    except LedgerlightError:
        return  # the file cannot be opened to log it (full disk, held too long): the error itself says so
    try:
        _finish_run(con, _start_run(con, company, origin, kind, actor), "failed", requests=requests, error=_error_text(exc))
    finally:
        con.close()


def write(db, source: Source, batch: Batch, since_run: int | None = None, actor: Actor | None = None) -> RunResult:
    """Write one batch in one transaction, after the checks; record the run (and its actor, as
    `run` has it) either way.

    `since_run`: the newest succeeded run of this source for the company when the batch was
    read; if another has succeeded since, the batch may be stale and is refused."""
    actor = _acting(actor, source)
    path = database_path(db)
    con = connect_for_write(path, lock_wait=WRITE_LOCK_WAIT)
    try:
        run_id = _start_run(con, batch.company, source.name, batch.kind, actor)
        con.execute("BEGIN TRANSACTION")
        try:
            if since_run is not None:
                _refuse_if_overtaken(con, source, batch.company, since_run)
            counts = _write_batch(con, source, batch)
            con.execute("COMMIT")
        except BaseException as exc:
            rollback_quietly(con)
            cause = _cause(exc, path, source)
            try:
                _finish_run(con, run_id, "failed", requests=batch.requests, error=_error_text(cause))
            except duckdb.Error:
                pass  # the file takes no more writes (a full disk): the next run closes this record
            if cause is exc:
                raise
            raise cause from exc
        _finish_run(con, run_id, "succeeded", counts, batch.requests, batch.cursor, warnings=batch.warnings)
    except duckdb.Error as exc:
        raise _cause(exc, path, source) from exc
    finally:
        con.close()
    return RunResult(run_id, source.name, batch.company, batch.kind, counts, batch.requests, batch.summary)


def _cause(exc: BaseException, path, source: Source) -> BaseException:
    """What to tell of a failed write: the file's fault (disk full, corrupt) as such, any other
    DuckDB error as books that could not be written."""
    if not isinstance(exc, duckdb.Error):
        return exc
    if file_checks.is_file_fault(exc):
        return file_checks.explain(exc, Path(path))
    return BooksError(f"could not write what the {source.label} sent ({str(exc).splitlines()[0]}); nothing was loaded")


def _refuse_if_overtaken(con, source: Source, company: Company, since_run: int) -> None:
    [(newest,)] = con.execute(
        "SELECT coalesce(max(run_id), 0) FROM sync_runs WHERE source = ? AND company_id = ? AND origin = ? "
        "AND status = 'succeeded'", [company.source, company.company_id, source.name]).fetchall()
    if newest > since_run:
        raise SyncError(f"another {source.label} run for {company.name} finished while this one was reading; "
                        "nothing was written: run it again")


def _write_batch(con, source: Source, batch: Batch) -> dict[str, int]:
    company = batch.company
    if source.books and company.source != DEMO_SOURCE:
        _remove_demo(con)
    counts: dict[str, int] = {}
    for entity in source.entities:
        owned = dict(entity.owned)
        rows = batch.rows.get(entity.table, pd.DataFrame())
        if batch.complete and entity.disposition == "replace":
            _delete_owned(con, company, entity.table, owned)
        elif entity.made_by is not None and batch.remade:
            _delete_remade(con, company, entity, batch.remade)
        deleted = batch.deleted.get(entity.table)
        if deleted is not None and not deleted.empty:
            counts[f"{entity.table}_deleted"] = _mark_deleted(con, company, entity.table, deleted, owned)
        counts[entity.table] = _upsert(con, company, entity.table, rows, owned)
    if batch.aging is not None:
        _store_aging(con, company, batch.aging)
    if source.books:
        con.execute(
            "INSERT OR REPLACE INTO companies (source, company_id, name, home_currency, data_through, snapshot_on) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [company.source, company.company_id, company.name, company.home_currency, company.data_through,
             company.snapshot_on],
        )
    if source.infers_autopay:
        counts["inferred_autopay_periods"] = reinfer_autopay(con, company)
    _check_books(con, company)
    return counts


def _scope(company: Company, owned: dict[str, str], alias: str = "") -> tuple[str, dict]:
    """The WHERE clause (and its parameters) that selects a source's own rows of a table."""
    prefix = f"{alias}." if alias else ""
    columns = ["source", "company_id", *owned]
    where = " AND ".join(f"{prefix}{column} = ${column}" for column in columns)
    return where, {"source": company.source, "company_id": company.company_id, **owned}


def _delete_owned(con, company: Company, table: str, owned: dict[str, str]) -> None:
    where, params = _scope(company, owned)
    con.execute(f"DELETE FROM {table} WHERE {where}", params)


def _delete_remade(con, company: Company, entity, remade: list[str]) -> None:
    """Rows derived from a source record the batch read again (a changed payment's applications)
    go: the batch holds what the record makes now."""
    where, params = _scope(company, dict(entity.owned))
    con.execute(f"DELETE FROM {entity.table} WHERE {where} AND list_contains($remade, {entity.made_by})",
                {**params, "remade": list(remade)})


def _table_columns(con, table: str) -> list[tuple[str, str, int, int]]:
    return con.execute(
        "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position", [table]).fetchall()


def _with_exact_decimals(con, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Give columns of Decimal objects the table's DECIMAL type before DuckDB scans them.

    DuckDB would otherwise guess a width from a sample of rows: a sampled 1.00000000 makes an
    exchange-rate column DECIMAL(1,0) and silently rounds the rest.
    """
    typed = frame.copy()
    for name, data_type, precision, scale in _table_columns(con, table):
        if data_type.startswith("DECIMAL") and name in typed and typed[name].dtype == object:
            try:
                typed[name] = typed[name].astype(pd.ArrowDtype(pa.decimal128(precision, scale)))
            except (pa.ArrowInvalid, TypeError) as exc:
                raise BooksError(f"{table}.{name}: not an amount with at most {scale} decimal places ({exc}); "
                                 "nothing was loaded") from exc
    return typed


def _upsert(con, company: Company, table: str, frame: pd.DataFrame, owned: dict[str, str]) -> int:
    """Insert rows, replacing any with the same natural key."""
    if frame.empty:
        return 0
    keyed = _with_exact_decimals(con, table, frame).assign(source=company.source, company_id=company.company_id, **owned)
    if any(name == "recorded_at" for name, *_ in _table_columns(con, table)):  # when ledgerlight learned it
        recorded = keyed["recorded_at"] if "recorded_at" in keyed else pd.Series(None, index=keyed.index, dtype=object)
        keyed["recorded_at"] = recorded.where(recorded.notna(), current_settings().now())
    con.execute(f"INSERT OR REPLACE INTO {table} BY NAME SELECT * FROM keyed")
    return len(frame)


def _mark_deleted(con, company: Company, table: str, keys: pd.DataFrame, owned: dict[str, str]) -> int:
    """Records deleted at the source: transactions stay, marked 'deleted' (they count nowhere);
    anything else goes. `keys` holds the natural-key columns of the deleted records."""
    where, params = _scope(company, owned, alias="t")
    deleted = keys.copy()  # noqa: F841 (DuckDB scans it by name)
    matches = " AND ".join(f"t.{column} = d.{column}" for column in keys.columns)
    if table in _KEPT_WHEN_DELETED:
        con.execute(f"UPDATE {table} t SET {_KEPT_WHEN_DELETED[table]} FROM deleted d WHERE {where} AND {matches}", params)
    else:
        con.execute(f"DELETE FROM {table} t USING deleted d WHERE {where} AND {matches}", params)
    return len(keys)


def _remove_demo(con) -> None:
    """The demo company is a placeholder: real books must never be summed with it. Its generated
    collections history goes with it; what a person wrote in the demo stays (nothing a run does
    ever deletes it), out of sight with the company."""
    for table in (*reversed(COMPANY_TABLES), "companies"):
        con.execute(f"DELETE FROM {table} WHERE source = ?", [DEMO_SOURCE])
    for table in ACTIVITY_TABLES:
        if table != "reminder_templates":
            con.execute(f"DELETE FROM {table} WHERE source = ? AND origin = ?", [DEMO_SOURCE, DEMO_ORIGIN])


def _store_aging(con, company: Company, aging: pd.DataFrame) -> None:
    """The source's own aging report, replacing any earlier one of the same date."""
    for report_date in sorted(set(aging["report_date"])):
        con.execute("DELETE FROM source_aging WHERE source = ? AND company_id = ? AND report_date = ?",
                    [company.source, company.company_id, report_date])
    _upsert(con, company, "source_aging", aging, {})


def reinfer_autopay(con, company: Company, as_of: date | None = None) -> int:
    """Inside a run: replace the company's inferred autopay periods with those its payments show
    by `as_of` (default: the date its books run to). Returns the number of periods written."""
    as_of = as_of or company.data_through or current_settings().today()
    owned = {"origin": INFERENCE_ORIGIN}
    _delete_owned(con, company, "autopay_enrollments", owned)
    inferred = models.frame(con, "inferred_autopay", {"dates": [as_of], "source": company.source,
                                                      "company_id": company.company_id})
    return _upsert(con, company, "autopay_enrollments", inferred, owned)


def _check_books(con, company: Company) -> None:
    params = {"source": company.source, "company_id": company.company_id}
    unbalanced = models.rows(con, "unbalanced_credits", params)
    if unbalanced:
        listed = "; ".join(
            f"{kind.replace('_', ' ')} {credit_id}: {total} ≠ {applied} applied + {unapplied} unapplied"
            for kind, credit_id, total, applied, unapplied in unbalanced
        )
        raise BooksError(
            f"amounts do not add up ({listed}). Each payment and credit memo must equal its "
            "applications plus its unapplied_amount; nothing was loaded."
        )
    broken = models.rows(con, "broken_references", params)
    if broken:
        listed = "; ".join(f"{what} {record_id}: {column} {points_at!r} is not in the books"
                           for what, record_id, column, points_at in broken)
        raise BooksError(f"records point at others the books do not hold ({listed}); nothing was loaded. "
                         "Load the records they point at in the same run, or leave those references out.")


INFERENCE = Source(
    name=INFERENCE_ORIGIN,
    label="autopay inference",
    entities=(),
    company=lambda company_id, companies: company_in_file(companies, company_id),
    fetch=lambda company_id, state, progress: Batch(state.company, kind="inference", complete=False),
    books=False,
    infers_autopay=True,
)


def infer_autopay(db, company_id: str | None = None, actor: Actor | None = None) -> RunResult:
    """Re-infer one company's autopay periods from its payments, in a run of its own."""
    return run(db, INFERENCE, company_id, actor=actor)
