"""Who may do what (core/access.py): the roles and their settings, the check every write calls,
the door every page passes (ui/shell.py, run with AppTest), and the actor each run records."""

import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import streamlit as st
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest

from core import access
from core.access import ADMIN, COLLECTOR, VIEWER, Actor
from core.db import connect_for_write, migrate, read_only
from core.errors import AccessError, BooksError, InputError, SettingsError
from core.settings import Settings
from etl import pipeline
from etl.batch import Batch
from etl.sources import autopay_roster, demo, tables
from metrics import sync_history
from tests.books import TEST_COMPANY, customers_frame
from tests.conftest import DEMO_AS_OF, shown
from tests.oidc_provider import secrets_toml

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
VIEWER_ACTOR, COLLECTOR_ACTOR, ADMIN_ACTOR = (Actor(f"{role}@msp.example", role) for role in (VIEWER, COLLECTOR, ADMIN))


# --- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("actor, role, allowed", [
    (VIEWER_ACTOR, VIEWER, True), (VIEWER_ACTOR, COLLECTOR, False), (VIEWER_ACTOR, ADMIN, False),
    (COLLECTOR_ACTOR, VIEWER, True), (COLLECTOR_ACTOR, COLLECTOR, True), (COLLECTOR_ACTOR, ADMIN, False),
    (ADMIN_ACTOR, VIEWER, True), (ADMIN_ACTOR, COLLECTOR, True), (ADMIN_ACTOR, ADMIN, True),
])
def test_each_role_allows_what_the_one_before_it_allows(actor, role, allowed):
    assert actor.may(role) is allowed
    if allowed:
        access.require(actor, role, "noting a promise to pay")
    else:
        with pytest.raises(AccessError) as refused:
            access.require(actor, role, "noting a promise to pay")
        assert str(refused.value) == (
            f"{actor.id} is a {actor.role}: noting a promise to pay needs the {role} role. An admin can give it "
            "in LEDGERLIGHT_ROLES (docs/configuration.md); nothing was changed.")


ROLES = {"owner@msp.example": "admin", "books@msp.example": "collector", "@msp.example": "viewer",
         "former@msp.example": "none"}


@pytest.mark.parametrize("identity, default, role", [
    ("owner@msp.example", "none", ADMIN),
    ("Books@MSP.example", "none", COLLECTOR),  # addresses compare without case
    ("new.hire@msp.example", "none", VIEWER),  # the domain's entry
    ("former@msp.example", "viewer", None),  # its own "none" beats the domain and the default
    ("accountant@cpa.example", "none", None),  # unknown: the default, "none"
    ("accountant@cpa.example", "viewer", VIEWER),
])
def test_the_role_of_a_signed_in_user(identity, default, role):
    assert access.role_of(identity, ROLES, default) == role


def test_an_unknown_role_name_is_a_settings_error():
    with pytest.raises(SettingsError, match=r"LEDGERLIGHT_ROLES gives an unknown role \(owner@msp.example = 'amdin'\)"):
        access.role_of("owner@msp.example", {"owner@msp.example": "amdin"}, "none")
    with pytest.raises(SettingsError, match="LEDGERLIGHT_DEFAULT_ROLE is 'guest'"):
        access.role_of("x@msp.example", {}, "guest")


@pytest.mark.parametrize("user, identity", [
    ({"email": "Owner@MSP.example", "email_verified": True}, "owner@msp.example"),
    ({"preferred_username": "books@msp.example"}, "books@msp.example"),  # Entra ID without a mailbox
    ({"email": "owner@msp.example", "email_verified": False}, None),
    ({"name": "No Address"}, None),
])
def test_the_identity_a_sign_in_vouches_for(user, identity):
    assert access.identity_of(user) == identity


NOW = 1_800_000_000.0


@pytest.mark.parametrize("issued_at, hours, expired", [
    (NOW - 11.9 * 3600, 12, False), (NOW - 12.1 * 3600, 12, True),
    (NOW + 60, 12, False),  # a provider's clock a minute ahead
    (NOW + 3600, 12, True),  # dated an hour ahead: not a sign-in we believe
    (None, 12, True), ("1800000000", 12, True), (True, 12, True),
    (NOW - 400 * 86400, 0, False),  # 0: no limit of ours
])
def test_a_sign_in_lasts_its_hours(issued_at, hours, expired):
    assert access.session_expired(issued_at, NOW, hours) is expired


@pytest.mark.parametrize("address, headers, reason", [
    ("127.0.0.1", {"Host": "127.0.0.1:8501"}, None),
    ("localhost", {"Host": "localhost:8501"}, None),
    ("::1", {"Host": "[::1]:8501"}, None),
    ("127.0.0.1", {}, None),
    (None, {}, "it listens on every network interface"),
    ("", {}, "it listens on every network interface"),
    ("0.0.0.0", {}, "it listens on every network interface"),
    ("::", {}, "it listens on every network interface"),
    ("192.168.1.20", {}, "it listens on 192.168.1.20"),
    ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, "this request came through a proxy (x-forwarded-for)"),
    ("127.0.0.1", {"Host": "ar.msp.example"}, "this request asked for host ar.msp.example"),
])
def test_what_makes_the_dashboard_reachable_from_other_machines(address, headers, reason):
    assert access.exposure(address, headers) == reason


# --- the settings ------------------------------------------------------------------------------


def write_secrets(folder: Path, text: str) -> Path:
    path = folder / "secrets.toml"
    path.write_text(text)
    return path


AUTH = {"redirect_uri": "https://ar.msp.example/oauth2callback", "cookie_secret": "x" * 32, "client_id": "id",
        "client_secret": "s", "server_metadata_url": "https://login.example/.well-known/openid-configuration"}


def test_roles_and_sign_in_come_from_the_secrets_file_streamlit_reads(tmp_path):
    path = write_secrets(tmp_path, 'LEDGERLIGHT_DEFAULT_ROLE = "Viewer"\nLEDGERLIGHT_SESSION_HOURS = 8\n'
                         + secrets_toml(auth=AUTH, LEDGERLIGHT_ROLES={"Owner@MSP.example": "Admin"}))
    read = Settings({"STREAMLIT_SECRETS_FILES": str(path)})
    assert read.secrets_files() == [path]
    assert read.sign_in_providers() == [None]
    assert read.roles() == {"owner@msp.example": "admin"}
    assert read.default_role() == "viewer"
    assert read.session_hours() == 8
    assert Settings({}, secrets_file=None).sign_in_providers() == []
    assert Settings({}, secrets_file=None).default_role() == "none"
    assert Settings({}, secrets_file=None).session_hours() == 12


def test_roles_from_the_environment_win():
    read = Settings({"LEDGERLIGHT_ROLES": "owner@msp.example=admin, @msp.example = viewer"}, secrets_file=None)
    assert read.roles() == {"owner@msp.example": "admin", "@msp.example": "viewer"}
    with pytest.raises(SettingsError, match="LEDGERLIGHT_ROLES: 'owner@msp.example' is not EMAIL=ROLE"):
        Settings({"LEDGERLIGHT_ROLES": "owner@msp.example"}, secrets_file=None).roles()


def test_named_providers_and_a_half_set_up_sign_in(tmp_path):
    named = write_secrets(tmp_path, secrets_toml(
        auth={"redirect_uri": AUTH["redirect_uri"], "cookie_secret": AUTH["cookie_secret"]},
        **{"auth.microsoft": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
           "auth.google": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}}))
    assert Settings({}, secrets_file=named).sign_in_providers() == ["microsoft", "google"]
    half = write_secrets(tmp_path, secrets_toml(auth={"client_id": "id", "redirect_uri": AUTH["redirect_uri"]}))
    with pytest.raises(SettingsError) as refused:
        Settings({}, secrets_file=half).sign_in_providers()
    assert str(refused.value) == ("sign-in is set up in part: the secrets file lacks [auth] cookie_secret, "
                                  "[auth] client_secret, [auth] server_metadata_url (docs/deployment.md)")
    with pytest.raises(SettingsError, match="LEDGERLIGHT_SESSION_HOURS='soon' is not a number of hours"):
        Settings({"LEDGERLIGHT_SESSION_HOURS": "soon"}, secrets_file=None).session_hours()


# --- the writes --------------------------------------------------------------------------------


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def roster_settings(tmp_path, db):
    with read_only(db) as con:
        [(customer_id,)] = con.execute("SELECT min(customer_id) FROM customers").fetchall()
    roster = tmp_path / "roster.csv"
    roster.write_text(f"customer,autopay\n{customer_id},yes\n")
    return autopay_roster.SOURCE.importer.settings(str(roster))


@pytest.mark.parametrize("actor", [VIEWER_ACTOR, COLLECTOR_ACTOR])
def test_pipeline_writes_refuse_anyone_but_an_admin(tmp_path, demo_db, actor):
    db = tmp_path / "books.duckdb"
    db.write_bytes(demo_db.read_bytes())
    roster = roster_settings(tmp_path, db)
    before = file_hash(db)
    writes = {
        "running the demo company": lambda: pipeline.run(db, demo.SOURCE, demo.DemoSettings(DEMO_AS_OF), actor=actor),
        "running the autopay roster": lambda: pipeline.run(db, autopay_roster.SOURCE, roster, actor=actor),
        "running the autopay inference": lambda: pipeline.infer_autopay(db, actor=actor),
        "running the ready-made tables": lambda: pipeline.write(
            db, tables.SOURCE, Batch(TEST_COMPANY, kind="test", complete=True), actor=actor),
    }
    for doing, write in writes.items():
        with pytest.raises(AccessError, match=f"^{actor.id} is a {actor.role}: {doing} needs the admin role"):
            write()
    assert file_hash(db) == before  # not even a failed run is recorded
    fresh = tmp_path / "fresh.duckdb"
    with pytest.raises(AccessError):
        pipeline.run(fresh, demo.SOURCE, demo.DemoSettings(DEMO_AS_OF), actor=actor)
    assert not fresh.exists()


def test_every_run_records_its_actor_failed_or_not(tmp_path, demo_db, monkeypatch):
    db = tmp_path / "books.duckdb"
    db.write_bytes(demo_db.read_bytes())
    demo_builder = f"os:{Settings(secrets_file=None).os_user()}"  # who the suite runs as built demo_db
    pipeline.run(db, autopay_roster.SOURCE, roster_settings(tmp_path, db), actor=ADMIN_ACTOR)
    monkeypatch.setenv("LOGNAME", "cron-bot")
    pipeline.infer_autopay(db)  # a library call naming no actor: the machine's own user
    dangling = {"customers": customers_frame([{"customer_id": "C1", "name": "Acme"}]),
                "invoices": pd.DataFrame([{"invoice_id": "I1", "customer_id": "C9", "txn_date": DEMO_AS_OF,
                                           "total": "10.00", "home_total": "10.00"}])}
    with pytest.raises(BooksError):
        pipeline.run(db, tables.SOURCE, tables.Tables(TEST_COMPANY, dangling), actor=ADMIN_ACTOR)
    with read_only(db) as con:
        history = sync_history(con)
    assert history[["origin", "status", "actor"]].head(4).values.tolist() == [
        ["tables", "failed", "admin@msp.example"],
        ["inference", "succeeded", "os:cron-bot"],
        ["autopay_roster", "succeeded", "admin@msp.example"],
        ["demo", "succeeded", demo_builder],
    ]


def test_a_file_from_before_actors_upgrades_and_its_old_runs_have_none(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    migrate(con, path, upto=5)  # the release before actors (migration 6, "who ran each run")
    con.execute("INSERT INTO sync_runs (source, company_id, origin, kind, started_at, status) "
                "VALUES ('demo', 'd', 'demo', 'demo', TIMESTAMP '2026-11-01 09:00', 'succeeded')")
    con.close()
    con = connect_for_write(path)
    assert con.execute("SELECT run_id, actor FROM sync_runs").fetchall() == [(1, None)]
    assert sync_history(con)["actor"].isna().tolist() == [True]  # shown blank in the last-runs table
    con.close()


def test_the_command_line_acts_as_the_machines_user(tmp_path, demo_db):
    db = tmp_path / "cli.duckdb"
    db.write_bytes(demo_db.read_bytes())
    env = {"PATH": "/usr/bin:/bin", "LEDGERLIGHT_TODAY": DEMO_AS_OF.isoformat(), "LOGNAME": "cron-bot",
           "STREAMLIT_SECRETS_FILES": str(tmp_path / "none.toml")}
    done = subprocess.run([sys.executable, "-m", "etl", "infer", "autopay", "--db", str(db)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with read_only(db) as con:
        assert sync_history(con)[["origin", "actor"]].iloc[0].tolist() == ["inference", "os:cron-bot"]


# --- the door: the shell every page passes, in AppTest ---------------------------------------------


@pytest.fixture
def signed_in(monkeypatch, tmp_path, demo_db):
    """Sign-in set up with the roles of the browser test; returns a function opening a page as a user."""
    secrets = write_secrets(tmp_path, secrets_toml(auth=AUTH, LEDGERLIGHT_ROLES={
        "viewer@msp.example": "viewer", "collector@msp.example": "collector", "admin@msp.example": "admin"}))
    monkeypatch.setenv("STREAMLIT_SECRETS_FILES", str(secrets))
    monkeypatch.setenv("LEDGERLIGHT_SESSION_HOURS", "0")  # no age check unless a test asks for one
    monkeypatch.setenv("LEDGERLIGHT_DB", str(demo_db))

    def open_as(user: dict | None, script: str = "app.py") -> AppTest:
        st.cache_data.clear()
        app = AppTest.from_file(APP, default_timeout=120)
        app.user = {"is_logged_in": False} if user is None else {"is_logged_in": True, **user}
        return (app.switch_page(script) if script != "app.py" else app).run()
    return open_as


def shown_text(app: AppTest) -> str:
    return "\n".join(shown(element) for kind in ("title", "markdown", "caption", "error", "warning", "info")
                     for element in getattr(app, kind))


def test_not_signed_in_shows_only_the_sign_in_button(signed_in):
    app = signed_in(None, "pages/data_sync.py")
    assert not app.exception
    assert [b.label for b in app.button] == ["Sign in"]
    assert not app.metric and not app.dataframe and not app.sidebar.date_input
    assert "Sign in with your work account" in shown_text(app)


@pytest.mark.parametrize("role", [VIEWER, COLLECTOR])
def test_a_viewer_and_a_collector_see_the_pages_without_the_writes(signed_in, role):
    overview = signed_in({"email": f"{role}@msp.example"})
    assert overview.metric[0].label == "Total A/R"
    assert f"Signed in as **{role}@msp.example** · {role}" in [shown(c) for c in overview.sidebar.caption]
    autopay = signed_in({"email": f"{role}@msp.example"}, "pages/autopay.py")
    assert not autopay.exception and not [e for e in autopay.expander if e.label == "Import an autopay roster"]
    data_sync = signed_in({"email": f"{role}@msp.example"}, "pages/data_sync.py")
    assert not [b for b in data_sync.button if b.label in ("Sync now", "Get the QuickBooks Online sign-in link")]
    assert (f":material/lock: Connecting and syncing QuickBooks Online needs the admin role; you are a {role}."
            in [shown(c) for c in data_sync.caption])
    runs = data_sync.dataframe[-1].value
    assert runs["actor"].tolist()[0].startswith("os:")  # the demo was built by the machine's own user


def test_an_admin_gets_the_writes(signed_in):
    autopay = signed_in({"email": "admin@msp.example"}, "pages/autopay.py")
    assert [e for e in autopay.expander if e.label == "Import an autopay roster"]
    data_sync = signed_in({"email": "admin@msp.example"}, "pages/data_sync.py")
    assert not [c for c in data_sync.caption if "needs the admin role" in shown(c)]
    assert "QuickBooks is not configured" in "\n".join(shown(w) for w in data_sync.warning)


def test_no_role_no_address_and_an_old_sign_in_are_refused(signed_in, monkeypatch):
    stranger = signed_in({"email": "stranger@elsewhere.example"})
    assert "You are signed in as stranger@elsewhere.example, but ledgerlight gives you no role" in shown(stranger.error[0])
    assert [b.label for b in stranger.button] == ["Sign out"] and not stranger.metric
    unverified = signed_in({"email": "admin@msp.example", "email_verified": False})
    assert "no verified e-mail address" in shown(unverified.error[0]) and not unverified.metric
    monkeypatch.setenv("LEDGERLIGHT_SESSION_HOURS", "12")
    old = signed_in({"email": "admin@msp.example", "iat": 1_600_000_000})
    assert old.title[0].value == "Your sign-in has expired" and not old.metric
    assert [b.label for b in old.button] == ["Sign in again"]


def test_a_viewer_does_not_build_the_demo_on_first_start(signed_in, tmp_path, monkeypatch):
    fresh = tmp_path / "fresh" / "ledgerlight.duckdb"
    monkeypatch.setenv("LEDGERLIGHT_DB", str(fresh))
    app = signed_in({"email": "viewer@msp.example"})
    assert "An admin's first visit builds the demo company" in shown(app.info[0])
    assert not fresh.exists()


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.20"])
def test_without_sign_in_beyond_loopback_only_the_refusal_renders(monkeypatch, demo_db, address):
    monkeypatch.setenv("LEDGERLIGHT_DB", str(demo_db))
    bound = streamlit_config.get_option("server.address")
    streamlit_config.set_option("server.address", address)
    try:
        st.cache_data.clear()
        app = AppTest.from_file(APP, default_timeout=120).run()
    finally:
        streamlit_config.set_option("server.address", bound)
    assert app.title[0].value == "ledgerlight will not serve this without sign-in"
    assert "docs/deployment.md" in shown(app.error[0])
    assert not app.metric and not app.sidebar.date_input and not app.button


def test_without_sign_in_on_loopback_the_machines_user_is_the_admin(monkeypatch, demo_db):
    monkeypatch.setenv("LEDGERLIGHT_DB", str(demo_db))
    monkeypatch.setenv("LOGNAME", "alice")
    st.cache_data.clear()
    app = AppTest.from_file(APP, default_timeout=120).switch_page("pages/autopay.py").run()
    assert [e for e in app.expander if e.label == "Import an autopay roster"]
    assert "os:alice · admin · only this machine can reach this dashboard" in [shown(c) for c in app.sidebar.caption]


# --- local accounts: a password, where there is no identity provider ---------------------------------

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def password_hash():
    return access.hash_password(PASSWORD)


def test_a_password_signs_in_and_wrong_ones_are_held_back(password_hash):
    accounts, failures = {"jane": password_hash}, {}
    assert access.password_sign_in(accounts, " Jane ", PASSWORD, NOW, failures) == "jane"
    for wrong in ("Correct horse battery staple", ""):
        with pytest.raises(AccessError, match="^wrong account or password$"):
            access.password_sign_in(accounts, "jane", wrong, NOW, failures)
    with pytest.raises(AccessError, match="^wrong account or password$"):  # the same words as a wrong password
        access.password_sign_in(accounts, "nobody", PASSWORD, NOW, failures)
    for attempt in range(3):
        with pytest.raises(AccessError):
            access.password_sign_in(accounts, "jane", "guess", NOW + attempt, failures)
    with pytest.raises(AccessError, match="^too many wrong passwords for jane: try again in 15 minutes$"):
        access.password_sign_in(accounts, "jane", PASSWORD, NOW + 10, failures)  # even the right one, for now
    assert access.password_sign_in(accounts, "jane", PASSWORD, NOW + 15 * 60 + 1, failures) == "jane"
    assert failures == {"nobody": [NOW]}
    failures.update({f"guess{n}@spam.example": [NOW] for n in range(1001)})  # names made up by the thousand
    with pytest.raises(AccessError):
        access.password_sign_in(accounts, "jane", "guess", NOW + 15 * 60 + 2, failures)
    assert failures == {"jane": [NOW + 15 * 60 + 2]}  # the stale ones are forgotten, not kept for ever
    with pytest.raises(InputError, match="at least 12 characters"):
        access.hash_password("short")


def test_local_accounts_hold_hashes_only(tmp_path, password_hash):
    good = write_secrets(tmp_path, secrets_toml(LEDGERLIGHT_ACCOUNTS={"Jane": password_hash}))
    assert Settings({}, secrets_file=good).local_accounts() == {"jane": password_hash}
    plain = write_secrets(tmp_path, secrets_toml(LEDGERLIGHT_ACCOUNTS={"jane": PASSWORD}))
    with pytest.raises(SettingsError, match="the password of jane is not an Argon2 hash; make one with"):
        Settings({}, secrets_file=plain).local_accounts()


def test_the_command_line_makes_a_hash_that_signs_in(tmp_path):
    done = subprocess.run([sys.executable, "-m", "etl", "hash-password"], cwd=ROOT, input=PASSWORD + "\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    made = done.stdout.strip()
    assert made.startswith("$argon2id$") and PASSWORD not in done.stdout
    assert access.password_sign_in({"jane": made}, "jane", PASSWORD, NOW, {}) == "jane"


def test_a_password_sign_in_in_the_dashboard(monkeypatch, tmp_path, demo_db, password_hash):
    secrets = write_secrets(tmp_path, secrets_toml(LEDGERLIGHT_ACCOUNTS={"jane": password_hash, "ops": password_hash},
                                                   LEDGERLIGHT_ROLES={"jane": "viewer", "ops": "admin"}))
    monkeypatch.setenv("STREAMLIT_SECRETS_FILES", str(secrets))
    monkeypatch.setenv("LEDGERLIGHT_DB", str(demo_db))
    st.cache_data.clear()
    app = AppTest.from_file(APP, default_timeout=120).switch_page("pages/autopay.py").run()
    assert not app.metric and [t.label for t in app.text_input] == ["Account", "Password"]
    app.text_input[0].input("jane")
    app.text_input[1].input("not the password")
    app.button[0].click().run()
    assert shown(app.error[0]) == "wrong account or password" and not app.metric
    app.text_input[1].input(PASSWORD)
    app.button[0].click().run()
    assert app.title[0].value == "Autopay" and app.metric
    assert "Signed in as **jane** · viewer" in [shown(c) for c in app.sidebar.caption]
    assert not [e for e in app.expander if e.label == "Import an autopay roster"]
    app.sidebar.button[0].click().run()  # sign out
    assert [t.label for t in app.text_input] == ["Account", "Password"] and not app.metric
