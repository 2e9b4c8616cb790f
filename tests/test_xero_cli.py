"""Xero as a person meets it: `python -m etl connect xero` and `sync xero` in a real process, and the
Data & sync page (Streamlit AppTest), against tests/xero_server.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from core.db import read_only
from core.tokens import TokenStore
from tests.conftest import shown
from tests.xero_ledger import run_sync

ROOT = Path(__file__).resolve().parent.parent


def environment(server, db, **extra) -> dict:
    values = {**os.environ, "XERO_CLIENT_ID": server.client_id, "XERO_CLIENT_SECRET": server.client_secret,
              "XERO_REDIRECT_URI": server.redirect_uri, "XERO_API_URL": server.api_url,
              "XERO_IDENTITY_URL": server.identity_url, "XERO_LOGIN_URL": server.login_url,
              "LEDGERLIGHT_DB": str(db), "LEDGERLIGHT_TOKENS": str(db.parent / "tokens"), **extra}
    return {k: v for k, v in values.items() if v is not None and not k.startswith("QBO_")}


def etl(env, *args, answer: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "etl", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          input=answer, timeout=120)


def sign_in(env, answer) -> subprocess.CompletedProcess:
    """`python -m etl connect xero` as a person runs it: it prints the sign-in link and is answered
    with the address Xero redirected to, built by `answer(state)`."""
    process = subprocess.Popen([sys.executable, "-m", "etl", "connect", "xero"], cwd=ROOT, env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    link = next(line for line in process.stdout if line.startswith("http"))
    query = parse_qs(urlparse(link.strip()).query)
    assert query["scope"] == ["offline_access accounting.transactions.read accounting.contacts.read "
                              "accounting.settings.read accounting.reports.read"]
    out, err = process.communicate(answer(query["state"][0]) + "\n", timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, link + out, err)


def test_connect_two_organisations_then_sync_the_one_chosen(xero_server, tmp_path):
    db, server = tmp_path / "xero.duckdb", xero_server
    env = environment(server, db)

    def redirect(code, state):
        return f"{server.redirect_uri}?code={code}&state={state}&scope=offline_access"

    not_yet = etl(env, "sync", "xero")
    assert not_yet.returncode == 2 and "no Xero organisation is connected yet" in not_yet.stderr
    forged = etl(env, "connect", "xero", "--redirect-url", redirect("good-code", "forged"))
    assert forged.returncode == 2 and "does not answer the sign-in link ledgerlight gave last" in forged.stderr
    refused = sign_in(env, lambda state: redirect("stolen", state))
    assert refused.returncode == 2 and "Xero refused the authorization code (invalid_grant)" in refused.stderr
    connected = sign_in(env, lambda state: redirect("good-code", state))
    assert connected.returncode == 0, connected.stderr
    assert f"Connected Xero company {server.tenant_id}, {server.wombat.tenant_id}" in " ".join(connected.stdout.split())
    ambiguous = etl(env, "sync", "xero")
    assert ambiguous.returncode == 2 and "are connected: choose one with XERO_TENANT_ID" in ambiguous.stderr
    chosen = {**env, "XERO_TENANT_ID": server.wombat.tenant_id}
    done = etl(chosen, "sync", "xero")
    assert done.returncode == 0, done.stderr
    assert f"Full sync of Xero organisation Wombat IT Pty Ltd ({server.wombat.tenant_id}) done: " in done.stdout
    output = connected.stdout + connected.stderr + done.stdout + done.stderr
    assert "xrt-" not in output and server.client_secret not in output
    again = etl(chosen, "connect", "xero")  # a stored token: checked, not asked again
    assert f"Xero organisation {server.wombat.tenant_id} (Wombat IT Pty Ltd) is connected" in " ".join(again.stdout.split())
    info = json.loads(etl(chosen, "info", "--format", "json").stdout)
    assert sorted((c["source"], c["company_id"], c["token_days_left"]) for c in info["connections"]) == sorted(
        [("xero", server.tenant_id, 60), ("xero", server.wombat.tenant_id, 60)])
    with read_only(db) as con:
        assert con.execute("SELECT name, home_currency FROM companies").fetchall() == [("Wombat IT Pty Ltd", "AUD")]


def test_signing_in_to_organisations_without_the_configured_one_is_refused(xero_server, tmp_path):
    env = environment(xero_server, tmp_path / "xero.duckdb", XERO_TENANT_ID="00000000-0000-0000-0000-000000000009")
    other = sign_in(env, lambda state: f"{xero_server.redirect_uri}?code=good-code&state={state}")
    assert other.returncode == 2
    assert "but XERO_TENANT_ID is 00000000-0000-0000-0000-000000000009: set XERO_TENANT_ID to one of them" in other.stderr
    assert not list((tmp_path / "tokens").glob("xero-*.json"))  # no token kept for any


def test_the_data_and_sync_page_syncs_xero_and_reconciles(xero_server, tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "xero.duckdb"
    for name, value in environment(xero_server, db, XERO_TENANT_ID=xero_server.tenant_id).items():
        if name.startswith(("XERO_", "LEDGERLIGHT_")):
            monkeypatch.setenv(name, value)
    for name in ("QBO_CLIENT_ID", "QBO_CLIENT_SECRET", "QBO_REDIRECT_URI"):
        monkeypatch.delenv(name, raising=False)
    store = TokenStore(tmp_path / "tokens")
    run_sync(xero_server, store, db)  # the app needs a company to show
    st.cache_data.clear()
    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).switch_page("pages/data_sync.py").run()
    assert not page.exception
    assert f"Company {xero_server.tenant_id} is connected." in [shown(m) for m in page.success]
    xero_server.tick()
    xero_server.books.add_payment(xero_server.ids["E1"], xero_server.now.date(), "35.00")
    xero_server.tick()
    page.button(key="xero_sync").click().run()
    assert any(f"Incremental sync of Xero organisation Koala Managed IT ({xero_server.tenant_id}) done" in shown(m)
               for m in page.success)
    reconciled = [m.value for m in page.success if "Reconciles with Xero" in m.value]
    assert reconciled, [m.value for m in [*page.success, *page.error]]
