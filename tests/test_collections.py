"""Collections data of ledgerlight's own (etl/activity.py, metrics/collections.py, ui/activity.py):
promises kept and broken around a partial payment, disputes out of "to chase" and back, a note
written while a sync holds the write lock, the tables through a full re-sync, a demo rebuild and
an export and import, and the dashboard's panel in AppTest. Worked by hand from tiny books."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.access import COLLECTOR, VIEWER, Actor
from core.db import read_only
from core.errors import AccessError, InputError
from core.schema import ACTIVITY_TABLES
from etl import activity
from etl.batch import Company
from etl.cli import main
from metrics import (
    aging_by_customer,
    collection_status,
    collection_timeline,
    collections_worklist,
    promise_status,
)
from tests.books import write_book
from tests.conftest import DEMO_AS_OF, build_demo, client_names, shown
from tests.oidc_provider import secrets_toml
from tests.test_access import AUTH, write_secrets

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
COMPANY = Company("test", "k1", "Hand-made MSP", data_through=DEMO_AS_OF)
SAM = Actor("sam@msp.example", COLLECTOR)
# At 2026-11-25 (the suite's today):
#   Acme  I1 1000.00 due 10-31, 400.00 paid 11-12 (P1)  -> 600.00 open, 25 days past due
#         I2  500.00 due 11-10, unpaid                 ->  500.00 open, 15 days past due
#   Birch I3 1200.00 due 10-15, unpaid                 -> 1200.00 open, 41 days past due
CUSTOMERS = [
    {"customer_id": "C1", "name": "Acme Dental", "email": "ap@acme.example"},
    {"customer_id": "C2", "name": "Birch Legal", "email": "billing@birch.example"},
]
INVOICES = [
    {"invoice_id": "I1", "customer_id": "C1", "txn_date": date(2026, 10, 1), "due_date": date(2026, 10, 31), "total": "1000.00"},
    {"invoice_id": "I2", "customer_id": "C1", "txn_date": date(2026, 10, 11), "due_date": date(2026, 11, 10), "total": "500.00"},
    {"invoice_id": "I3", "customer_id": "C2", "txn_date": date(2026, 9, 15), "due_date": date(2026, 10, 15), "total": "1200.00"},
]
PAYMENTS = [{"payment_id": "P1", "customer_id": "C1", "txn_date": date(2026, 11, 12), "amount": "400.00", "method": "check"}]
APPLICATIONS = [{"application_id": "A1", "invoice_id": "I1", "payment_id": "P1", "applied_on": date(2026, 11, 12), "amount": "400.00"}]


def write(path: Path) -> Path:
    return write_book(path, CUSTOMERS, INVOICES, PAYMENTS, (), APPLICATIONS, company=COMPANY)


@pytest.fixture
def book(tmp_path):
    return write(tmp_path / "collections.duckdb")


def worklist_row(db, as_of: date, customer_id: str, **options) -> dict:
    with read_only(db) as con:
        worklist = collections_worklist(con, as_of, **options)
    return worklist.set_index("customer_id").loc[customer_id].to_dict()


def statuses(db, as_of: date) -> dict[str, tuple]:
    with read_only(db) as con:
        found = promise_status(con, as_of, "C1")
    return {row.note: (row.status, row.covered) for row in found.itertuples()}


def user_rows(db) -> dict[str, list]:
    with read_only(db) as con:
        return {table: con.execute(f"SELECT * FROM {table} WHERE {activity._exported(table)} ORDER BY ALL").fetchall()
                for table in ACTIVITY_TABLES}


# --- promises ------------------------------------------------------------------------------------


def test_promises_kept_and_broken_around_a_partial_payment(book):
    # Made on 11-05. Only P1 (400.00 to I1 on 11-12) comes in:
    #   A  400.00 by 11-14 for I1        -> 400.00 covered by 11-14: kept
    #   B 1000.00 by 11-14 for I1        -> only 400.00 by then: open on 11-13, broken from 11-15
    #   C  400.00 by 11-11 for I1        -> P1 came a day late: broken from 11-12
    #   D  500.00 by 11-20 for I2        -> P1 paid I1, not I2: broken from 11-21
    #   E  350.00 by 11-20, the account  -> any payment counts: P1's 400.00 covers it: kept
    for note, amount, pay_by, invoices in (("A", "400", date(2026, 11, 14), ["I1"]), ("B", "1000", date(2026, 11, 14), ["I1"]),
                                           ("C", "400.00", date(2026, 11, 11), ["I1"]), ("D", "500", date(2026, 11, 20), ["I2"]),
                                           ("E", "350", date(2026, 11, 20), [])):
        activity.add_promise(book, SAM, "C1", amount, pay_by, made_on=date(2026, 11, 5), invoice_ids=invoices, note=note)
    paid, nothing = Decimal("400.00"), Decimal("0.00")
    assert statuses(book, date(2026, 11, 25)) == {"A": ("kept", paid), "B": ("broken", paid), "C": ("broken", nothing),
                                                  "D": ("broken", nothing), "E": ("kept", paid)}
    assert statuses(book, date(2026, 11, 11)) == {"A": ("open", nothing), "B": ("open", nothing), "C": ("open", nothing),
                                                  "D": ("open", nothing), "E": ("open", nothing)}
    assert statuses(book, date(2026, 11, 13)) == {"A": ("kept", paid), "B": ("open", paid), "C": ("broken", nothing),
                                                  "D": ("open", nothing), "E": ("kept", paid)}

    # On 11-13 B and D are open: Acme is parked with 1500.00 promised by 11-14, and left out when asked.
    parked = worklist_row(book, date(2026, 11, 13), "C1")
    assert (parked["parked"], parked["promised_amount"], parked["promised_by"]) == (True, Decimal("1500.00"), date(2026, 11, 14))
    with read_only(book) as con:
        assert "C1" not in set(collections_worklist(con, date(2026, 11, 13), include_parked=False)["customer_id"])
    # On 11-25 three are broken and none open: priority = to chase × (1 + days ÷ 90) × (1 + 0.5 × broken).
    #   Acme 1100.00 × (1 + 25/90) × 2.5 = 3513.89; Birch 1200.00 × (1 + 41/90) = 1746.67: Acme first.
    with read_only(book) as con:
        worklist = collections_worklist(con, date(2026, 11, 25))
    assert worklist[["customer_id", "broken_promises", "parked", "priority"]].values.tolist() == [
        ["C1", 3, False, 3513.89], ["C2", 0, False, 1746.67]]


def test_a_promise_that_cannot_be_kept_is_refused_and_nothing_is_written(book):
    before = user_rows(book)
    for amount, pay_by, invoices, problem in (
            ("-5", date(2026, 12, 1), [], "'-5' is not an amount above zero"),
            ("12.345", date(2026, 12, 1), [], "at most two decimal places"),
            ("lots", date(2026, 12, 1), [], "'lots' is not an amount"),
            ("100", date(2026, 11, 1), [], "the pay-by date 2026-11-01 is before the promise was made (2026-11-25)"),
            ("100", date(2026, 12, 1), ["I3"], "invoice 'I3' is not one of C1's invoices")):
        with pytest.raises(InputError, match=problem.replace("(", r"\(").replace(")", r"\)")):
            activity.add_promise(book, SAM, "C1", amount, pay_by, invoice_ids=invoices)
    with pytest.raises(AccessError, match="viewer@msp.example is a viewer: record a promise to pay needs the collector role"):
        activity.add_promise(book, Actor("viewer@msp.example", VIEWER), "C1", "100", date(2026, 12, 1))
    assert user_rows(book) == before


# --- disputes ------------------------------------------------------------------------------------


def test_a_dispute_moves_its_amount_out_of_to_chase_and_back_when_resolved(book):
    dispute = activity.open_dispute(book, SAM, "C1", "I2", "Says the hours were not agreed", opened_on=date(2026, 11, 20))
    activity.resolve_dispute(book, SAM, dispute, "Sent the timesheets; accepted", resolved_on=date(2026, 11, 24))
    # Acme owes 1100.00 overdue (600.00 of I1 and I2's 500.00), before, during and after the dispute.
    for as_of, disputed in ((date(2026, 11, 19), "0.00"), (date(2026, 11, 22), "500.00"), (date(2026, 11, 25), "0.00")):
        row = worklist_row(book, as_of, "C1")
        assert (row["overdue"], row["disputed"], row["to_chase"]) == (
            Decimal("1100.00"), Decimal(disputed), Decimal("1100.00") - Decimal(disputed)), as_of
    with read_only(book) as con:  # the aging keeps the invoice in its bucket, to reconcile with the books
        aged = aging_by_customer(con, date(2026, 11, 22)).set_index("customer_id").loc["C1"]
        timeline = collection_timeline(con, date(2026, 11, 25), "C1")
    assert (aged["1-30"], aged["disputed"]) == (Decimal("1100.00"), Decimal("500.00"))
    assert timeline[["happened_on", "kind", "status", "text"]].fillna("").values.tolist() == [
        [date(2026, 11, 24), "dispute resolved", "", "Sent the timesheets; accepted"],
        [date(2026, 11, 20), "dispute", "resolved", "Says the hours were not agreed"]]
    with pytest.raises(InputError, match="that dispute was already resolved on 2026-11-24"):
        activity.resolve_dispute(book, SAM, dispute)
    activity.open_dispute(book, SAM, "C1", "I2", "Again")
    with pytest.raises(InputError, match="invoice I2 is already disputed: resolve that dispute first"):
        activity.open_dispute(book, SAM, "C1", "I2", "And again")


# --- notes and the write lock ---------------------------------------------------------------------

_SYNC_HOLDING_THE_LOCK = """
import sys
from pathlib import Path
from core.db import connect_for_write
con = connect_for_write(sys.argv[1])
con.execute("BEGIN TRANSACTION")
con.execute("UPDATE customers SET email = 'new@acme.example' WHERE customer_id = 'C1'")
print("holding", flush=True)
sys.stdin.readline()  # until the test lets go
con.execute("COMMIT")
con.close()
"""


def test_a_note_written_while_a_sync_holds_the_write_lock_waits_and_survives(book):
    sync = subprocess.Popen([sys.executable, "-c", _SYNC_HOLDING_THE_LOCK, str(book)], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert sync.stdout.readline() == "holding\n"
        written: list = []
        note = threading.Thread(target=lambda: written.append(
            activity.record_activity(book, SAM, "C1", "call", "Spoke to AP: paying Friday")))
        note.start()
        time.sleep(1.0)  # the sync holds its transaction a second (a sleep, not join(timeout): see qbo_server._hold)
        assert note.is_alive() and not written  # waiting for the sync's transaction, not failed
        sync.stdin.write("go\n")
        sync.stdin.flush()
        note.join(timeout=60)
        assert sync.wait(timeout=60) == 0
    finally:
        sync.kill()
    assert len(written) == 1
    with read_only(book) as con:
        assert con.execute("SELECT kind, body, author, origin FROM collection_activities").fetchall() == [
            ("call", "Spoke to AP: paying Friday", "sam@msp.example", "user")]
        assert con.execute("SELECT email FROM customers WHERE customer_id = 'C1'").fetchall() == [("new@acme.example",)]


# --- what no run touches ------------------------------------------------------------------------


def write_everything(db, customer_id: str, invoice_id: str) -> None:
    activity.record_activity(db, SAM, customer_id, "note", "Owner on holiday until the 30th")
    activity.add_promise(db, SAM, customer_id, "250.00", date(2026, 12, 4), invoice_ids=[invoice_id], note="by wire")
    activity.open_dispute(db, SAM, customer_id, invoice_id, "Billed twice for October")
    activity.set_next_action(db, SAM, customer_id, date(2026, 12, 1), action="Call back")


def test_the_activity_tables_survive_a_full_resync(book):
    write_everything(book, "C1", "I1")
    before = user_rows(book)
    assert all(before[table] for table in ACTIVITY_TABLES if table not in ("reminder_templates", "reminder_deliveries"))
    write(book)  # the same books read again in full: every book row replaced
    assert user_rows(book) == before


def test_the_activity_tables_survive_a_demo_rebuild_and_the_demo_history_is_replaced(demo_db, tmp_path):
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    with read_only(db) as con:
        customer_id, invoice_id = con.execute(
            "SELECT customer_id, invoice_id FROM invoices JOIN customers USING (source, company_id, customer_id) "
            "WHERE status = 'posted' AND parent_id IS NULL AND customer_id IN (SELECT customer_id FROM next_actions) "
            "ORDER BY due_date DESC, invoice_id LIMIT 1").fetchone()
        demo_counts = {t: con.execute(f"SELECT count(*) FROM {t} WHERE origin = 'demo'").fetchall() for t in ACTIVITY_TABLES
                       if t != "reminder_templates"}
    write_everything(db, customer_id, invoice_id)
    before = user_rows(db)
    build_demo(db)
    assert user_rows(db) == before
    with read_only(db) as con:
        assert {t: con.execute(f"SELECT count(*) FROM {t} WHERE origin = 'demo'").fetchall() for t in demo_counts} == demo_counts
        status = collection_status(con, DEMO_AS_OF).set_index("customer_id").loc[customer_id]
    assert (status["next_action"], status["next_action_owner"]) == ("Call back", "sam@msp.example")  # a person's wins


def test_export_then_import_into_a_rebuilt_book_loses_nothing(book, tmp_path, capsys):
    write_everything(book, "C1", "I1")
    before = user_rows(book)
    export = tmp_path / "collections.json"
    assert main(["activity", "export", str(export), "--db", str(book)]) == 0
    assert capsys.readouterr().out.startswith(f"Exported to {export}: 1 collection_activities, 1 payment_promises, 1 disputes")
    rebuilt = write(tmp_path / "rebuilt.duckdb")
    assert main(["activity", "import", str(export), "--db", str(rebuilt)]) == 0
    assert user_rows(rebuilt) == before
    assert main(["activity", "import", str(export), "--db", str(rebuilt)]) == 0  # again: nothing changes
    assert user_rows(rebuilt) == before

    document = json.loads(export.read_text())
    document["tables"]["payment_promises"][0]["amount"] = "a lot"
    document["tables"]["disputes"][0]["opened_on"] = "yesterday"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    empty = write(tmp_path / "empty.duckdb")
    assert main(["activity", "import", str(broken), "--db", str(empty)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}: payment_promises row 1: amount 'a lot' is not a valid decimal(18,2)" in err
    assert "(and 2 more problems)" in err
    assert all(not rows for rows in user_rows(empty).values())


# --- the dashboard's panel ----------------------------------------------------------------------


@pytest.fixture
def open_as(monkeypatch, tmp_path, demo_db):
    """A copy of the demo with sign-in set up; opens the Clients page as a user of each role."""
    db = tmp_path / "panel.duckdb"
    shutil.copy(demo_db, db)
    secrets = write_secrets(tmp_path, secrets_toml(auth=AUTH, LEDGERLIGHT_ROLES={
        "viewer@msp.example": "viewer", "collector@msp.example": "collector", "admin@msp.example": "admin"}))
    monkeypatch.setenv("STREAMLIT_SECRETS_FILES", str(secrets))
    monkeypatch.setenv("LEDGERLIGHT_SESSION_HOURS", "0")
    monkeypatch.setenv("LEDGERLIGHT_DB", str(db))

    def page(email: str) -> AppTest:
        st.cache_data.clear()
        app = AppTest.from_file(APP, default_timeout=120)
        app.user = {"is_logged_in": True, "email": email}
        return app.switch_page("pages/clients.py").run()
    page.db = db
    return page


def test_the_panel_shows_the_chosen_clients_story_and_a_viewer_gets_no_forms(open_as):
    app = open_as("viewer@msp.example")
    assert not app.exception
    with read_only(open_as.db) as con:
        worklist = collections_worklist(con, DEMO_AS_OF, include_parked=False)
        first = worklist.iloc[0]
        timeline = collection_timeline(con, DEMO_AS_OF, first.customer_id)
    assert client_names(app.dataframe[0].value["customer"]) == worklist["customer"].tolist()  # parked ones hidden
    assert app.selectbox(key="worklist_client").value == first.customer_id
    shown_timeline = app.dataframe[1].value
    assert shown_timeline["text"].tolist() == timeline["text"].tolist() and len(timeline) > 3
    assert not [b for b in app.button if b.label in ("Save", "Save the promise", "Dry run")]
    captions = [shown(c) for c in app.caption]
    assert ":material/lock: Recording notes, promises, disputes and next actions needs the collector role; you are a viewer." in captions
    assert ":material/lock: Sending reminders needs the collector role; you are a viewer." in captions

    app.toggle(key="worklist_parked").set_value(True).run()
    with read_only(open_as.db) as con:
        assert len(app.dataframe[0].value) == len(collections_worklist(con, DEMO_AS_OF)) > len(worklist)


def test_a_collector_writes_through_the_panel_and_a_bad_amount_keeps_what_was_typed(open_as):
    app = open_as("collector@msp.example")
    customer_id = app.selectbox(key="worklist_client").value
    app.radio(key=f"note-{customer_id}-kind").set_value("call")
    app.text_area(key=f"note-{customer_id}-body").input("Spoke to **AP**: paying <Friday>")
    app.button(key=f"FormSubmitter:note-{customer_id}-Save").click().run()
    assert [shown(s) for s in app.success] == ["Saved."]
    assert "Spoke to **AP**: paying <Friday>" in app.dataframe[1].value["text"].tolist()
    assert app.text_area(key=f"note-{customer_id}-body").value == ""

    app.text_input(key=f"promise-{customer_id}-amount").input("about 500")
    app.button(key=f"FormSubmitter:promise-{customer_id}-Save the promise").click().run()
    assert [shown(e) for e in app.error] == ["Nothing was saved: 'about 500' is not an amount: write it like 1250.00"]
    assert app.text_input(key=f"promise-{customer_id}-amount").value == "about 500"

    invoice = app.selectbox(key=f"dispute-{customer_id}-invoice").value
    app.text_input(key=f"dispute-{customer_id}-reason").input("Hours not agreed")
    app.button(key=f"FormSubmitter:dispute-{customer_id}-open-Open the dispute").click().run()
    assert [shown(s) for s in app.success] == ["Dispute opened: its amount is left out of what to chase."]
    with read_only(open_as.db) as con:
        assert con.execute("SELECT customer_id, kind, author FROM collection_activities WHERE origin = 'user'").fetchall() == [
            (customer_id, "call", "collector@msp.example")]
        assert con.execute("SELECT invoice_id, reason, author FROM disputes WHERE origin = 'user'").fetchall() == [
            (invoice, "Hours not agreed", "collector@msp.example")]
        assert con.execute("SELECT count(*) FROM payment_promises WHERE origin = 'user'").fetchone() == (0,)

    app.button(key="reminders-dry-run").click().run()
    assert any("would be sent (dry run: nothing was sent)" in shown(i) for i in app.info)


def test_an_admin_edits_a_template_and_one_with_an_unknown_field_is_refused(open_as):
    key = "template-demo-demo-msp-first"
    collector = open_as("collector@msp.example")
    assert ":material/lock: Editing reminder templates needs the admin role; you are a collector." in [
        shown(c) for c in collector.caption]
    app = open_as("admin@msp.example")
    app.text_input(key=f"{key}-subject").input("{{ client }}: {{ amount_due }} overdue")
    app.button(key=f"FormSubmitter:{key}-Save the template").click().run()
    assert shown(app.error[0]).startswith("Nothing was saved: the subject: unknown merge field amount_due; the fields are client,")
    app.text_input(key=f"{key}-subject").input("{{ client }}: {{ total }} overdue")
    app.button(key=f"FormSubmitter:{key}-Save the template").click().run()
    assert [shown(s) for s in app.success] == ["Template first saved."]
    with read_only(open_as.db) as con:
        assert con.execute("SELECT stage, subject, author FROM reminder_templates").fetchall() == [
            ("first", "{{ client }}: {{ total }} overdue", "admin@msp.example")]
