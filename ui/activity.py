"""Collections work on the dashboard: one client's history with the forms that add to it
(`panel`), the worklist's filters (`worklist_options`), and reminders and statements
(`reminders`, `templates`; the panel holds the client's statement downloads).

Every page that shows a client can call `panel(ctx, customer_id)`: it draws the client's status
(parked by a promise, promises broken, disputes, the next action), the timeline (notes, calls,
emails, reminders sent, promises kept or broken, disputes opened and resolved) and, for a user
with the collector role, the forms. Every write goes through etl/activity.py as the page's user,
which checks the role again; a refusal or a bad value is shown as a message and nothing is
written. Rules and wording: docs/collections.md.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd
import streamlit as st

import metrics

from core.access import ADMIN, COLLECTOR
from core.db import read_only
from core.errors import LedgerlightError
from etl import activity as writes
from etl import mail
from etl import reminders as reminder_runs
from etl import statements
from etl.reminder_templates import MERGE_FIELDS, OVERDUE
from ui import shell, tables
from ui.format import money, plain

_FLASH = "ledgerlight_activity_flash_"  # + area: (kind, text) of the last write there, shown once on the next run
_KIND_LABELS = {"note": "Note", "call": "Call", "email": "Email"}
_ICONS = {"note": "📝", "call": "📞", "email": "✉️", "reminder": "📨", "promise": "🤝", "dispute": "⚠️",
          "dispute resolved": "✅"}


# --- the worklist's filters -----------------------------------------------------------------------


def worklist_options(ctx: shell.Context) -> dict[str, Any]:
    """The worklist's controls (parked clients shown or not, the next action's owner and date),
    as the options of `metrics.collections_worklist`."""
    parked, owner_column, due_column = st.columns([1, 1, 1])
    include_parked = parked.toggle(
        "Show parked clients", value=False, key="worklist_parked",
        help="A client with an open promise to pay (its pay-by date not yet passed) is parked until then.")
    owners = shell.metric("worklist_owners")
    owner = owner_column.selectbox("Next action owner", ["Anyone", *owners], key="worklist_owner")
    limit_due = due_column.checkbox("Next action due by", key="worklist_due_on")
    due_by = due_column.date_input("Due by", value=ctx.today, key="worklist_due_by", label_visibility="collapsed",
                                   disabled=not limit_due)
    return {"include_parked": include_parked, "owner": None if owner == "Anyone" else owner,
            "action_due_by": due_by if limit_due else None}


# --- one client -----------------------------------------------------------------------------------


def panel(ctx: shell.Context, customer_id: str, source: str | None = None, company_id: str | None = None) -> None:
    """One client's collections panel: status, timeline, statement downloads and (collector) the forms.
    The client's company: the one given, else the one chosen in the sidebar."""
    if source is None and ctx.company is not None:
        source, company_id = ctx.company
    where = {"source": source, "company_id": company_id}
    _show_flash()
    status = shell.metric("collection_status")
    status = status[status["customer_id"] == customer_id]
    disputes = shell.metric("disputes", customer_id=customer_id)
    _status_line(ctx, status.iloc[0] if len(status) else None, disputes)

    timeline = shell.metric("collection_timeline", customer_id=customer_id)
    st.markdown(f"**History** ({len(timeline)})")
    if timeline.empty:
        st.caption("Nothing recorded yet for this client.")
    else:
        shown = timeline.assign(kind=[f"{_ICONS.get(k, '')} {k}" for k in timeline["kind"]])
        tables.show(shown[["happened_on", "kind", "status", "invoice", "text", "author"]], key=f"timeline-{customer_id}",
                    happened_on=st.column_config.DateColumn("date"),
                    text=st.column_config.TextColumn("what", width="large"))
    _statement_downloads(ctx, customer_id)

    if not shell.allowed(COLLECTOR):
        shell.role_needed(COLLECTOR, "Recording notes, promises, disputes and next actions")
        return
    note, promise, dispute, next_action = st.tabs(["Note, call or email", "Promise to pay", "Dispute", "Next action"])
    invoices = shell.metric("open_invoices_as_of", customer_id=customer_id, roll_up=True)
    labels = dict(zip(invoices["invoice_id"], invoices["doc_number"].fillna(invoices["invoice_id"]) + " · "
                      + [money(a, c) for a, c in zip(invoices["open_amount"], invoices["currency"])]))
    with note:
        _note_form(ctx, customer_id, labels, where)
    with promise:
        _promise_form(ctx, customer_id, labels, where)
    with dispute:
        _dispute_forms(ctx, customer_id, labels, disputes, where)
    with next_action:
        _next_action_form(ctx, customer_id, status.iloc[0] if len(status) else None, where)


def _status_line(ctx: shell.Context, status, disputes: pd.DataFrame) -> None:
    open_disputes = disputes[disputes["is_open"]] if len(disputes) else disputes
    parts = []
    if status is not None and status["parked"]:
        parts.append(f"🤝 parked: promised {money(status['promised_amount'], ctx.home_currency)} by "
                     f"{status['promised_by']:%d %b %Y}")
    if status is not None and status["broken_promises"]:
        parts.append(f"💔 {status['broken_promises']} promise{'s' if status['broken_promises'] > 1 else ''} "
                     "broken in the last 12 months")
    if len(open_disputes):
        parts.append(f"⚠️ {len(open_disputes)} invoice{'s' if len(open_disputes) > 1 else ''} disputed "
                     f"({money(sum(open_disputes['open_amount']), ctx.home_currency)} not chased)")
    if status is not None and not pd.isna(status["next_action_on"]) and status["next_action_on"] is not None:
        owner = "" if pd.isna(status["next_action_owner"]) else f" ({plain(status['next_action_owner'])})"
        what = "" if pd.isna(status["next_action"]) else f": {plain(status['next_action'])}"
        late = " · overdue" if status["next_action_on"] < ctx.today else ""
        parts.append(f"⏭ next action {status['next_action_on']:%d %b %Y}{owner}{what}{late}")
    st.markdown(" · ".join(parts) if parts else "No promise, dispute or next action recorded.")


def _statement_downloads(ctx: shell.Context, customer_id: str) -> None:
    pdf, html, _ = st.columns([1, 1, 4])
    for column, kind, mime in ((pdf, "pdf", "application/pdf"), (html, "html", "text/html")):
        column.download_button(
            f"Statement ({kind.upper()})", lambda kind=kind: _statement(ctx, customer_id, kind),
            statements.statement_file_name(customer_id, ctx.as_of, kind), mime, key=f"statement-{kind}-{customer_id}",
            help=f"Open invoices, credits and aging as of {ctx.as_of:%d %b %Y}.")


def _statement(ctx: shell.Context, customer_id: str, kind: str) -> bytes:
    with read_only(ctx.db) as con:
        return statements.render_statement(con, ctx.as_of, customer_id, kind)


def _write(what: str, work: Callable[[], Any], emptied: dict[str, Any] | None = None, area: str = "panel") -> None:
    """Run one write (a form's callback): its outcome is shown once on the run that follows. The
    form keeps what was typed when the write is refused; once saved, its `emptied` fields are."""
    try:
        work()
    except LedgerlightError as exc:
        problems = getattr(exc, "problems", [str(exc)])
        st.session_state[_FLASH + area] = ("error", "Nothing was saved: " + "; ".join(problems))
    else:
        st.session_state[_FLASH + area] = ("success", what)
        for key, value in (emptied or {}).items():
            if value is None:
                st.session_state.pop(key, None)  # drawn again from its default
            else:
                st.session_state[key] = value


def _show_flash(area: str = "panel") -> None:
    flash = st.session_state.pop(_FLASH + area, None)
    if flash:
        (st.error if flash[0] == "error" else st.success)(plain(flash[1]))


def _value(key: str):
    return st.session_state.get(key)


def _note_form(ctx, customer_id: str, labels: dict, where: dict) -> None:
    key = f"note-{customer_id}"
    with st.form(key):
        kind_column, date_column, invoice_column = st.columns(3)
        kind_column.radio("Kind", list(_KIND_LABELS), format_func=_KIND_LABELS.get, horizontal=True, key=f"{key}-kind")
        date_column.date_input("Date", value=ctx.today, max_value=ctx.today, key=f"{key}-on")
        invoice_column.selectbox("About invoice", [None, *labels], format_func=lambda i: "the client" if i is None
                                 else labels[i], key=f"{key}-invoice")
        st.text_area("What happened", key=f"{key}-body", max_chars=writes.MAX_TEXT)
        st.form_submit_button("Save", on_click=lambda: _write("Saved.", lambda: writes.record_activity(
            ctx.db, ctx.actor, customer_id, _value(f"{key}-kind"), _value(f"{key}-body"), on=_value(f"{key}-on"),
            invoice_id=_value(f"{key}-invoice"), **where), {f"{key}-body": ""}))


def _promise_form(ctx, customer_id: str, labels: dict, where: dict) -> None:
    key = f"promise-{customer_id}"
    with st.form(key):
        amount_column, by_column, made_column = st.columns(3)
        amount_column.text_input(f"Amount ({ctx.home_currency})", key=f"{key}-amount", placeholder="1250.00")
        by_column.date_input("Pay by", value=ctx.today, key=f"{key}-by")
        made_column.date_input("Promised on", value=ctx.today, max_value=ctx.today, key=f"{key}-made")
        st.multiselect("For invoices (none: the account as a whole)", list(labels), format_func=labels.get,
                       key=f"{key}-invoices")
        st.text_input("Note", key=f"{key}-note")
        st.form_submit_button("Save the promise", on_click=lambda: _write(
            "Promise saved: the client is parked until the pay-by date.", lambda: writes.add_promise(
                ctx.db, ctx.actor, customer_id, _value(f"{key}-amount"), _value(f"{key}-by"),
                made_on=_value(f"{key}-made"), invoice_ids=_value(f"{key}-invoices") or (),
                note=_value(f"{key}-note"), **where), {f"{key}-amount": "", f"{key}-note": "", f"{key}-invoices": []}))


def _dispute_forms(ctx, customer_id: str, labels: dict, disputes: pd.DataFrame, where: dict) -> None:
    key = f"dispute-{customer_id}"
    open_now = disputes[disputes["is_open"]] if len(disputes) else disputes
    disputed = set(open_now["invoice_id"]) if len(open_now) else set()
    choices = [i for i in labels if i not in disputed]
    with st.form(f"{key}-open"):
        st.markdown("**Open a dispute**")
        invoice_column, date_column = st.columns([2, 1])
        invoice_column.selectbox("Invoice", choices, format_func=labels.get, key=f"{key}-invoice")
        date_column.date_input("Opened on", value=ctx.today, max_value=ctx.today, key=f"{key}-on")
        st.text_input("Reason", key=f"{key}-reason")
        st.form_submit_button("Open the dispute", disabled=not choices, on_click=lambda: _write(
            "Dispute opened: its amount is left out of what to chase.", lambda: writes.open_dispute(
                ctx.db, ctx.actor, customer_id, _value(f"{key}-invoice"), _value(f"{key}-reason"),
                opened_on=_value(f"{key}-on"), **where), {f"{key}-reason": ""}))
    if not len(open_now):
        return
    names = dict(zip(open_now["dispute_id"], open_now["invoice"] + " · " + open_now["reason"].str.slice(0, 60)))
    with st.form(f"{key}-resolve"):
        st.markdown("**Resolve a dispute**")
        which_column, date_column = st.columns([2, 1])
        which_column.selectbox("Dispute", list(names), format_func=names.get, key=f"{key}-which")
        date_column.date_input("Resolved on", value=ctx.today, max_value=ctx.today, key=f"{key}-resolved")
        st.text_input("Resolution", key=f"{key}-resolution")
        st.form_submit_button("Resolve", on_click=lambda: _write(
            "Dispute resolved: its amount is chased again.", lambda: writes.resolve_dispute(
                ctx.db, ctx.actor, _value(f"{key}-which"), _value(f"{key}-resolution"),
                resolved_on=_value(f"{key}-resolved")), {f"{key}-resolution": ""}))


def _next_action_form(ctx, customer_id: str, status, where: dict) -> None:
    key = f"next-{customer_id}"
    has_one = status is not None and status["next_action_on"] is not None and not pd.isna(status["next_action_on"])
    with st.form(key):
        date_column, owner_column = st.columns(2)
        date_column.date_input("Due on", value=status["next_action_on"] if has_one else ctx.today, key=f"{key}-on")
        owner_column.text_input("Owner", value=(status["next_action_owner"] if has_one and not pd.isna(
            status["next_action_owner"]) else ctx.actor.id), key=f"{key}-owner")
        st.text_input("What", value=status["next_action"] if has_one and not pd.isna(status["next_action"]) else "",
                      key=f"{key}-action")
        save, clear, _ = st.columns([1, 1, 3])
        with save:
            st.form_submit_button("Set the next action", on_click=lambda: _write("Next action set.", lambda: (
                writes.set_next_action(ctx.db, ctx.actor, customer_id, _value(f"{key}-on"), owner=_value(f"{key}-owner"),
                                       action=_value(f"{key}-action"), **where))))
        with clear:
            st.form_submit_button("Clear it", disabled=not has_one, on_click=lambda: _write(
                "Next action cleared.", lambda: writes.clear_next_action(ctx.db, ctx.actor, customer_id, **where)))


# --- reminders ------------------------------------------------------------------------------------


def reminders(ctx: shell.Context) -> None:
    """Reminders due today: a dry run that shows exactly what would go to whom, and the send
    (collector), each message exactly once (etl/reminders.py)."""
    if not shell.allowed(COLLECTOR):
        shell.role_needed(COLLECTOR, "Sending reminders")
        return
    st.caption(f"Reminders due on {ctx.today:%d %b %Y}, by days past due (docs/collections.md). Clients parked by a "
               "promise and disputed invoices get none; nothing is ever sent twice for the same stage and invoice.")
    present = mail.settings_status()
    st.caption("Email settings: " + ", ".join(f"`{name}` {'set' if is_set else 'not set'}" for name, is_set in present.items()))
    dry, send, _ = st.columns([1, 1, 3])
    if dry.button("Dry run", key="reminders-dry-run", help="Show what would go to whom; nothing is sent."):
        _reminder_run(ctx, send=False)
    if send.button("Send the reminders", key="reminders-send", type="primary",
                   help="Through your SMTP server (LEDGERLIGHT_SMTP_*, docs/configuration.md)."):
        _reminder_run(ctx, send=True)


def _reminder_run(ctx: shell.Context, send: bool) -> None:
    try:
        with read_only(ctx.db) as con:
            plan = reminder_runs.plan_reminders(con, as_of=ctx.today, via="smtp" if send else "dry-run")
        outcome = reminder_runs.send_reminders(ctx.db, ctx.actor, plan) if send and plan.messages else None
    except LedgerlightError as exc:
        problems = getattr(exc, "problems", [str(exc)])
        st.error("Nothing was sent: " + "".join(f"\n- {plain(p)}" for p in problems) if len(problems) > 1
                 else "Nothing was sent: " + plain(problems[0]))
        return
    shown = reminder_runs.describe(outcome or plan, dry_run=not send, via="smtp" if send else "dry-run")
    for warning in shown["warnings"]:
        st.warning(plain(warning))
    if shown["error"]:
        st.error(plain(str(reminder_runs.run_error(outcome))))
    count = len(shown["messages"])
    if not send:
        st.info(f"{count} message{'s' if count != 1 else ''} would be sent (dry run: nothing was sent).")
    else:
        sent = sum(m["status"] == "sent" for m in shown["messages"])
        st.success(f"{sent} of {count} message{'s' if count != 1 else ''} sent.")
    if count:
        listed = pd.DataFrame([{"status": m["status"], "stage": m["stage"], "client": m["customer"],
                                "to": ", ".join(m["to"]), "subject": m["subject"], "invoices": ", ".join(m["invoices"]),
                                "amount": m["amount"]} for m in shown["messages"]])
        tables.show(listed, key=f"reminders-{'sent' if send else 'planned'}")
        for message in shown["messages"][:20]:
            with st.expander(f"{message['customer']}: {message['subject']}"):
                st.text(f"To: {', '.join(message['to'])}\nAttached: {message['attachment']}\n\n{message['body']}")
    for skipped in shown["skipped"]:
        st.caption(f"Skipped {plain(skipped['customer'])} ({plain(skipped['stage'])}): {plain(skipped['reason'])}")
    for uncertain in shown["uncertain"]:
        st.warning(f"Uncertain: {plain(uncertain['customer'])} ({plain(uncertain['stage'])}) since "
                   f"{uncertain['since']}: check the mailbox, then settle it with `python -m etl remind --mark-sent` "
                   f"or `--mark-unsent {plain(uncertain['message_id'])}`.")


# --- templates ------------------------------------------------------------------------------------


def templates(ctx: shell.Context) -> None:
    """The reminder stages of a company, editable by an admin: subject, message (checked against
    the merge fields before it is saved), days past due, on or off; reset brings the default back."""
    if not shell.allowed(ADMIN):
        shell.role_needed(ADMIN, "Editing reminder templates")
        return
    _show_flash("templates")
    with read_only(ctx.db) as con:
        held = metrics.companies(con)
        names = dict(zip(zip(held["source"], held["company_id"]), held["name"]))
        company = st.selectbox("Company", list(names), format_func=names.get, key="templates_company") \
            if len(names) > 1 else next(iter(names))
        stages = {t.stage: t for t in reminder_runs.templates_for(con, *company)}
    stage = stages[st.selectbox("Stage", list(stages), key="templates_stage", format_func=lambda name: (
        f"{name} (from {stages[name].days_past_due} days past due)" if stages[name].kind == OVERDUE
        else f"{name} (the conversion list)") + ("" if stages[name].active else " · off"))]
    key = f"template-{company[0]}-{company[1]}-{stage.stage}"
    st.caption("Merge fields: " + ", ".join(f"`{{{{ {name} }}}}` {plain(meaning)}" for name, meaning in MERGE_FIELDS.items()))
    with st.form(key):
        st.text_input("Subject", value=stage.subject, key=f"{key}-subject")
        st.text_area("Message", value=stage.body, height=260, key=f"{key}-body")
        days_column, active_column = st.columns(2)
        if stage.kind == OVERDUE:
            days_column.number_input("From days past due", min_value=1, value=stage.days_past_due, step=1, key=f"{key}-days")
        active_column.checkbox("Sent", value=stage.active, key=f"{key}-active")
        save, reset, _ = st.columns([1, 1, 3])
        with save:
            st.form_submit_button("Save the template", on_click=lambda: _write(f"Template {stage.stage} saved.", lambda: (
                writes.save_template(ctx.db, ctx.actor, *company, stage.stage, stage.kind, _value(f"{key}-days"),
                                     _value(f"{key}-subject"), _value(f"{key}-body"), bool(_value(f"{key}-active")),
                                     check=reminder_runs.check_template)), area="templates"))
        with reset:
            st.form_submit_button("Back to the default", on_click=lambda: _write(
                f"Template {stage.stage} is the default again.", lambda: writes.reset_template(
                    ctx.db, ctx.actor, *company, stage.stage), {f"{key}-subject": None, f"{key}-body": None},
                area="templates"))
    subject, body = reminder_runs.preview_template(stage)
    st.caption("As saved, for a sample client:")
    st.text(f"Subject: {subject}\n\n{body}")
