"""Every write of ledgerlight's own collections data: notes, calls and emails, promises to pay,
disputes, next actions, reminder templates, the record of reminders (and review packs) sent, and
the export and import of all of it (but the record of packs, which is about no client).

These rows are what people wrote (`origin = 'user'`); no run of any source touches them (the
demo's generated history is origin 'demo', written by the demo source through the pipeline).
Each write is one short transaction through `core.db.connect_for_write`, which waits for another
process (a sync) to let go of the file (LEDGERLIGHT_LOCK_WAIT, 60 s by default here) and is tried
again if DuckDB reports a conflict with a writer in this process, so a note typed while a sync
runs is written once the sync's write is done, never lost.

Every write names who does it (`actor`, a `core.access.Actor`), recorded as the author, and
checks the actor's role first with `core.access.require` (collector for collections work, admin
for templates and imports): the dashboard passes the signed-in person, the command line
`local_actor()`, the machine's own user.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb

import models
from core.access import ADMIN, COLLECTOR, Actor, local_user, require
from core.db import connect_for_write, read_only, rollback_quietly
from core.errors import InputError
from core.schema import ACTIVITY_TABLES, SCHEMA_VERSION, USER_ORIGIN
from core.settings import settings
from etl.reminder_templates import KINDS as TEMPLATE_KINDS

WRITE_LOCK_WAIT = 60.0  # a sync's write takes seconds; a note waits that out
_CONFLICT_RETRIES = 3
MAX_TEXT = 10_000
ACTIVITY_KINDS = ("note", "call", "email")  # what a person records; 'reminder' is written when one is sent
EXPORT_FORMAT = "ledgerlight-collections"
EXPORT_VERSION = 1

def local_actor() -> Actor:
    """The command line and cron: the machine's own user, an admin (as for every run)."""
    return local_user(settings().os_user())


# --- writing ------------------------------------------------------------------------------------


def _write(db, work: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
    """Run `work(con)` in one short write transaction, waiting for other writers."""
    for attempt in range(_CONFLICT_RETRIES):
        con = connect_for_write(db, lock_wait=WRITE_LOCK_WAIT, create=False)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                result = work(con)
                con.execute("COMMIT")
                return result
            except BaseException:
                rollback_quietly(con)
                raise
        except duckdb.TransactionException as exc:
            if "conflict" not in str(exc).lower() or attempt == _CONFLICT_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
        finally:
            con.close()


def _new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:16]}"


def _insert(con, table: str, row: dict) -> None:
    columns = ", ".join(row)
    con.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))


@dataclass(frozen=True)
class Account:
    source: str
    company_id: str
    customer_id: str


def _account(con, customer_id: str, source: str | None, company_id: str | None) -> Account:
    """The customer named, in the one company that holds it (or the one given)."""
    found = con.execute(
        "SELECT source, company_id FROM customers WHERE customer_id = ? AND (? IS NULL OR source = ?) "
        "AND (? IS NULL OR company_id = ?) ORDER BY ALL", [customer_id, source, source, company_id, company_id]).fetchall()
    if not found:
        raise InputError(f"no client {customer_id!r} in this database: choose one from the worklist")
    if len(found) > 1:
        listed = ", ".join(f"{s}:{c}" for s, c in found)
        raise InputError(f"client {customer_id!r} is in several companies ({listed}): name the company")
    return Account(*found[0], customer_id)


def _root(con, account: Account, customer_id: str) -> str | None:
    row = con.execute(f"SELECT root_id FROM ({models.sql('customer_roots')}) r WHERE source = ? AND company_id = ? "
                      "AND customer_id = ?", [account.source, account.company_id, customer_id]).fetchone()
    return row[0] if row else None


def _invoice_of(con, account: Account, invoice_id: str) -> str:
    """The invoice's number, once it is known to be the account's (or one of its sub-customers')."""
    row = con.execute("SELECT customer_id, coalesce(doc_number, invoice_id) FROM invoices WHERE source = ? "
                      "AND company_id = ? AND invoice_id = ?", [account.source, account.company_id, invoice_id]).fetchone()
    if row is None or _root(con, account, row[0]) != _root(con, account, account.customer_id):
        raise InputError(f"invoice {invoice_id!r} is not one of {account.customer_id}'s invoices")
    return row[1]


def _text(value: str | None, what: str, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InputError(f"the {what} is empty: write something")
        return None
    if len(text) > MAX_TEXT:
        raise InputError(f"the {what} is {len(text):,} characters long; keep it under {MAX_TEXT:,}")
    return text


def _day(value: date | None, what: str, latest: date | None = None) -> date:
    chosen = value or settings().today()
    if not isinstance(chosen, date):
        raise InputError(f"the {what} {chosen!r} is not a date: use YYYY-MM-DD")
    if latest is not None and chosen > latest:
        raise InputError(f"the {what} {chosen} is after today ({latest}): it cannot have happened yet")
    return chosen


def _amount(value) -> Decimal:
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise InputError(f"{value!r} is not an amount: write it like 1250.00") from None
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2 or amount >= Decimal("1e16"):
        raise InputError(f"{value!r} is not an amount above zero with at most two decimal places")
    return amount.quantize(Decimal("0.01"))


def _stamp(actor: Any, origin: str = USER_ORIGIN) -> dict:
    return {"author": actor.id, "origin": origin, "recorded_at": settings().now()}


def record_activity(db, actor, customer_id: str, kind: str, body: str, on: date | None = None,
                    invoice_id: str | None = None, source: str | None = None, company_id: str | None = None) -> str:
    """A note, a call or an email about a client (or one of its invoices), dated `on` (default
    today). Returns its id."""
    require(actor, COLLECTOR, "record collections activity")
    if kind not in ACTIVITY_KINDS:
        raise InputError(f"unknown activity {kind!r}: use one of {', '.join(ACTIVITY_KINDS)}")
    text = _text(body, kind)
    on = _day(on, f"{kind}'s date", latest=settings().today())

    def work(con):
        account = _account(con, customer_id, source, company_id)
        if invoice_id:
            _invoice_of(con, account, invoice_id)
        activity_id = _new_id(kind)
        _insert(con, "collection_activities", {
            "source": account.source, "company_id": account.company_id, "activity_id": activity_id,
            "customer_id": customer_id, "invoice_id": invoice_id or None, "kind": kind, "activity_on": on,
            "body": text, **_stamp(actor)})
        return activity_id
    return _write(db, work)


def add_promise(db, actor, customer_id: str, amount, pay_by: date, made_on: date | None = None,
                invoice_ids: Iterable[str] = (), note: str | None = None,
                source: str | None = None, company_id: str | None = None) -> str:
    """A promise to pay `amount` (home currency) by `pay_by`, made on `made_on` (default today),
    for the named invoices (none: for the account as a whole). Returns its id."""
    require(actor, COLLECTOR, "record a promise to pay")
    amount = _amount(amount)
    made_on = _day(made_on, "date the promise was made", latest=settings().today())
    pay_by = _day(pay_by, "pay-by date")
    if pay_by < made_on:
        raise InputError(f"the pay-by date {pay_by} is before the promise was made ({made_on})")
    text = _text(note, "note", required=False)
    invoices = sorted(set(invoice_ids))

    def work(con):
        account = _account(con, customer_id, source, company_id)
        for invoice_id in invoices:
            _invoice_of(con, account, invoice_id)
        promise_id = _new_id("promise")
        _insert(con, "payment_promises", {
            "source": account.source, "company_id": account.company_id, "promise_id": promise_id,
            "customer_id": customer_id, "made_on": made_on, "pay_by": pay_by, "amount": amount,
            "invoice_ids": invoices, "note": text, **_stamp(actor)})
        return promise_id
    return _write(db, work)


def open_dispute(db, actor, customer_id: str, invoice_id: str, reason: str, opened_on: date | None = None,
                 source: str | None = None, company_id: str | None = None) -> str:
    """The client disputes an invoice: its open amount leaves "to chase" until it is resolved."""
    require(actor, COLLECTOR, "open a dispute")
    text = _text(reason, "reason for the dispute")
    opened_on = _day(opened_on, "dispute's date", latest=settings().today())

    def work(con):
        account = _account(con, customer_id, source, company_id)
        number = _invoice_of(con, account, invoice_id)
        [(already,)] = con.execute(
            "SELECT count(*) FROM disputes WHERE source = ? AND company_id = ? AND invoice_id = ? AND resolved_on IS NULL",
            [account.source, account.company_id, invoice_id]).fetchall()
        if already:
            raise InputError(f"invoice {number} is already disputed: resolve that dispute first")
        dispute_id = _new_id("dispute")
        _insert(con, "disputes", {
            "source": account.source, "company_id": account.company_id, "dispute_id": dispute_id,
            "customer_id": customer_id, "invoice_id": invoice_id, "reason": text, "opened_on": opened_on,
            **_stamp(actor)})
        return dispute_id
    return _write(db, work)


def resolve_dispute(db, actor, dispute_id: str, resolution: str | None = None, resolved_on: date | None = None) -> None:
    """The dispute is settled (the invoice stands, is credited, or corrected at the source): its
    amount is chased again from `resolved_on` (default today)."""
    require(actor, COLLECTOR, "resolve a dispute")
    text = _text(resolution, "resolution", required=False)
    resolved_on = _day(resolved_on, "resolution's date", latest=settings().today())

    def work(con):
        row = con.execute("SELECT opened_on, resolved_on FROM disputes WHERE dispute_id = ?", [dispute_id]).fetchone()
        if row is None:
            raise InputError(f"no dispute {dispute_id!r}")
        if row[1] is not None:
            raise InputError(f"that dispute was already resolved on {row[1]}")
        if resolved_on < row[0]:
            raise InputError(f"the resolution's date {resolved_on} is before the dispute was opened ({row[0]})")
        con.execute("UPDATE disputes SET resolved_on = ?, resolution = ?, resolved_by = ? WHERE dispute_id = ?",
                    [resolved_on, text, actor.id, dispute_id])
    _write(db, work)


def set_next_action(db, actor, customer_id: str, due_on: date | None, owner: str | None = None,
                    action: str | None = None, source: str | None = None, company_id: str | None = None) -> None:
    """The client's one next action: what, by when and who (default: the actor). `due_on` None
    clears it."""
    require(actor, COLLECTOR, "set a next action")
    if due_on is not None and not isinstance(due_on, date):
        raise InputError(f"the next action's date {due_on!r} is not a date: use YYYY-MM-DD")
    what = _text(action, "next action", required=False) if due_on else None
    who = (_text(owner, "owner", required=False) or actor.id) if due_on else None

    def work(con):
        account = _account(con, customer_id, source, company_id)
        con.execute("DELETE FROM next_actions WHERE source = ? AND company_id = ? AND customer_id = ? AND origin = ?",
                    [account.source, account.company_id, customer_id, USER_ORIGIN])
        _insert(con, "next_actions", {
            "source": account.source, "company_id": account.company_id, "customer_id": customer_id,
            "due_on": due_on, "owner": who, "action": what, **_stamp(actor)})
    _write(db, work)


def clear_next_action(db, actor, customer_id: str, source: str | None = None, company_id: str | None = None) -> None:
    set_next_action(db, actor, customer_id, None, source=source, company_id=company_id)


# --- templates ----------------------------------------------------------------------------------


def save_template(db, actor, source: str, company_id: str, stage: str, kind: str, days_past_due: int | None,
                  subject: str, body: str, active: bool = True, check: Callable[[str, str], None] | None = None) -> None:
    """Store an edited reminder stage for a company (replacing the default of that name).
    `check(subject, body)` refuses a template that would not render (etl.reminders does)."""
    require(actor, ADMIN, "edit reminder templates")
    name = _text(stage, "stage name")
    if not name.replace("_", "").isalnum() or len(name) > 40:
        raise InputError(f"stage name {name!r}: use letters, digits and _ only (at most 40)")
    if kind not in TEMPLATE_KINDS:
        raise InputError(f"unknown template kind {kind!r}: use one of {', '.join(TEMPLATE_KINDS)}")
    if kind == "overdue" and (not isinstance(days_past_due, int) or days_past_due < 1):
        raise InputError("an overdue reminder needs the days past due it starts at (1 or more)")
    subject_text, body_text = _text(subject, "subject"), _text(body, "message")
    if check is not None:
        check(subject_text, body_text)

    def work(con):
        con.execute("DELETE FROM reminder_templates WHERE source = ? AND company_id = ? AND stage = ?",
                    [source, company_id, name])
        _insert(con, "reminder_templates", {
            "source": source, "company_id": company_id, "stage": name, "kind": kind,
            "days_past_due": days_past_due if kind == "overdue" else None, "subject": subject_text,
            "body": body_text, "active": bool(active), "author": actor.id, "recorded_at": settings().now()})
    _write(db, work)


def reset_template(db, actor, source: str, company_id: str, stage: str) -> None:
    """Forget the edits of a stage: its default comes back (a stage with no default goes)."""
    require(actor, ADMIN, "edit reminder templates")
    _write(db, lambda con: con.execute(
        "DELETE FROM reminder_templates WHERE source = ? AND company_id = ? AND stage = ?", [source, company_id, stage]))


# --- the record of reminders sent (exactly once) ------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One message about to go: the invoices it is the `stage` reminder for (`''` alone for a
    message about the client), to whom, with what subject."""

    source: str
    company_id: str
    customer_id: str
    stage: str
    invoice_ids: tuple[str, ...]
    message_id: str
    recipients: tuple[str, ...]
    subject: str
    via: str


def claim_delivery(db, actor, delivery: Delivery) -> bool:
    """Before a message goes: record it as 'sending' for each of its invoices, unless any of them
    already has this stage recorded (sent, or sending in another run): then False, and the
    message must not go."""
    require(actor, COLLECTOR, "send reminders")

    def work(con):
        [(taken,)] = con.execute(
            "SELECT count(*) FROM reminder_deliveries WHERE source = ? AND company_id = ? AND stage = ? "
            "AND customer_id = ? AND list_contains(?, invoice_id)",
            [delivery.source, delivery.company_id, delivery.stage, delivery.customer_id, list(delivery.invoice_ids)]).fetchall()
        if taken:
            return False
        now = settings().now()
        for invoice_id in delivery.invoice_ids:
            _insert(con, "reminder_deliveries", {
                "source": delivery.source, "company_id": delivery.company_id, "stage": delivery.stage,
                "customer_id": delivery.customer_id, "invoice_id": invoice_id, "origin": USER_ORIGIN,
                "message_id": delivery.message_id, "status": "sending", "via": delivery.via,
                "recipients": list(delivery.recipients), "subject": delivery.subject, "author": actor.id,
                "claimed_at": now, "recorded_at": now})
        return True
    return _write(db, work)


def confirm_delivery(db, actor, delivery: Delivery, note: str) -> None:
    """The server took the message (or its .eml file is written): mark it sent and log it as
    the client's activity."""
    require(actor, COLLECTOR, "send reminders")

    def work(con):
        now = settings().now()
        con.execute("UPDATE reminder_deliveries SET status = 'sent', sent_at = ? WHERE message_id = ?",
                    [now, delivery.message_id])
        invoices = [i for i in delivery.invoice_ids if i]
        _insert(con, "collection_activities", {
            "source": delivery.source, "company_id": delivery.company_id, "activity_id": _new_id("reminder"),
            "customer_id": delivery.customer_id, "invoice_id": invoices[0] if len(invoices) == 1 else None,
            "kind": "reminder", "activity_on": now.date(), "body": note, **_stamp(actor)})
    _write(db, work)


def release_delivery(db, actor, delivery: Delivery) -> None:
    """The server refused the message outright: it did not go, so the next run may send it."""
    require(actor, COLLECTOR, "send reminders")
    _write(db, lambda con: con.execute(
        "DELETE FROM reminder_deliveries WHERE message_id = ? AND status = 'sending'", [delivery.message_id]))


def settle_uncertain(db, actor, message_id: str, was_sent: bool) -> int:
    """A message left 'sending' by a run that died: a person checked the mailbox (or the server's
    log). `was_sent`: mark it sent; else forget it, so the next run sends it. Returns the rows."""
    require(actor, COLLECTOR, "settle an uncertain reminder")

    def work(con):
        [(count,)] = con.execute("SELECT count(*) FROM reminder_deliveries WHERE message_id = ? AND status = 'sending'",
                                 [message_id]).fetchall()
        if not count:
            raise InputError(f"no uncertain reminder {message_id!r} (python -m etl remind --dry-run lists them)")
        if was_sent:
            con.execute("UPDATE reminder_deliveries SET status = 'sent', sent_at = ? WHERE message_id = ?",
                        [settings().now(), message_id])
        else:
            con.execute("DELETE FROM reminder_deliveries WHERE message_id = ?", [message_id])
        return count
    return _write(db, work)


# --- the record of review packs emailed ---------------------------------------------------------


@dataclass(frozen=True)
class PackDelivery:
    """One monthly review pack about to be emailed: about the whole file, not one client."""

    month: date  # the month's first day
    as_of: date
    company: str
    message_id: str
    recipients: tuple[str, ...]
    subject: str
    attachment: str
    via: str = "smtp"


def claim_pack_delivery(db, actor, delivery: PackDelivery) -> None:
    """Before the pack goes: record it as 'sending' (so a process that dies after the server took
    it still leaves a trace)."""
    require(actor, COLLECTOR, "email the review pack")
    now = settings().now()
    _write(db, lambda con: _insert(con, "pack_deliveries", {
        "message_id": delivery.message_id, "month": delivery.month, "as_of": delivery.as_of,
        "company": delivery.company, "status": "sending", "via": delivery.via, "recipients": list(delivery.recipients),
        "subject": delivery.subject, "attachment": delivery.attachment, "author": actor.id, "claimed_at": now}))


def confirm_pack_delivery(db, actor, delivery: PackDelivery) -> None:
    """The server took the pack: it is recorded as sent."""
    require(actor, COLLECTOR, "email the review pack")
    _write(db, lambda con: con.execute("UPDATE pack_deliveries SET status = 'sent', sent_at = ? WHERE message_id = ?",
                                       [settings().now(), delivery.message_id]))


def release_pack_delivery(db, actor, delivery: PackDelivery) -> None:
    """The pack did not go (the server could not be reached, refused the login or the message):
    its record goes, so nothing says it was sent."""
    require(actor, COLLECTOR, "email the review pack")
    _write(db, lambda con: con.execute("DELETE FROM pack_deliveries WHERE message_id = ? AND status = 'sending'",
                                       [delivery.message_id]))


# --- export and import --------------------------------------------------------------------------

# The rows an export holds: what people wrote (the demo's history is made again by the demo).
def _exported(table: str) -> str:
    return "true" if table == "reminder_templates" else f"origin = '{USER_ORIGIN}'"


def _json_value(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def export_activity(db, file: str | Path) -> dict[str, int]:
    """Write every row people wrote (all companies) to a JSON file; returns the rows per table."""
    tables: dict[str, list[dict]] = {}
    with read_only(db) as con:
        for table in ACTIVITY_TABLES:
            cursor = con.execute(f"SELECT * FROM {table} WHERE {_exported(table)} ORDER BY ALL")
            names = [column[0] for column in cursor.description]
            tables[table] = [{name: _json_value(value) for name, value in zip(names, row)} for row in cursor.fetchall()]
    document = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "schema_version": SCHEMA_VERSION,
                "exported_at": settings().now().isoformat(timespec="seconds"), "tables": tables}
    target = Path(file)
    try:
        target.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise InputError(f"could not write {target}: {exc.strerror or exc}") from None
    return {table: len(rows) for table, rows in tables.items()}


# Values a column may hold beyond its type (the tables' CHECK constraints, said for a person).
_ALLOWED = {
    ("collection_activities", "kind"): (*ACTIVITY_KINDS, "reminder"),
    ("reminder_templates", "kind"): TEMPLATE_KINDS,
    ("reminder_deliveries", "status"): ("sending", "sent"),
    ("reminder_deliveries", "via"): ("smtp", "eml"),
}


def _parse(value, data_type: str):
    if data_type == "DATE":
        return date.fromisoformat(value)
    if data_type == "TIMESTAMP":
        return datetime.fromisoformat(value)
    if data_type.startswith("DECIMAL"):
        return _amount(value)
    if data_type == "INTEGER":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("not a whole number")
        return value
    if data_type == "BOOLEAN":
        if not isinstance(value, bool):
            raise ValueError("not true or false")
        return value
    if data_type == "VARCHAR[]":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError("not a list of text")
        return value
    if not isinstance(value, str):
        raise ValueError("not text")
    return value


def _rows_to_import(con, path: Path, document) -> dict[str, list[dict]]:
    problems: list[str] = []
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT or not isinstance(document.get("tables"), dict):
        raise InputError(f"{path} is not a ledgerlight collections export (made by `python -m etl activity export`)")
    if document.get("version") != EXPORT_VERSION:
        raise InputError(f"{path} is export version {document.get('version')!r}; this ledgerlight reads version {EXPORT_VERSION}")
    unknown = sorted(set(document["tables"]) - set(ACTIVITY_TABLES))
    if unknown:
        raise InputError(f"{path}: unknown tables {', '.join(unknown)} (known: {', '.join(ACTIVITY_TABLES)})")
    parsed: dict[str, list[dict]] = {}
    for table, rows in document["tables"].items():
        columns = con.execute("SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
                              "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position", [table]).fetchall()
        keys = [name for (name,) in con.execute(
            "SELECT unnest(constraint_column_names) FROM duckdb_constraints() WHERE table_name = ? "
            "AND constraint_type = 'PRIMARY KEY'", [table]).fetchall()]
        seen: dict[tuple, int] = {}
        parsed[table] = []
        for number, row in enumerate(rows if isinstance(rows, list) else [None], start=1):
            where = f"{path}: {table} row {number}"
            if not isinstance(row, dict):
                problems.append(f"{where}: not an object of column values")
                continue
            extra = sorted(set(row) - {name for name, *_ in columns})
            if extra:
                problems.append(f"{where}: unknown columns {', '.join(extra)}")
            clean = {}
            for name, data_type, nullable in columns:
                value = row.get(name)
                if value is None:
                    if not nullable:
                        problems.append(f"{where}: {name} is missing; every row needs one")
                    clean[name] = None
                    continue
                try:
                    clean[name] = _parse(value, data_type)
                except (ValueError, TypeError, InputError) as exc:
                    problems.append(f"{where}: {name} {value!r} is not a valid {data_type.lower()} ({exc})")
                    continue
                allowed = _ALLOWED.get((table, name))
                if allowed and value not in allowed:
                    problems.append(f"{where}: {name} {value!r} is not one of {', '.join(allowed)}")
            if "origin" in clean and clean["origin"] not in (None, USER_ORIGIN):
                problems.append(f"{where}: origin {clean['origin']!r}: an export holds only rows people wrote ('user')")
            key = tuple(clean.get(name) for name in keys)
            if key in seen:
                problems.append(f"{where}: the same record as row {seen[key]} ({', '.join(map(str, key))})")
            seen[key] = number
            problems.extend(f"{where}: {problem}" for problem in _row_rules(table, clean))
            parsed[table].append(clean)
    if problems:
        raise InputError([*problems, "nothing was imported"])
    return parsed


def _row_rules(table: str, row: dict) -> list[str]:
    """The rules a row must keep beyond its types (the CHECKs of the tables)."""
    broken = []
    if table == "payment_promises" and row.get("pay_by") and row.get("made_on") and row["pay_by"] < row["made_on"]:
        broken.append("pay_by is before made_on")
    if table == "disputes" and row.get("resolved_on") and row.get("opened_on") and row["resolved_on"] < row["opened_on"]:
        broken.append("resolved_on is before opened_on")
    if table == "reminder_templates" and row.get("days_past_due") is not None and row["days_past_due"] < 1:
        broken.append("days_past_due must be 1 or more")
    return broken


def import_activity(db, actor, file: str | Path) -> dict[str, int]:
    """Read an export back: every row, or nothing if any row is wrong (all problems named). A row
    replaces the one with the same key; rows not in the file stay. Importing the same file again
    changes nothing. Returns the rows per table."""
    require(actor, ADMIN, "import collections data")
    path = Path(file)
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"could not read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not JSON ({exc}); nothing was imported") from None

    def work(con):
        parsed = _rows_to_import(con, path, document)
        for table, rows in parsed.items():
            for row in rows:
                columns = ", ".join(row)
                con.execute(f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({', '.join('?' for _ in row)})",
                            list(row.values()))
        return {table: len(rows) for table, rows in parsed.items()}
    return _write(db, work)
