"""Reminder emails in stages by days past due, and the autopay invitation, each sent exactly once.

A run first **plans** every message (templates rendered, every address checked, each client's
statement made as the PDF attachment): any problem refuses the whole run before anything is
sent. Then it connects and logs in to the SMTP server (or writes `.eml` files), and sends the
messages one by one, each recorded in `reminder_deliveries` as 'sending' before it goes and
'sent' once the server took it (etl/activity.py). A message that is already recorded for its
invoice and stage is never sent again; one left 'sending' by a run that died is *uncertain*: it
is reported and not sent again until a person settles it (`settle_uncertain`).

What an invoice is reminded of: the highest active overdue stage whose days past due it has
reached, unless that stage or a later one was already sent for it; invoices in dispute and
clients parked by an open promise to pay get none. One message per client and stage.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Callable

import duckdb
import jinja2
import jinja2.meta
import pandas as pd
from jinja2.sandbox import SandboxedEnvironment

from core.access import COLLECTOR, require
from core.errors import InputError, SendError
from core.money import money
from core.settings import Settings, settings as current_settings
from etl import activity, mail
from etl.reminder_templates import AUTOPAY_INVITE, DEFAULTS, INVOICE_FIELDS, MERGE_FIELDS, OVERDUE, Template
from etl.statements import client_links, statement_file_name, statement_pdf, statement_view
from metrics import (
    autopay_conversion_candidates,
    companies,
    reminder_deliveries,
    reminder_invoices,
    saved_reminder_templates,
    statements,
)

CLIENT_WIDE = ""  # the invoice id a message about the client as a whole (the autopay invite) is recorded under
_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
                            keep_trailing_newline=True)


# --- templates ----------------------------------------------------------------------------------


def templates_for(con: duckdb.DuckDBPyConnection, source: str, company_id: str) -> list[Template]:
    """The company's stages: the defaults, each replaced by its edited version, plus added stages."""
    saved = saved_reminder_templates(con)
    mine = saved[(saved["source"] == source) & (saved["company_id"] == company_id)]
    edited = {row["stage"]: Template(row["stage"], row["kind"], None if pd.isna(row["days_past_due"]) else int(row["days_past_due"]),
                                     row["subject"], row["body"], bool(row["active"]))
              for row in mine.to_dict("records")}
    chosen = [edited.pop(default.stage, default) for default in DEFAULTS]
    return chosen + sorted(edited.values(), key=lambda t: (t.kind, t.days_past_due or 0, t.stage))


def _compile(text: str, what: str) -> jinja2.Template:
    try:
        unknown = sorted(jinja2.meta.find_undeclared_variables(_ENV.parse(text)) - set(MERGE_FIELDS))
        if unknown:
            raise InputError(f"{what}: unknown merge field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                             f"the fields are {', '.join(MERGE_FIELDS)}")
        return _ENV.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"{what}, line {exc.lineno}: {exc.message}") from None


def _render(text: str, what: str, fields: dict) -> str:
    template = _compile(text, what)
    try:
        return template.render(fields)
    except jinja2.UndefinedError as exc:
        raise InputError(f"{what}: {exc.message} (each invoice has {', '.join(INVOICE_FIELDS)}; the fields are "
                         f"{', '.join(MERGE_FIELDS)})") from None
    except jinja2.exceptions.SecurityError as exc:
        raise InputError(f"{what}: not allowed in a template ({exc})") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise InputError(f"{what}: {exc}") from None


_SAMPLE = {
    "client": "Acme Dental", "customer_id": "C1", "company": "Northwind Managed IT", "stage": "first",
    "as_of": "2026-11-25", "currency": "USD", "total": "$1,250.00", "days_past_due": 12,
    "invoices": [{"number": "INV-1001", "date": "2026-10-01", "due_date": "2026-10-31", "days_past_due": 12,
                  "total": "$1,250.00", "open_amount": "$1,250.00"}],
    "payment_link": "https://pay.example/C1", "autopay_link": "https://pay.example/autopay/C1",
}


def check_template(subject: str, body: str) -> None:
    """Refuse a template that would not render (an unknown field, a syntax error), naming why."""
    _render(subject, "the subject", _SAMPLE)
    _render(body, "the message", _SAMPLE)


def preview_template(template: Template) -> tuple[str, str]:
    """The subject and message a template makes for a sample client."""
    return _one_line(_render(template.subject, "the subject", _SAMPLE)), _render(template.body, "the message", _SAMPLE)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- planning -----------------------------------------------------------------------------------


@dataclass
class Message:
    """One planned message, ready to go."""

    delivery: activity.Delivery
    customer: str
    sender: str | None
    body: str
    invoices: list[str]
    amount: str
    attachment_name: str
    attachment: bytes = field(repr=False)
    status: str = "planned"

    def email(self, now: datetime) -> EmailMessage:
        d = self.delivery
        return mail.compose(self.sender, d.recipients, d.subject, self.body, now,
                            [(self.attachment_name, self.attachment, "application/pdf")], d.message_id,
                            {"X-Ledgerlight-Reminder": f"{d.stage}; client {d.customer_id}"})

    def describe(self) -> dict:
        d = self.delivery
        return {"stage": d.stage, "customer_id": d.customer_id, "customer": self.customer, "to": list(d.recipients),
                "subject": d.subject, "invoices": self.invoices, "amount": self.amount,
                "attachment": self.attachment_name, "message_id": d.message_id, "status": self.status,
                "body": self.body}


@dataclass
class Plan:
    as_of: date
    sender: str | None
    messages: list[Message] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    uncertain: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _money_by_currency(frame: pd.DataFrame, column: str) -> str:
    return " + ".join(money(sum(part[column]), currency) for currency, part in frame.groupby("currency", sort=True))


def _fields(client: dict, stage: Template, invoices: pd.DataFrame, as_of: date, links: dict) -> dict:
    rows = invoices.to_dict("records")
    return {
        "client": _one_line(client["customer"]), "customer_id": client["customer_id"], "company": client["company"],
        "stage": stage.stage, "as_of": as_of.isoformat(),
        "currency": rows[0]["currency"] if rows else client["account_currency"],
        "invoices": [{"number": r["doc_number"], "date": r["txn_date"].isoformat(), "due_date": r["due_date"].isoformat(),
                      "days_past_due": int(r["days_past_due"]), "total": money(r["total"], r["currency"]),
                      "open_amount": money(r["open_amount"], r["currency"])} for r in rows],
        "total": _money_by_currency(invoices, "open_amount") if rows else money(Decimal("0.00"), client["account_currency"]),
        "days_past_due": max((int(r["days_past_due"]) for r in rows), default=0),
        **links,
    }


def _due_stages(invoices: pd.DataFrame, stages: list[Template], delivered: dict) -> pd.DataFrame:
    """Each invoice with the stage it is due now (None: nothing new)."""
    ladder = sorted((t for t in stages if t.kind == OVERDUE and t.active), key=lambda t: t.days_past_due)
    days_of = {t.stage: t.days_past_due for t in stages if t.kind == OVERDUE}

    def due(row) -> str | None:
        reached = [t for t in ladder if t.days_past_due <= row["days_past_due"]]
        if not reached:
            return None
        stage = reached[-1]
        sent = delivered.get((row["source"], row["company_id"], row["customer_id"], row["invoice_id"]), set())
        if any(days_of.get(name, 0) >= stage.days_past_due for name in sent):
            return None
        return stage.stage
    return invoices.assign(stage=[due(row) for row in invoices.to_dict("records")] if len(invoices) else [])


def plan_reminders(con: duckdb.DuckDBPyConnection, as_of: date | None = None, stages: list[str] | None = None,
                   company_id: str | None = None, reader: Settings | None = None, via: str = "smtp") -> Plan:
    """Every message a run would send at `as_of` (default today), for the stages asked (default:
    every active overdue stage; the autopay invitation only when asked for by name). Refuses the
    whole plan, naming every problem, if any message cannot be made."""
    reader = reader or current_settings()
    as_of = as_of or reader.today()
    plan = Plan(as_of, mail.sender(reader, required=via != "dry-run"))
    held = companies(con)
    if company_id is not None:
        held = held[held["company_id"] == company_id]
        if held.empty:
            raise InputError(f"no company {company_id!r} in this database")
    log = reminder_deliveries(con)
    delivered: dict[tuple, set[str]] = defaultdict(set)
    for row in log.to_dict("records"):
        delivered[(row["source"], row["company_id"], row["customer_id"], row["invoice_id"])].add(row["stage"])
    uncertain = log[log["status"] == "sending"]
    for message_id, rows in uncertain.groupby("message_id", sort=False):
        first = rows.iloc[0]
        plan.uncertain.append({"stage": first["stage"], "customer_id": first["customer_id"], "customer": first["customer"],
                               "invoices": [i for i in rows["invoice"] if i], "message_id": message_id,
                               "since": first["claimed_at"].isoformat(timespec="seconds")})
    problems: list[str] = []
    all_invoices = reminder_invoices(con, as_of)
    wanted: list[tuple] = []  # (stage, client, invoices, invoice ids it is recorded under)
    for company in held.to_dict("records"):
        if company["data_through"] is not None and not pd.isna(company["data_through"]) and company["data_through"] < as_of:
            plan.warnings.append(f"{company['name']}'s books run to {company['data_through']}: payments since then are "
                                 "not known, so a client who has paid may still be reminded. Sync first.")
        chosen = templates_for(con, company["source"], company["company_id"])
        known = {t.stage: t for t in chosen}
        asked = stages or [t.stage for t in chosen if t.kind == OVERDUE and t.active]
        unknown = [s for s in asked if s not in known]
        if unknown:
            raise InputError(f"no stage {', '.join(map(repr, unknown))}; the stages are {', '.join(known)}")
        invoices = all_invoices[(all_invoices["source"] == company["source"])
                                & (all_invoices["company_id"] == company["company_id"])]
        due = _due_stages(invoices, chosen, delivered)
        for (customer_id, stage), listed in due[due["stage"].isin(asked)].groupby(["customer_id", "stage"], sort=False):
            wanted.append((known[stage], listed.iloc[0].to_dict(), listed, None))
        if AUTOPAY_INVITE in asked and known[AUTOPAY_INVITE].active:
            wanted.extend(_invitations(con, plan, known[AUTOPAY_INVITE], company, invoices, delivered))
    emailed = [item for item in wanted if _has_email(plan, *item[:2])]
    made = statements(con, as_of, sorted({client["customer_id"] for _, client, _, _ in emailed}))
    for stage, client, listed, invoice_ids in emailed:
        _plan_message(plan, problems, stage, client, listed, made[client["customer_id"]], reader, via, invoice_ids)
    if problems:
        raise InputError([*problems, "nothing was sent: fix these and run it again"])
    return plan


def _invitations(con, plan: Plan, invite: Template, company: dict, invoices: pd.DataFrame, delivered: dict) -> list[tuple]:
    candidates = autopay_conversion_candidates(con, plan.as_of)
    candidates = candidates[(candidates["source"] == company["source"]) & (candidates["company_id"] == company["company_id"])]
    wanted = []
    for row in candidates.to_dict("records"):
        if invite.stage in delivered.get((row["source"], row["company_id"], row["customer_id"], CLIENT_WIDE), set()):
            continue
        client = {"source": row["source"], "company_id": row["company_id"], "customer_id": row["customer_id"],
                  "customer": row["customer"], "email": row["email"], "company": company["name"],
                  "account_currency": company["home_currency"]}
        wanted.append((invite, client, invoices[invoices["customer_id"] == row["customer_id"]], (CLIENT_WIDE,)))
    return wanted


def _has_email(plan: Plan, stage: Template, client: dict) -> bool:
    if (client.get("email") or "").strip():
        return True
    plan.skipped.append({"stage": stage.stage, "customer_id": client["customer_id"], "customer": client["customer"],
                         "reason": "no email address in the books"})
    return False


def _plan_message(plan: Plan, problems: list[str], stage: Template, client: dict, invoices: pd.DataFrame,
                  made_statement: dict, reader: Settings, via: str, invoice_ids: tuple[str, ...] | None) -> None:
    who = f"{client['customer']} ({client['customer_id']})"
    try:
        recipients = mail.addresses(client["email"], f"{who}'s email address in the books")
        links = client_links(client["customer_id"], reader)
        fields = _fields(client, stage, invoices, plan.as_of, links)
        subject = _one_line(_render(stage.subject, f"stage {stage.stage!r}, the subject", fields))
        body = _render(stage.body, f"stage {stage.stage!r}, the message", fields)
        attachment = statement_pdf(statement_view(made_statement, links["payment_link"]))
    except InputError as exc:
        problems.extend(f"{who}: {problem}" for problem in exc.problems)
        return
    domain = (plan.sender or "ledgerlight.invalid").rpartition("@")[2]
    delivery = activity.Delivery(
        client["source"], client["company_id"], client["customer_id"], stage.stage,
        invoice_ids or tuple(invoices["invoice_id"]), make_msgid(uuid.uuid4().hex[:12], domain=domain),
        tuple(recipients), subject, "eml" if via == "eml" else "smtp")
    plan.messages.append(Message(delivery, client["customer"], plan.sender, body, [i for i in invoices["doc_number"]],
                                 fields["total"], statement_file_name(client["customer_id"], plan.as_of), attachment))


# --- sending ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a run did: the plan's messages with their status ('sent', 'saved', 'not sent',
    'uncertain', 'skipped'), and the error that stopped it, if any."""

    plan: Plan
    error: str | None = None

    @property
    def sent(self) -> list[Message]:
        return [m for m in self.plan.messages if m.status in ("sent", "saved")]


def _note(message: Message, where: str) -> str:
    invoices = f" ({', '.join(message.invoices)})" if message.invoices else ""
    return f"{message.delivery.stage} reminder {where} {', '.join(message.delivery.recipients)}: {message.delivery.subject}{invoices}"


def send_reminders(db, actor, plan: Plan, eml_folder: str | Path | None = None, reader: Settings | None = None,
                   progress: Callable[[int, int], None] = lambda done, total: None) -> Outcome:
    """Send a plan's messages through SMTP (or write them to `eml_folder` as .eml files), each
    exactly once. Connects and logs in before the first; stops at the first message the server
    refuses or may not have taken, and says so in `Outcome.error`."""
    require(actor, COLLECTOR, "send reminders")
    outcome = Outcome(plan)
    if not plan.messages:
        return outcome
    reader = reader or current_settings()
    mailer = None
    folder = Path(eml_folder) if eml_folder is not None else None
    if folder is None:
        mailer = mail.Mailer(mail.smtp_settings(reader))
    elif not folder.is_dir():
        raise InputError(f"{folder} is not a folder: make it first, or name another with --eml")
    try:
        for done, message in enumerate(plan.messages):
            progress(done, len(plan.messages))
            if not activity.claim_delivery(db, actor, message.delivery):
                message.status = "skipped"
                plan.skipped.append({"stage": message.delivery.stage, "customer_id": message.delivery.customer_id,
                                     "customer": message.customer, "reason": "already sent (by another run)"})
                continue
            try:
                if mailer is not None:
                    mailer.send(message.email(reader.now()))
                    where = "sent to"
                else:
                    target = _write_eml(folder, message, reader.now())
                    where = f"saved as {target.name} for"
            except mail.MessageRefused as exc:
                activity.release_delivery(db, actor, message.delivery)
                message.status = "not sent"
                outcome.error = f"{message.customer}: {exc}; it was not sent, and nothing after it"
                break
            except (mail.DeliveryUncertain, OSError) as exc:
                message.status = "uncertain"
                outcome.error = (f"{message.customer}: {exc}; it may have gone, so it will not be sent again until "
                                 f"you settle it (message {message.delivery.message_id}); nothing after it was sent")
                break
            activity.confirm_delivery(db, actor, message.delivery, _note(message, where))
            message.status = "sent" if mailer is not None else "saved"
        progress(len(plan.messages), len(plan.messages))
    finally:
        if mailer is not None:
            mailer.close()
    return outcome


def _write_eml(folder: Path, message: Message, now: datetime) -> Path:
    d = message.delivery
    target = folder / f"{message.attachment_name.removesuffix('.pdf').replace('statement-', '')}-{d.stage}.eml"
    partial = target.with_suffix(".eml.partial")
    with open(partial, "wb") as out:
        out.write(bytes(message.email(now)))
        out.flush()
        os.fsync(out.fileno())
    partial.replace(target)
    return target


def describe(outcome_or_plan: Outcome | Plan, dry_run: bool, via: str) -> dict:
    """The documented JSON shape of a run (docs/cli.md)."""
    plan = outcome_or_plan.plan if isinstance(outcome_or_plan, Outcome) else outcome_or_plan
    return {"as_of": plan.as_of.isoformat(), "dry_run": dry_run, "via": via, "sender": plan.sender,
            "messages": [m.describe() for m in plan.messages], "skipped": plan.skipped,
            "uncertain": plan.uncertain, "warnings": plan.warnings,
            "error": outcome_or_plan.error if isinstance(outcome_or_plan, Outcome) else None}


def run_error(outcome: Outcome) -> SendError | None:
    if outcome.error is None:
        return None
    sent = len(outcome.sent)
    return SendError(f"{outcome.error} ({sent} message{'s' if sent != 1 else ''} sent before it)")
