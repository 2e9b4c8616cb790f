"""Reminders through a real SMTP server on 127.0.0.1 (aiosmtpd, tests/smtp_server.py): what each
client receives (recipients, subject, merge fields, the statement attached), exactly once even
when the sender is killed midway, nothing on a dry run, and a clear refusal that sends nothing
for an unreachable server, a refused login, a bad address or a template with an unknown field."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from core.access import ADMIN, COLLECTOR, Actor
from core.db import read_only
from core.errors import InputError, SendError, SettingsError
from core.settings import Settings
from etl import activity, reminders
from etl.batch import Company
from etl.cli import main
from tests.books import write_book
from tests.conftest import DEMO_AS_OF
from tests.smtp_server import PASSWORD, SENDER, USER, make_certificates, running

# Plain SMTP with AUTH is what the loopback tests speak; aiosmtpd warns about it, rightly elsewhere.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
ROOT = Path(__file__).resolve().parent.parent
COMPANY = Company("test", "r1", "Northwind Managed IT", data_through=DEMO_AS_OF)
ADMIN = Actor("maria", ADMIN)
# Five clients, one message each at 2026-11-25 with the default stages (1, 15 and 30 days):
#   C1 I1 1000.00 due 11-20 ->  5 days past due: first     C4 I4 300.00 due 11-24 -> 1 day: first
#   C2 I2  250.00 due 11-05 -> 20 days: second              C5 I5  80.00 due 11-15 -> 10 days: first
#   C3 I3  120.50 due 10-01 -> 55 days: final                  (I6 of C5 is not yet due: no reminder)
CUSTOMERS = [
    {"customer_id": "C1", "name": "Acme Dental", "email": "ap@acme.example"},
    {"customer_id": "C2", "name": "Birch Legal", "email": "billing@birch.example, office@birch.example"},
    {"customer_id": "C3", "name": "Cedar CPA", "email": "accounts@cedar.example"},
    {"customer_id": "C4", "name": "Dune Clinic", "email": "office@dune.example"},
    {"customer_id": "C5", "name": "Elm Dental", "email": "elm@elm.example"},
]
INVOICES = [
    {"invoice_id": "I1", "doc_number": "INV-1", "customer_id": "C1", "txn_date": date(2026, 10, 21), "due_date": date(2026, 11, 20), "total": "1000.00"},
    {"invoice_id": "I2", "doc_number": "INV-2", "customer_id": "C2", "txn_date": date(2026, 10, 6), "due_date": date(2026, 11, 5), "total": "250.00"},
    {"invoice_id": "I3", "doc_number": "INV-3", "customer_id": "C3", "txn_date": date(2026, 9, 1), "due_date": date(2026, 10, 1), "total": "120.50"},
    {"invoice_id": "I4", "doc_number": "INV-4", "customer_id": "C4", "txn_date": date(2026, 10, 25), "due_date": date(2026, 11, 24), "total": "300.00"},
    {"invoice_id": "I5", "doc_number": "INV-5", "customer_id": "C5", "txn_date": date(2026, 10, 16), "due_date": date(2026, 11, 15), "total": "80.00"},
    {"invoice_id": "I6", "doc_number": "INV-6", "customer_id": "C5", "txn_date": date(2026, 11, 10), "due_date": date(2026, 12, 10), "total": "99.00"},
]
EXPECTED = {  # client -> (recipients, stage's subject)
    "Acme Dental": (["ap@acme.example"], "Reminder: 1 invoice past due ($1,000.00)"),
    "Birch Legal": (["billing@birch.example", "office@birch.example"], "Second reminder: $250.00 past due"),
    "Cedar CPA": (["accounts@cedar.example"], "Final notice: $120.50 more than 30 days past due"),
    "Dune Clinic": (["office@dune.example"], "Reminder: 1 invoice past due ($300.00)"),
    "Elm Dental": (["elm@elm.example"], "Reminder: 1 invoice past due ($80.00)"),
}


@pytest.fixture
def book(tmp_path):
    return write_book(tmp_path / "remind.duckdb", CUSTOMERS, INVOICES, company=COMPANY)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


def use(monkeypatch, settings: dict) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


def plan(db, **options):
    with read_only(db) as con:
        return reminders.plan_reminders(con, **options)


def send(db, **options):
    outcome = reminders.send_reminders(db, ADMIN, plan(db), **options)
    return outcome


def deliveries(db) -> list[tuple]:
    with read_only(db) as con:
        return con.execute("SELECT customer_id, invoice_id, stage, status FROM reminder_deliveries ORDER BY ALL").fetchall()


def by_client(received) -> dict[str, list]:
    found: dict[str, list] = {}
    for item in received:
        found.setdefault(_client_of(item), []).append(item)
    return found


def _client_of(item) -> str:
    body = item.message.get_body(("plain",)).get_content()
    return body.splitlines()[0].removeprefix("Hello ").rstrip(",")


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "attachment.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_each_client_gets_its_reminder_with_the_statement_attached_once(book, monkeypatch, tmp_path):
    with running() as server:
        use(monkeypatch, server.settings())
        outcome = send(book)
        assert outcome.error is None and len(outcome.sent) == 5
        received = by_client(server.received)
        assert sorted(received) == sorted(EXPECTED)
        for client, (recipients, subject) in EXPECTED.items():
            [item] = received[client]
            assert item.rcpt_tos == recipients and item.mail_from == SENDER
            assert item.message["Subject"] == subject and item.message["From"] == SENDER
        birch = received["Birch Legal"][0].message
        body = birch.get_body(("plain",)).get_content()
        assert "INV-2  dated 2026-10-06, due 2026-11-05: $250.00 open (20 days past due)" in body
        assert "Total due: $250.00" in body and body.rstrip().endswith("Northwind Managed IT")
        [attachment] = list(birch.iter_attachments())
        assert attachment.get_filename() == "statement-C2-2026-11-25.pdf"
        statement = pdf_text(attachment.get_content(), tmp_path)
        assert "Birch Legal" in statement and "INV-2" in statement and "$250.00" in statement
        assert "Balance due: $250.00" in statement
        # Sent once: a second run finds nothing new to send.
        again = send(book)
        assert again.plan.messages == [] and len(server.received) == 5
    assert [row[3] for row in deliveries(book)] == ["sent"] * 5
    with read_only(book) as con:
        logged = con.execute("SELECT customer_id, kind, author, body FROM collection_activities ORDER BY customer_id").fetchall()
    assert [(c, k, a) for c, k, a, _ in logged] == [(f"C{n}", "reminder", "maria") for n in range(1, 6)]
    assert logged[1][3] == ("second reminder sent to billing@birch.example, office@birch.example: "
                            "Second reminder: $250.00 past due (INV-2)")


def test_the_dry_run_shows_what_would_go_and_sends_nothing(book, monkeypatch, capsys):
    with running() as server:
        use(monkeypatch, server.settings())
        assert main(["remind", "--db", str(book), "--dry-run", "--format", "json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert server.received == []
    assert deliveries(book) == []
    assert shown["dry_run"] is True and shown["sender"] == SENDER
    assert [(m["customer"], m["to"], m["subject"], m["stage"]) for m in shown["messages"]] == [
        (client, recipients, subject, stage) for (client, (recipients, subject)), stage
        in zip(EXPECTED.items(), ["first", "second", "final", "first", "first"])]
    assert shown["messages"][2]["invoices"] == ["INV-3"] and shown["messages"][2]["amount"] == "$120.50"
    assert "55 days past due" in shown["messages"][2]["body"]


def test_a_run_killed_after_the_third_message_then_run_again_delivers_each_exactly_once(book, tmp_path):
    """The sender is SIGKILLed once the server holds the third message, before its 250: the third
    is uncertain (not sent again), the others go once each."""
    with running() as server:
        env = {**os.environ, **server.settings(), "LEDGERLIGHT_TODAY": DEMO_AS_OF.isoformat()}
        command = [sys.executable, "-m", "etl", "remind", "--db", str(book), "--format", "json"]
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def kill_at_third(count: int, _server) -> None:
            if count == 3:
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=30)
        server.recorder.before_answer = kill_at_third
        first.wait(timeout=120)
        assert first.returncode == -signal.SIGKILL
        server.recorder.before_answer = None
        assert len(server.received) == 3
        rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        shown = json.loads(rerun.stdout)
        counts = {client: len(items) for client, items in by_client(server.received).items()}
    assert counts == {client: 1 for client in EXPECTED}
    assert [m["customer"] for m in shown["messages"]] == ["Dune Clinic", "Elm Dental"]
    assert [(u["customer"], u["stage"], u["invoices"]) for u in shown["uncertain"]] == [("Cedar CPA", "final", ["INV-3"])]
    assert ("C3", "I3", "final", "sending") in deliveries(book)


def test_an_uncertain_message_is_settled_by_a_person(book, monkeypatch):
    with running() as server:
        use(monkeypatch, server.settings())
        server.recorder.before_answer = lambda count, smtp: smtp.transport.close() if count == 1 else None
        outcome = send(book)
        assert "may have gone" in outcome.error and outcome.plan.messages[0].status == "uncertain"
        assert [m.status for m in outcome.plan.messages] == ["uncertain", "planned", "planned", "planned", "planned"]
        [uncertain] = plan(book).uncertain
        assert uncertain["customer"] == "Acme Dental"
        server.recorder.before_answer = None
        assert main(["remind", "--db", str(book), "--mark-unsent", uncertain["message_id"]]) == 0
        assert [m.customer for m in plan(book).messages][0] == "Acme Dental"  # it will go again


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_starttls_and_tls_with_the_servers_own_certificate_authority(book, monkeypatch, certificates, security):
    with running(tls=security, certificates=certificates) as server:
        use(monkeypatch, server.settings(security))
        assert len(send(book).sent) == 5 and len(server.received) == 5


def test_a_certificate_that_cannot_be_verified_is_refused_before_anything_is_sent(book, monkeypatch, certificates):
    with running(tls="starttls", certificates=certificates) as server:
        use(monkeypatch, server.settings("starttls"))
        monkeypatch.delenv("LEDGERLIGHT_SMTP_CA_FILE")
        with pytest.raises(SendError, match="could not be verified .*LEDGERLIGHT_SMTP_CA_FILE.*nothing was sent"):
            send(book)
        assert server.received == []
    assert deliveries(book) == []


def test_an_unreachable_server_is_named_and_nothing_is_sent(book, monkeypatch, capsys):
    with running() as server:
        settings = server.settings()
    use(monkeypatch, settings)  # the server has stopped: nothing listens on its port
    assert main(["remind", "--db", str(book)]) == 2
    error = capsys.readouterr().err
    assert f"nothing answers on 127.0.0.1:{settings['LEDGERLIGHT_SMTP_PORT']} (connection refused)" in error
    assert "nothing was sent" in error and deliveries(book) == []


def test_a_refused_login_is_named_without_the_password(book, monkeypatch, capsys):
    with running() as server:
        use(monkeypatch, server.settings(LEDGERLIGHT_SMTP_PASSWORD="wrong-" + PASSWORD))
        assert main(["remind", "--db", str(book)]) == 2
        assert server.received == []
    captured = capsys.readouterr()
    assert f"refused the login of '{USER}' (535" in captured.err and "LEDGERLIGHT_SMTP_PASSWORD" in captured.err
    assert PASSWORD not in captured.err + captured.out and deliveries(book) == []


def test_an_address_that_is_not_an_address_refuses_the_whole_run(tmp_path, monkeypatch):
    customers = [*CUSTOMERS[:2], {**CUSTOMERS[2], "email": "accounts at cedar"}, *CUSTOMERS[3:]]
    db = write_book(tmp_path / "bad.duckdb", customers, INVOICES, company=COMPANY)
    with running() as server:
        use(monkeypatch, server.settings())
        with pytest.raises(InputError) as refused:
            send(db)
        assert server.received == []
    assert refused.value.problems[0].startswith("Cedar CPA (C3): Cedar CPA (C3)'s email address in the books "
                                                "'accounts at cedar' is not an email address")
    assert refused.value.problems[-1] == "nothing was sent: fix these and run it again"
    assert deliveries(db) == []


def test_a_template_with_an_unknown_field_is_refused_when_saved_and_when_sent(book, monkeypatch):
    with pytest.raises(InputError, match=r"the message: unknown merge field balance; the fields are client, customer_id"):
        activity.save_template(book, ADMIN, "test", "r1", "first", "overdue", 1, "Reminder",
                               "Hello {{ client }}, you owe {{ balance }}", check=reminders.check_template)
    # A template stored without the check (an older import) is refused when a run plans with it.
    activity.save_template(book, ADMIN, "test", "r1", "first", "overdue", 1, "Reminder {{ client }}",
                           "Hello {{ client }}: {% for i in invoices %}{{ i.amount_due }}{% endfor %}")
    with running() as server:
        use(monkeypatch, server.settings())
        with pytest.raises(InputError, match=r"stage 'first', the message: 'dict object' has no attribute 'amount_due' "
                                             r"\(each invoice has number, date, due_date"):
            send(book)
        assert server.received == []
    assert deliveries(book) == []


def test_an_edited_template_and_a_payment_link_from_the_settings(book, monkeypatch):
    activity.save_template(book, ADMIN, "test", "r1", "first", "overdue", 1, "{{ company }}: {{ total }} for {{ client }}",
                           "Pay {{ total }} at {{ payment_link }} ({{ days_past_due }} days)", check=reminders.check_template)
    monkeypatch.setenv("LEDGERLIGHT_PAYMENT_LINK", "https://pay.example/northwind?client={customer_id}")
    with running() as server:
        use(monkeypatch, server.settings())
        send(book)
        acme = by_client_subject(server.received)["Northwind Managed IT: $1,000.00 for Acme Dental"]
    assert acme.get_body(("plain",)).get_content().strip() == "Pay $1,000.00 at https://pay.example/northwind?client=C1 (5 days)"


def by_client_subject(received) -> dict:
    return {item.message["Subject"]: item.message for item in received}


def test_eml_files_instead_of_sending_and_never_twice(book, tmp_path, monkeypatch):
    folder = tmp_path / "outbox"
    folder.mkdir()
    monkeypatch.setenv("LEDGERLIGHT_SMTP_FROM", SENDER)
    assert main(["remind", "--db", str(book), "--eml", str(folder)]) == 0
    files = sorted(path.name for path in folder.iterdir())
    assert files == ["C1-2026-11-25-first.eml", "C2-2026-11-25-second.eml", "C3-2026-11-25-final.eml",
                     "C4-2026-11-25-first.eml", "C5-2026-11-25-first.eml"]
    import email
    import email.policy
    cedar = email.message_from_bytes((folder / "C3-2026-11-25-final.eml").read_bytes(), policy=email.policy.default)
    assert cedar["To"] == "accounts@cedar.example" and cedar["Subject"].startswith("Final notice: $120.50")
    assert main(["remind", "--db", str(book), "--eml", str(folder)]) == 0
    assert len(list(folder.iterdir())) == 5
    assert {row[3] for row in deliveries(book)} == {"sent"}


def test_disputed_invoices_and_parked_clients_get_no_reminder(book):
    actor = Actor("sam", COLLECTOR)
    activity.open_dispute(book, actor, "C2", "I2", "says the October invoice double-billed two seats")
    activity.add_promise(book, actor, "C3", "120.50", date(2026, 11, 30), invoice_ids=["I3"])
    assert [m.customer for m in plan(book, via="dry-run").messages] == ["Acme Dental", "Dune Clinic", "Elm Dental"]


def test_the_autopay_invitation_goes_to_the_conversion_list_once(demo_db, tmp_path, monkeypatch):
    import shutil
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    monkeypatch.setenv("LEDGERLIGHT_SMTP_FROM", SENDER)
    monkeypatch.setenv("LEDGERLIGHT_AUTOPAY_LINK", "https://pay.example/enroll/{customer_id}")
    with read_only(db) as con:
        from metrics import autopay_conversion_candidates
        candidates = autopay_conversion_candidates(con, DEMO_AS_OF)
        invited_before = set(con.execute("SELECT customer_id FROM reminder_deliveries WHERE stage = 'autopay_invite'").fetchall())
    invites = plan(db, stages=["autopay_invite"], via="dry-run").messages
    expected = [c for c in candidates["customer_id"] if (c,) not in invited_before]
    assert sorted(m.delivery.customer_id for m in invites) == sorted(expected) and invites
    first = invites[0]
    assert first.delivery.invoice_ids == ("",) and first.delivery.subject == "Pay Northwind Managed IT (demo) automatically"
    assert f"https://pay.example/enroll/{first.delivery.customer_id}" in first.body


def test_smtp_settings_are_checked_and_never_shown():
    def reader(**values):
        return Settings({"LEDGERLIGHT_SMTP_FROM": SENDER, **values}, secrets_file=None)
    from etl.mail import smtp_settings
    with pytest.raises(SettingsError, match="set LEDGERLIGHT_SMTP_HOST"):
        smtp_settings(reader())
    with pytest.raises(SettingsError, match="LEDGERLIGHT_SMTP_SECURITY must be one of starttls, tls, none"):
        smtp_settings(reader(LEDGERLIGHT_SMTP_HOST="mail.example", LEDGERLIGHT_SMTP_SECURITY="ssl"))
    with pytest.raises(SettingsError, match="set LEDGERLIGHT_SMTP_PASSWORD too"):
        smtp_settings(reader(LEDGERLIGHT_SMTP_HOST="mail.example", LEDGERLIGHT_SMTP_USER=USER))
    with pytest.raises(SettingsError, match="would send the password unencrypted to mail.example"):
        smtp_settings(reader(LEDGERLIGHT_SMTP_HOST="mail.example", LEDGERLIGHT_SMTP_SECURITY="none",
                             LEDGERLIGHT_SMTP_USER=USER, LEDGERLIGHT_SMTP_PASSWORD=PASSWORD))
    chosen = smtp_settings(reader(LEDGERLIGHT_SMTP_HOST="mail.example", LEDGERLIGHT_SMTP_USER=USER,
                                  LEDGERLIGHT_SMTP_PASSWORD=PASSWORD))
    assert (chosen.port, chosen.security) == (587, "starttls") and PASSWORD not in repr(chosen)
    assert smtp_settings(reader(LEDGERLIGHT_SMTP_HOST="mail.example", LEDGERLIGHT_SMTP_SECURITY="tls")).port == 465
