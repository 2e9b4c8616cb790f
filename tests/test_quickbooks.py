"""The QuickBooks connector end to end: the real intuitlib and python-quickbooks clients against
the QuickBooks-compatible server in tests/qbo_server.py, writing a real DuckDB file. The ledger
and its figures are in tests/quickbooks_ledger.py."""

import subprocess
import sys
import time
from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse
from decimal import Decimal
from pathlib import Path

import pytest

from core.db import read_only
from core.errors import SettingsError, SyncError
from core.settings import Settings
from core.tokens import TokenStore
from etl.sources.quickbooks.api import CONNECTION_TRIES, read_settings
from metrics import aging_buckets, reconciliation_with_source
from tests.conftest import build_demo, shown
from tests.quickbooks_ledger import REPORT_DATE, SERVER_NOW, cli_environment, run_sync, tick

D = Decimal
ROOT = Path(__file__).resolve().parent.parent


def rows(db, sql, params=None):
    with read_only(db) as con:
        return con.execute(sql, params or []).fetchall()


def test_full_sync_maps_every_kind_of_record(big_server, store, tmp_path):
    server = big_server
    db = tmp_path / "qbo.duckdb"
    result = run_sync(server, store, db)
    assert result.kind == "full"
    assert result.counts["invoices"] == 2520 + 4  # Acme, the voided one, Annex, Cedar, Dormant; the deleted one is gone
    # Term, PaymentMethod, Account, Preferences, CompanyInfo, Customer, Invoice x3 pages, Payment x3,
    # CreditMemo, JournalEntry, Deposit, Purchase, RecurringTransaction
    assert server.requests["query"] == 3 + 2 + 1 + 3 + 3 + 4 + 1
    ids = server.ids
    assert rows(db, "SELECT name, parent_id, active, currency FROM customers WHERE customer_id IN (?, ?, ?) ORDER BY name",
                [ids["annex"], ids["dormant"], ids["cedar"]]) == [
        ("Birch Annex", ids["birch"], True, "USD"), ("Cedar CPA", None, True, "CAD"), ("Dormant Co", None, False, "USD")]
    assert rows(db, "SELECT status FROM invoices WHERE invoice_id = ?", [ids["voided"]]) == [("voided",)]
    assert rows(db, "SELECT count(*) FROM invoices WHERE invoice_id = ?", [ids["deleted"]]) == [(0,)]
    assert rows(db, "SELECT currency, exchange_rate, home_total FROM invoices WHERE invoice_id = ?", [ids["cad_invoice"]]) == [
        ("CAD", D("0.73000000"), D("730.00"))]
    assert rows(db, "SELECT count(*), sum(a.amount), any_value(p.method) FROM applications a JOIN payments p USING (source, company_id, payment_id) "
                    "WHERE payment_id = ?", [ids["multi"]]) == [(3, D("30.00"), "card")]
    assert rows(db, "SELECT invoice_id, credit_memo_id, amount FROM applications WHERE payment_id = ?", [ids["memo_payment"]]) == [
        (ids["annex_invoice"], ids["memo"], D("50.00"))]
    assert rows(db, "SELECT unapplied_amount FROM payments WHERE payment_id = ?", [ids["overpaid"]]) == [(D("15.00"),)]
    assert rows(db, "SELECT interval_unit, amount, next_date FROM recurring_schedules") == [("month", D("10.00"), date(2026, 12, 1))]
    assert rows(db, "SELECT terms FROM customers WHERE customer_id = ?", [ids["acme"]]) == [("Net 30",)]


def test_aging_after_sync_reconciles_with_quickbooks(big_server, store, tmp_path):
    server = big_server
    db = tmp_path / "qbo.duckdb"
    run_sync(server, store, db)
    with read_only(db) as con:
        buckets = dict(zip(aging_buckets(con, REPORT_DATE)["bucket"].astype(str), aging_buckets(con, REPORT_DATE)["amount"]))
        compared = reconciliation_with_source(con, REPORT_DATE)
    # Acme's last 20 invoices were due 2025-10-17..21 (over 400 days) and Dormant's 80.00 is 177 days
    # past due: 91+ = 20 x 10.00 + 80.00. Annex 150.00 is 41 days past due, Cedar's 730.00 15 days.
    assert buckets == {"current": D("0.00"), "1-30": D("730.00"), "31-60": D("150.00"), "61-90": D("0.00"), "91+": D("280.00")}
    totals = compared[compared["customer_id"] == ""].set_index("bucket")
    assert totals.loc["total", "source"] == sum(buckets.values()) - D("15.00")  # QuickBooks nets Acme's 15.00 credit
    assert (compared["difference"] == 0).all(), compared[compared["difference"] != 0]
    annex = compared[(compared["customer_id"] == server.ids["annex"]) & (compared["bucket"] == "31-60")]
    assert annex["ledgerlight"].item() == annex["source"].item() == D("150.00")


def test_incremental_sync_picks_up_an_edit_a_payment_and_a_deletion(server, store, tmp_path):
    db = tmp_path / "qbo.duckdb"
    run_sync(server, store, db)
    ids = server.ids
    tick(server)
    server.requests.clear()
    nothing = run_sync(server, store, db)
    assert nothing.kind == "incremental"
    assert (server.requests["cdc"], server.requests["query"]) == (1, 0)  # one data request when nothing changed

    tick(server)
    server.edit_invoice(ids["dormant_invoice"], total="95.00")
    new_payment = server.add_payment(ids["cedar"], date(2026, 11, 24), "400.00", {ids["cad_invoice"]: "400.00"},
                                     currency="CAD", exchange_rate="0.74")
    server.delete_payment(ids["multi"])
    tick(server)
    changed = run_sync(server, store, db)
    assert changed.kind == "incremental"
    assert rows(db, "SELECT total FROM invoices WHERE invoice_id = ?", [ids["dormant_invoice"]]) == [(D("95.00"),)]
    assert rows(db, "SELECT invoice_id, amount FROM applications WHERE payment_id = ?", [new_payment]) == [(ids["cad_invoice"], D("400.00"))]
    assert rows(db, "SELECT status FROM payments WHERE payment_id = ?", [ids["multi"]]) == [("deleted",)]
    assert rows(db, "SELECT count(*) FROM applications WHERE payment_id = ?", [ids["multi"]]) == [(0,)]
    with read_only(db) as con:
        compared = reconciliation_with_source(con, REPORT_DATE)
    assert (compared["difference"] == 0).all()  # A0-A2 are open again, the CAD invoice is 600.00 CAD = 438.00 USD


def test_cdc_window_passed_falls_back_to_a_full_sync(server, store, tmp_path):
    db = tmp_path / "qbo.duckdb"
    run_sync(server, store, db)
    import duckdb
    con = duckdb.connect(str(db))
    con.execute("UPDATE sync_runs SET cursor = ?", [(SERVER_NOW - timedelta(days=40)).isoformat()])
    con.close()
    assert run_sync(server, store, db).kind == "full"


@pytest.mark.parametrize("fault, options", [("429", {"retry_after": 1}), ("503", {}), ("429-xml", {})])
def test_throttling_and_server_errors_are_retried(server, store, tmp_path, fault, options):
    server.fail_next("query", fault, times=2, **options)
    started = time.monotonic()
    result = run_sync(server, store, tmp_path / "qbo.duckdb")
    assert result.counts["invoices"] == 24 + 4
    if options.get("retry_after"):
        assert time.monotonic() - started >= 2  # waited Retry-After twice


def test_an_access_token_expiring_mid_run_is_refreshed_once(server, store, tmp_path):
    db = tmp_path / "qbo.duckdb"
    run_sync(server, store, db)
    before = server.refreshes
    server.fail_next("cdc", "401")
    assert run_sync(server, store, db).kind == "incremental"
    assert server.refreshes == before + 2  # one when connecting, one after the 401
    assert server.requests["cdc"] == 2
    assert store.get("quickbooks", server.realm_id) == server.current_refresh_token


@pytest.mark.parametrize("fault, message", [
    ("truncated", "QuickBooks' answer to the cdc request was not valid JSON"),
    ("reset", "network error during the cdc request: ChunkedEncodingError"),
    ("200-fault", "QuickBooks answered the cdc request with an error: An application error"),
])
def test_a_broken_response_ends_the_run_and_writes_nothing(server, store, tmp_path, fault, message):
    db = tmp_path / "qbo.duckdb"
    run_sync(server, store, db)
    before = rows(db, "SELECT count(*), sum(total) FROM invoices")
    tick(server)
    server.edit_invoice(server.ids["dormant_invoice"], total="95.00")
    tick(server)
    server.fail_next("cdc", fault, times=CONNECTION_TRIES if fault == "reset" else 1)  # a reset is retried first
    with pytest.raises(SyncError, match=message):
        run_sync(server, store, db)
    assert rows(db, "SELECT count(*), sum(total) FROM invoices") == before
    assert rows(db, "SELECT status, error LIKE ? FROM sync_runs ORDER BY run_id DESC LIMIT 1", [f"%{message[:20]}%"]) == [("failed", True)]
    # the next run completes what the failed one could not
    assert run_sync(server, store, db).kind == "incremental"
    assert rows(db, "SELECT total FROM invoices WHERE invoice_id = ?", [server.ids["dormant_invoice"]]) == [(D("95.00"),)]


def test_a_rotated_refresh_token_survives_a_crash(server, store, tmp_path):
    server.fail_next("query", "truncated")  # the run dies after connecting
    with pytest.raises(SyncError):
        run_sync(server, store, tmp_path / "qbo.duckdb")
    assert store.get("quickbooks", server.realm_id) == server.current_refresh_token == "rt-1"
    token_file = next((tmp_path / "tokens").glob("*.json"))
    assert token_file.stat().st_mode & 0o777 == 0o600
    run_sync(server, store, tmp_path / "qbo.duckdb")  # rt-0 is dead by now; the stored rt-1 works


def test_a_dropped_connection_is_tried_again_and_counted(server, store, tmp_path):
    db = tmp_path / "qbo.duckdb"
    run_sync(server, store, db)
    tick(server)
    server.fail_next("cdc", "reset")
    result = run_sync(server, store, db)
    assert result.kind == "incremental" and result.requests["cdc"] == 2


def test_settings_errors_name_the_setting(server, store, tmp_path):
    with pytest.raises(SettingsError, match=r"set QBO_CLIENT_ID \(environment variables"):
        read_settings(Settings({"QBO_CLIENT_SECRET": "s", "QBO_REDIRECT_URI": "http://x"}, secrets_file=None))
    with pytest.raises(SettingsError, match="QBO_ENVIRONMENT='Sandbx' is not 'production', 'sandbox' or the URL"):
        read_settings(Settings({"QBO_CLIENT_ID": "i", "QBO_CLIENT_SECRET": "s", "QBO_REDIRECT_URI": "http://x",
                                "QBO_ENVIRONMENT": "Sandbx"}, secrets_file=None))
    sandbox = read_settings(Settings({"QBO_CLIENT_ID": "i", "QBO_CLIENT_SECRET": "s", "QBO_REDIRECT_URI": "http://x",
                                      "QBO_ENVIRONMENT": "Sandbox", "LEDGERLIGHT_TOKENS": str(tmp_path / "none")},
                                     secrets_file=None))
    assert (sandbox.environment, sandbox.realm_id) == ("sandbox", None)  # one spelling for both libraries
    with pytest.raises(SettingsError, match="check QBO_REALM_ID"):
        run_sync(server, store, tmp_path / "q.duckdb", realm_id="123")
    with pytest.raises(SyncError, match="refused the refresh token"):
        run_sync(server, TokenStore(tmp_path / "t2"), tmp_path / "q.duckdb", refresh_token="stale")


def test_cli_sync_and_its_errors(server, tmp_path):
    db = tmp_path / "qbo.duckdb"
    env = cli_environment(server, db)
    done = subprocess.run([sys.executable, "-m", "etl", "sync", "quickbooks"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"Full sync of QuickBooks company {server.realm_id} done: " in done.stdout
    assert "rt-" not in done.stdout + done.stderr and server.client_secret not in done.stdout + done.stderr
    missing = subprocess.run([sys.executable, "-m", "etl", "sync", "quickbooks"], cwd=ROOT, capture_output=True, text=True,
                             env={k: v for k, v in env.items() if k != "QBO_CLIENT_ID"}, timeout=120)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: QuickBooks is not configured: set QBO_CLIENT_ID")


def test_the_dashboard_can_read_while_a_sync_runs(server, tmp_path):
    db = tmp_path / "qbo.duckdb"
    env = cli_environment(server, db)
    subprocess.run([sys.executable, "-m", "etl", "sync", "quickbooks"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    tick(server)
    server.fail_next("cdc", "stall", seconds=3)
    sync = subprocess.Popen([sys.executable, "-m", "etl", "sync", "quickbooks"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the sync is waiting on QuickBooks now
    reads = []
    while sync.poll() is None:
        started = time.monotonic()
        with read_only(db) as con:
            con.execute("SELECT count(*) FROM invoices").fetchall()
        reads.append(time.monotonic() - started)
        time.sleep(0.2)
    assert sync.returncode == 0, sync.stderr.read()
    assert len(reads) >= 5 and max(reads) < 1.0  # readers were never locked out for long


def test_data_and_sync_page_syncs_and_reconciles(server, tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "qbo.duckdb"
    for name, value in cli_environment(server, db).items():
        if name.startswith(("QBO_", "LEDGERLIGHT_")):
            monkeypatch.setenv(name, value)
    run_sync(server, TokenStore(tmp_path / "tokens"), db)  # the app needs a company to show
    st.cache_data.clear()
    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).switch_page("pages/data_sync.py").run()
    assert not page.exception
    assert f"Company {server.realm_id} is connected." in shown(page.success[0])
    tick(server)
    server.edit_invoice(server.ids["dormant_invoice"], total="95.00")
    tick(server)
    page.button(key="quickbooks_sync").click().run()
    assert any(f"Incremental sync of QuickBooks company {server.realm_id} done" in shown(message) for message in page.success)
    assert rows(db, "SELECT total FROM invoices WHERE invoice_id = ?", [server.ids["dormant_invoice"]]) == [(D("95.00"),)]
    reconciled = [m.value for m in page.success if "Reconciles with QuickBooks" in m.value]
    assert reconciled, [m.value for m in [*page.success, *page.error]]
    runs = page.dataframe[-1].value  # the last runs
    assert list(runs["status"][:2]) == ["succeeded", "succeeded"]


def test_data_and_sync_page_names_missing_settings(demo_db, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    for name in ("QBO_CLIENT_ID", "QBO_CLIENT_SECRET", "QBO_REDIRECT_URI", "QBO_REALM_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEDGERLIGHT_DB", str(demo_db))
    st.cache_data.clear()
    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).switch_page("pages/data_sync.py").run()
    assert not page.exception
    assert shown(page.warning[0]).startswith(
        "QuickBooks is not configured: set QBO_CLIENT_ID, QBO_CLIENT_SECRET, QBO_REDIRECT_URI (")
    assert page.subheader[-1].value == "Last runs"  # the rest of the page is still there


def test_the_first_sync_into_the_demo_file_replaces_the_demo(server, store, tmp_path):
    db = tmp_path / "demo.duckdb"
    build_demo(db, REPORT_DATE, clients=5, months=3)
    run_sync(server, store, db)
    assert rows(db, "SELECT source FROM companies") == [("quickbooks",)]
    assert rows(db, "SELECT count(*) FROM invoices WHERE source = 'demo'") == [(0,)]


def sign_in(env, answer) -> subprocess.CompletedProcess:
    """`python -m etl connect quickbooks` as a person runs it: it prints the sign-in link, and is
    answered with the address QuickBooks redirected to, built by `answer(state)`."""
    process = subprocess.Popen([sys.executable, "-m", "etl", "connect", "quickbooks"], cwd=ROOT, env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    link = next(line for line in process.stdout if line.startswith("http"))
    state = parse_qs(urlparse(link.strip()).query)["state"][0]
    out, err = process.communicate(answer(state) + "\n", timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, link + out, err)


def test_cli_connect_with_the_authorization_code_flow(server, tmp_path):
    db = tmp_path / "qbo.duckdb"
    env = {k: v for k, v in cli_environment(server, db).items() if k not in ("QBO_REFRESH_TOKEN", "QBO_REALM_ID")}

    def etl(*args):
        return subprocess.run([sys.executable, "-m", "etl", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    def redirect(code, state, realm=server.realm_id):
        return f"{server.redirect_uri}?code={code}&state={state}&realmId={realm}"

    not_yet = etl("sync", "quickbooks")
    assert not_yet.returncode == 2 and "no QuickBooks company is connected yet" in not_yet.stderr
    forged = etl("connect", "quickbooks", "--redirect-url", redirect("good-code", "forged"))
    assert forged.returncode == 2 and "does not answer the sign-in link ledgerlight gave last" in forged.stderr
    refused = sign_in(env, lambda state: redirect("stolen", state))
    assert refused.returncode == 2 and "refused the authorization code" in refused.stderr
    connected = sign_in(env, lambda state: redirect("good-code", state))
    assert connected.returncode == 0, connected.stderr
    assert f"Connected QuickBooks Online company {server.realm_id}" in connected.stdout
    assert etl("sync", "quickbooks").returncode == 0  # the company comes from the sign-in, not QBO_REALM_ID
    again = etl("connect", "quickbooks")  # a stored token: checked, not asked again
    assert f"QuickBooks company {server.realm_id} is connected" in again.stdout


def test_the_token_age_is_shown_and_warned_about_before_it_lapses(server, store, tmp_path, monkeypatch):
    import json

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "qbo.duckdb"
    env = cli_environment(server, db)
    assert subprocess.run([sys.executable, "-m", "etl", "sync", "quickbooks"], cwd=ROOT, env=env, capture_output=True,
                          timeout=120).returncode == 0
    info = json.loads(subprocess.run([sys.executable, "-m", "etl", "info", "--format", "json"], cwd=ROOT, env=env,
                                     capture_output=True, text=True, timeout=120).stdout)
    (token,) = info["connections"]  # the server grants 8,726,400 s: 101 days from 2026-11-25
    assert (token["company_id"], token["token_expires_at"][:10], token["token_days_left"]) == (
        server.realm_id, "2027-03-06", 101)
    for name, value in env.items():
        if name.startswith(("QBO_", "LEDGERLIGHT_")):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("LEDGERLIGHT_TODAY", "2027-02-27")  # 7 days left
    st.cache_data.clear()
    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).switch_page("pages/data_sync.py").run()
    assert page.warning[0].value == ("The refresh token was saved 25 Nov 2026; unless a sync uses it, it lapses on "
                                     "06 Mar 2027 (7 days from now).")


def test_signing_in_to_another_company_than_configured_is_refused(server, tmp_path):
    env = {k: v for k, v in cli_environment(server, tmp_path / "qbo.duckdb").items() if k != "QBO_REFRESH_TOKEN"}
    other = sign_in(env, lambda state: f"{server.redirect_uri}?code=good-code&state={state}&realmId=4620816365")
    assert other.returncode == 2
    assert other.stderr.strip() == (f"error: you signed in to QuickBooks company 4620816365, but QBO_REALM_ID is "
                                    f"{server.realm_id}: set QBO_REALM_ID=4620816365, or sign in to company {server.realm_id}")
    assert not list((tmp_path / "tokens").glob("quickbooks-*.json"))  # no token kept for either
