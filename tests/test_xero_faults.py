"""Everything that goes wrong talking to Xero, against tests/xero_server.py: rate limits as Xero
documents them, server errors, timeouts, dropped and cut-off answers, rotating refresh tokens
whose answer is lost, a refused token, a malformed record, the waiting budget. A failed run
writes nothing and says why in one sentence."""

from __future__ import annotations

import time

import pytest

from core.db import read_only
from core.errors import SettingsError, SyncError
from core.settings import Settings
from core.tokens import TokenStore
from etl.patience import CONNECTION_TRIES
from etl.sources.xero.api import read_settings
from tests.xero_ledger import run_sync, running


def runs(db):
    with read_only(db) as con:
        return con.execute("SELECT kind, status, requests, error FROM sync_runs ORDER BY run_id").fetchall()


def invoice_rows(db):
    with read_only(db) as con:
        return con.execute("SELECT invoice_id, total, status FROM invoices ORDER BY ALL").fetchall()


@pytest.mark.parametrize("fault, options, told", [
    ("429", {"retry_after": 1}, "Xero is throttling requests: waiting 1 s before trying again"),
    ("503", {}, "Xero is unavailable: waiting 0.0 s before trying again"),
    ("500", {}, "Xero had an internal error: waiting 0.0 s before trying again"),
    ("reset", {}, "The connection to Xero dropped: waiting 0.0 s before trying again"),
])
def test_throttling_server_errors_and_dropped_connections_are_tried_again(xero_server, store, tmp_path, fault, options,
                                                                          told):
    said = []
    xero_server.fail_next("invoices", fault, times=2, **options)
    started = time.monotonic()
    result = run_sync(xero_server, store, tmp_path / "x.duckdb", progress=lambda f, text: said.append(text))
    assert result.kind == "full" and result.counts["invoices"] == 9
    assert said.count(told) == 2 and result.requests["invoices"] == 3  # every attempt counted
    if fault == "429":
        assert time.monotonic() - started >= 2  # waited Retry-After twice


def test_the_minute_limit_is_waited_out_before_xero_refuses(monkeypatch, store, tmp_path):
    """60 requests a minute per organisation: with a 1-second 'minute' of 5 requests, a sync of
    about 16 requests pauses each time X-MinLimit-Remaining reaches 0, and is never refused."""
    for server in running(monkeypatch, minute_limit=5, minute_seconds=1.0):
        said = []
        result = run_sync(server, store, tmp_path / "x.duckdb", throttle_wait=1.05, progress=lambda f, t: said.append(t))
        assert result.kind == "full"
        waits = said.count("Xero's limit of requests a minute is reached: waiting 1 s before trying again")
        # The token, then 10 lists and 5 reports: 15 requests count against the organisation's limit,
        # so the 6th and the 11th wait
        assert (sum(result.requests.values()), waits) == (16, 2)
        assert "429" not in repr(server.request_log)


def test_a_minute_limit_not_waited_out_is_refused_with_retry_after_and_tried_again(monkeypatch, store, tmp_path):
    for server in running(monkeypatch, minute_limit=5, minute_seconds=1.0):
        said = []
        result = run_sync(server, store, tmp_path / "x.duckdb", throttle_wait=0.01, progress=lambda f, t: said.append(t))
        assert result.kind == "full"
        assert "Xero is throttling requests: waiting 1 s before trying again" in said  # Xero's Retry-After


def test_the_daily_limit_ends_the_run_at_once_and_writes_nothing(monkeypatch, store, tmp_path):
    for server in running(monkeypatch, day_limit=6):
        db = tmp_path / "x.duckdb"
        with pytest.raises(SyncError, match=r"Xero's daily limit of 5,000 requests for organisation .* is used up; "
                                            r"nothing was written: sync again in about 12 h"):
            run_sync(server, store, db)
        assert runs(db)[0][:2] == ("full", "failed") and invoice_rows(db) == []


def test_throttling_past_the_budget_fails_clearly_and_is_recorded(xero_server, store, tmp_path):
    xero_server.fail_next("invoices", "429", times=50, retry_after=1)
    db = tmp_path / "x.duckdb"
    with pytest.raises(SyncError, match=r"Xero kept throttling the invoices request after 2 s of waiting"):
        run_sync(xero_server, store, db, wait_budget=2.5)
    # the token, organisation, currencies, contacts, and three tries of the invoices
    assert runs(db) == [("full", "failed", 7, runs(db)[0][3])]


def test_a_request_that_takes_too_long_times_out(xero_server, store, tmp_path):
    xero_server.fail_next("payments", "stall", seconds=3)
    db = tmp_path / "x.duckdb"
    with pytest.raises(SyncError, match=r"Xero did not answer within 1 s \(timeout\); nothing was written"):
        run_sync(xero_server, store, db, timeout=1)
    assert runs(db)[0][1] == "failed"


@pytest.mark.parametrize("fault, message", [
    ("truncated", "Xero's answer to the invoices request was not valid JSON"),
    ("reset", "network error during the invoices request: ProtocolError"),
])
def test_a_broken_answer_ends_the_run_and_writes_nothing(xero_server, store, tmp_path, fault, message):
    db, books = tmp_path / "x.duckdb", xero_server.books
    run_sync(xero_server, store, db)
    before = invoice_rows(db)
    xero_server.tick()
    books.edit_invoice(xero_server.ids["D1"], total="65.00")
    xero_server.tick()
    xero_server.fail_next("invoices", fault, times=CONNECTION_TRIES if fault == "reset" else 1)  # a reset is retried first
    with pytest.raises(SyncError, match=message):
        run_sync(xero_server, store, db)
    assert invoice_rows(db) == before
    assert runs(db)[-1][:2] == ("incremental", "failed") and message[:30] in runs(db)[-1][3]
    assert run_sync(xero_server, store, db).kind == "incremental"  # the next run completes what this one could not
    assert (xero_server.ids["D1"], 65, "posted") in [(i, int(t), s) for i, t, s in invoice_rows(db)]


def test_an_access_token_refused_mid_run_is_refreshed_once(xero_server, store, tmp_path):
    xero_server.fail_next("creditnotes", "401")
    result = run_sync(xero_server, store, tmp_path / "x.duckdb")
    assert result.kind == "full" and xero_server.refreshes == 2  # one when connecting, one after the 401
    assert store.get("xero", xero_server.tenant_id) == xero_server.current_refresh_token


def test_a_rotated_refresh_token_is_saved_before_it_is_used(xero_server, store, tmp_path):
    xero_server.fail_next("organisation", "truncated")  # the run dies after connecting
    with pytest.raises(SyncError):
        run_sync(xero_server, store, tmp_path / "x.duckdb")
    assert store.get("xero", xero_server.tenant_id) == xero_server.current_refresh_token == "xrt-1"
    token_file = next((tmp_path / "tokens").glob("xero-*.json"))
    assert token_file.stat().st_mode & 0o777 == 0o600
    xero_server.tick(45)  # past Xero's grace period for xrt-0: only the saved xrt-1 works now
    assert run_sync(xero_server, store, tmp_path / "x.duckdb", refresh_token=None).kind == "full"


def test_a_lost_token_answer_keeps_the_token_and_the_grace_period_saves_the_next_run(xero_server, store, tmp_path):
    db = tmp_path / "x.duckdb"
    run_sync(xero_server, store, db)
    kept = store.get("xero", xero_server.tenant_id)
    xero_server.tick()
    xero_server.fail_next("token", "truncated", rotated=True)  # Xero rotated the token; its answer never arrived
    with pytest.raises(SyncError, match=r"Xero's answer to the token request was lost .*the stored token was kept"):
        run_sync(xero_server, store, db)
    assert store.get("xero", xero_server.tenant_id) == kept != xero_server.current_refresh_token
    assert runs(db)[-1][1] == "failed"
    xero_server.tick(10)  # within Xero's 30 minutes the old token is still good
    assert run_sync(xero_server, store, db).kind == "incremental"
    assert store.get("xero", xero_server.tenant_id) == xero_server.current_refresh_token


def test_a_lost_token_answer_past_the_grace_period_asks_to_reconnect(xero_server, store, tmp_path):
    db = tmp_path / "x.duckdb"
    run_sync(xero_server, store, db)
    xero_server.fail_next("token", "reset", times=CONNECTION_TRIES, rotated=True)
    with pytest.raises(SyncError, match="the stored token was kept"):
        run_sync(xero_server, store, db)
    xero_server.tick(31)
    with pytest.raises(SyncError, match=r"Xero refused the refresh token for organisation .* \(invalid_grant\); "
                                        r"reconnect with `python -m etl connect xero`"):
        run_sync(xero_server, store, db)


def test_a_refused_refresh_token_asks_to_reconnect(xero_server, store, tmp_path):
    with pytest.raises(SyncError, match=r"refused the refresh token .*\(invalid_grant\); reconnect"):
        run_sync(xero_server, store, tmp_path / "x.duckdb", refresh_token="stale")


def test_an_organisation_not_connected_is_named(xero_server, store, tmp_path):
    xero_server.disconnected.add(xero_server.tenant_id)
    with pytest.raises(SettingsError, match=r"Xero refused access to organisation .* \(HTTP 403, AuthenticationUnsuccessful\)"):
        run_sync(xero_server, store, tmp_path / "x.duckdb")


@pytest.mark.parametrize("field, value, message", [
    ("Total", "12,50", r"Xero Invoice {A1} \(INV-0001\): Total is '12,50', not an amount; correct it in Xero"),
    ("Date", None, r"Xero Invoice {A1} \(INV-0001\): Date is missing"),
    ("Contact", {}, r"Xero Invoice {A1} \(INV-0001\): Contact is missing"),
])
def test_a_malformed_record_is_named_and_nothing_is_written(xero_server, store, tmp_path, field, value, message):
    db = tmp_path / "x.duckdb"
    run_sync(xero_server, store, db)
    before = invoice_rows(db)
    xero_server.tick()
    xero_server.books.corrupt(xero_server.ids["A1"], **{field: value})
    xero_server.tick()
    with pytest.raises(SyncError, match=message.format(**xero_server.ids)):
        run_sync(xero_server, store, db)
    assert invoice_rows(db) == before and runs(db)[-1][1] == "failed"


def test_settings_errors_name_the_setting(tmp_path):
    with pytest.raises(SettingsError, match=r"Xero is not configured: set XERO_CLIENT_ID, XERO_REDIRECT_URI \("):
        read_settings(Settings({"XERO_CLIENT_SECRET": "s"}, secrets_file=None))
    with pytest.raises(SettingsError, match=r"XERO_API_URL='api.xero.com' is not an http\(s\) address"):
        read_settings(Settings({"XERO_CLIENT_ID": "i", "XERO_CLIENT_SECRET": "s", "XERO_REDIRECT_URI": "http://x",
                                "XERO_API_URL": "api.xero.com"}, secrets_file=None))
    folder = tmp_path / "tokens"
    for tenant in ("a-tenant", "b-tenant"):
        TokenStore(folder).put("xero", tenant, "t")
    with pytest.raises(SettingsError, match="Xero organisations a-tenant, b-tenant are connected: choose one with XERO_TENANT_ID"):
        read_settings(Settings({"XERO_CLIENT_ID": "i", "XERO_CLIENT_SECRET": "s", "XERO_REDIRECT_URI": "http://x",
                                "LEDGERLIGHT_TOKENS": str(folder)}, secrets_file=None))
    chosen = read_settings(Settings({"XERO_CLIENT_ID": "i", "XERO_CLIENT_SECRET": "s3cr3t", "XERO_REDIRECT_URI": "http://x",
                                     "XERO_TENANT_ID": "b-tenant", "LEDGERLIGHT_TOKENS": str(folder)}, secrets_file=None))
    assert chosen.tenant_id == "b-tenant" and "s3cr3t" not in repr(chosen)
