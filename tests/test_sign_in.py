"""Sign-in end to end: Streamlit's own st.login against an OpenID Connect provider on 127.0.0.1
(tests/oidc_provider.py, Authlib's server parts), in Debian's Chromium. A viewer, a collector and
an admin sign in and each sees and may do what the role allows; a user with no role, a forged
session and expired ones are refused; the dashboard listens on loopback by default and, served on
every interface without sign-in, shows only its refusal."""

import json
import secrets
import shutil
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.sync_api import expect

from core.db import read_only
from tests.browser import chromium, free_port, in_tab, screenshot, skip_without_chromium, streamlit_app, wait_until_the_script_has_run
from tests.oidc_provider import OpenIDProvider, secrets_toml

skip_without_chromium()
expect.set_options(timeout=30_000)  # a page's first run computes its figures

USERS = {"viewer@msp.example": {"name": "Vera Viewer"}, "collector@msp.example": {"name": "Cole Collector"},
         "admin@msp.example": {"name": "Ada Admin"}, "stranger@elsewhere.example": {"name": "Stan Stranger"}}
ROLES = {"viewer@msp.example": "viewer", "collector@msp.example": "collector", "admin@msp.example": "admin"}
USER_COOKIE = "_streamlit_user"  # Streamlit's identity cookie (streamlit/web/server/starlette)
A_LONG_TIME_AGO = 1_600_000_000  # September 2020, seconds since the epoch
SOURCE_SETTINGS = "QuickBooks Online settings (environment variables or .streamlit/secrets.toml)"  # where an admin connects QuickBooks


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, demo_db):
    """The dashboard with sign-in set up, on the default address (no --server.address)."""
    folder = tmp_path_factory.mktemp("sign_in")
    db = folder / "ledgerlight.duckdb"
    shutil.copy(demo_db, db)  # the admin imports into it
    port = free_port()
    with OpenIDProvider(redirect_uri=f"http://127.0.0.1:{port}/oauth2callback", users=USERS) as provider:
        cookie_secret = secrets.token_urlsafe(32)
        secrets_file = folder / "secrets.toml"
        secrets_file.write_text(secrets_toml(
            auth={"redirect_uri": provider.redirect_uri, "cookie_secret": cookie_secret,
                  "client_id": provider.client_id, "client_secret": provider.client_secret,
                  "server_metadata_url": provider.metadata_url},
            LEDGERLIGHT_ROLES=ROLES,
        ))
        env = {"LEDGERLIGHT_DB": str(db), "STREAMLIT_SECRETS_FILES": str(secrets_file)}
        with streamlit_app(env, port=port) as (url, port, _):
            yield {"url": url, "port": port, "db": db, "cookie_secret": cookie_secret}


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(tab):
    """The module's tab (conftest.tab), signed out: each test starts with no cookie from the app
    or the provider."""
    tab.context.clear_cookies()
    return in_tab(tab)


def sign_in(page, deployment, email: str) -> None:
    page.goto(deployment["url"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=f"Sign in as {email}").click()  # the provider's account chooser
    page.wait_for_url(f"{deployment['url']}/", timeout=30_000)
    wait_until_the_script_has_run(page)


def open_page(page, deployment, path: str, heading: str) -> None:
    page.goto(deployment["url"] + path)
    page.get_by_role("heading", name=heading, exact=True, level=1).wait_for(timeout=60_000)
    wait_until_the_script_has_run(page)


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def test_listens_on_loopback_by_default(deployment):
    """Started without --server.address, the server's listening sockets are 127.0.0.1 only
    (read from the kernel's socket table, so no packet goes to any other address)."""
    listening = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.split(":")
            if state == "0A" and int(port, 16) == deployment["port"]:
                listening.add(address)
    assert listening == {"0100007F"}  # 127.0.0.1, little-endian hex


@pytest.mark.parametrize("email, role", [("viewer@msp.example", "viewer"), ("collector@msp.example", "collector")])
def test_a_viewer_and_a_collector_see_every_page_but_cannot_write(page, deployment, email, role):
    sign_in(page, deployment, email)
    expect(page.locator('[data-testid="stMetricValue"]').first).to_be_visible()
    expect(sidebar(page).get_by_text(f"Signed in as {email} · {role}")).to_be_visible()
    open_page(page, deployment, "/autopay", "Autopay")
    expect(page.get_by_text("Import an autopay roster")).to_have_count(0)
    open_page(page, deployment, "/data_sync", "Data & sync")
    expect(page.get_by_text(f"Connecting and syncing QuickBooks Online needs the admin role; you are a {role}.")).to_be_visible()
    expect(page.get_by_text(SOURCE_SETTINGS)).to_have_count(0)
    screenshot(page, f"signed_in_{role}")


def test_an_admin_imports_a_roster_and_the_run_records_who(page, deployment, tmp_path):
    with read_only(deployment["db"]) as con:
        [(customer_id,)] = con.execute("SELECT min(customer_id) FROM customers").fetchall()
    roster = tmp_path / "roster.csv"
    roster.write_text(f"customer,autopay,method\n{customer_id},yes,card\n")
    sign_in(page, deployment, "admin@msp.example")
    open_page(page, deployment, "/autopay", "Autopay")
    page.get_by_text("Import an autopay roster").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(roster))
    page.get_by_role("button", name="Import roster").click()
    expect(page.locator('[data-testid="stAlertContentSuccess"]')).to_be_visible(timeout=60_000)
    with read_only(deployment["db"]) as con:
        newest = con.execute("SELECT origin, status, actor FROM sync_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    assert newest == ("autopay_roster", "succeeded", "admin@msp.example")
    open_page(page, deployment, "/data_sync", "Data & sync")
    expect(page.get_by_text(SOURCE_SETTINGS)).to_be_visible()  # where an admin connects QuickBooks
    expect(page.get_by_text("needs the admin role")).to_have_count(0)


def test_a_signed_in_user_with_no_role_is_refused(page, deployment):
    sign_in(page, deployment, "stranger@elsewhere.example")
    expect(page.get_by_text("You are signed in as stranger@elsewhere.example, but ledgerlight gives you no role")).to_be_visible()
    expect(page.locator('[data-testid="stMetricValue"]')).to_have_count(0)
    expect(sidebar(page)).to_have_count(0)


def cookie(deployment, claims: dict, secret: str | None = None, signed_at: int | None = None) -> dict:
    """An identity cookie as Streamlit writes one (itsdangerous, salted with the cookie's name)."""
    class Signer(TimestampSigner):
        def get_timestamp(self):
            return signed_at if signed_at is not None else super().get_timestamp()

    serializer = URLSafeTimedSerializer(secret or deployment["cookie_secret"], salt=USER_COOKIE, signer=Signer)
    value = serializer.dumps(json.dumps({**claims, "origin": deployment["url"], "is_logged_in": True, "provider": "default"}))
    return {"name": USER_COOKIE, "value": value, "url": deployment["url"]}


@pytest.mark.parametrize("case", ["forged", "cookie too old", "sign-in too old"])
def test_a_forged_or_expired_session_is_refused(page, deployment, case):
    admin = {"email": "admin@msp.example", "email_verified": True, "name": "Ada Admin"}
    made = {
        "forged": cookie(deployment, {**admin, "iat": A_LONG_TIME_AGO}, secret=secrets.token_urlsafe(32)),
        # Streamlit drops an identity cookie signed more than 31 days ago
        "cookie too old": cookie(deployment, admin, signed_at=A_LONG_TIME_AGO),
        # signed just now by the server's secret, but the sign-in it holds is older than 12 hours
        "sign-in too old": cookie(deployment, {**admin, "iat": A_LONG_TIME_AGO}),
    }[case]
    page.context.add_cookies([made])
    page.goto(deployment["url"])
    if case == "sign-in too old":
        expect(page.get_by_role("heading", name="Your sign-in has expired")).to_be_visible(timeout=60_000)
        expect(page.get_by_role("button", name="Sign in again")).to_be_visible()
    else:
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
    wait_until_the_script_has_run(page)
    expect(page.locator('[data-testid="stMetricValue"]')).to_have_count(0)
    expect(page.get_by_text("admin@msp.example")).to_have_count(0)


def test_every_interface_without_sign_in_shows_only_the_refusal(browser, demo_db, tmp_path):
    env = {"LEDGERLIGHT_DB": str(demo_db), "STREAMLIT_SECRETS_FILES": str(tmp_path / "none.toml")}
    with streamlit_app(env, "--server.address=0.0.0.0") as (url, _, _):
        page = browser.new_page()
        page.goto(url)  # over loopback: the address it listens on is what counts
        expect(page.get_by_role("heading", name="ledgerlight will not serve this without sign-in")).to_be_visible(timeout=60_000)
        wait_until_the_script_has_run(page)
        expect(page.get_by_text("it listens on every network interface")).to_be_visible()
        expect(page.get_by_text("docs/deployment.md")).to_be_visible()
        expect(page.locator('[data-testid="stMetricValue"]')).to_have_count(0)
        expect(sidebar(page)).to_have_count(0)
        screenshot(page, "refused_all_interfaces")
        page.close()
