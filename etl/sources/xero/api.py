"""Talking to Xero: settings, sign-in (the OAuth 2.0 code flow, the organisation chosen from the
connections endpoint), and an authenticated client that waits out Xero's rate limits, retries what
is worth retrying, times out, and saves every rotated refresh token before using it
(docs/sources/xero.md; the wire formats and their sources are in tests/fixtures/xero/NOTES.md).

The official `xero-python` SDK does the talking: its ApiClient, OAuth2Token and TokenApi refresh
the token, AccountingApi and IdentityApi build every request. What is ours: the SDK's urllib3
pool is swapped for one that sends through the shared patience policy (etl/patience.py)
and watches Xero's X-*Limit-Remaining headers, and its endpoints are settings, so a proxy or a
test server on 127.0.0.1 can stand in for Xero. Records are read as the JSON Xero sent (money as
Decimal): the SDK's models turn a missing field into None and bad values into errors that name no
record, while mapping.py names the record and field.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import urllib3
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import ApiException
from xero_python.identity import IdentityApi

from core.errors import SettingsError, SyncError
from core.settings import Settings, settings as current_settings
from core.tokens import Connection, TokenStore
from etl.batch import Connector
from etl.patience import Patience

SOURCE = "xero"
SCOPES = ("offline_access", "accounting.transactions.read", "accounting.contacts.read",
          "accounting.settings.read", "accounting.reports.read")
PAGE_SIZE = 1000  # the most `pageSize` Xero accepts
# Xero's refresh tokens lapse after 60 days unused (its token answer does not say so); its limits
# per organisation are 60 requests a minute and 5,000 a day.
REFRESH_TOKEN_SECONDS = 60 * 86400
TOKEN_WARNING_DAYS = 14
DAILY_LIMIT = 5000


@dataclass(frozen=True)
class XeroSettings:
    client_id: str
    client_secret: str
    redirect_uri: str
    tenant_id: str | None = None  # None: the one organisation connected so far, if there is one
    refresh_token: str | None = None
    api_url: str = "https://api.xero.com"  # /Connections, and the Accounting API under /api.xro/2.0
    identity_url: str = "https://identity.xero.com"  # /connect/token
    login_url: str = "https://login.xero.com/identity/connect/authorize"
    token_folder: Path | None = None
    backoff: float = 1.0  # seconds before the first retry of a server error, doubled each time
    throttle_wait: float = 60.0  # a 429 without Retry-After, or a used-up minute limit, waits this long
    retry_after_cap: float = 120.0  # a longer Retry-After is cut to this
    wait_budget: float = 1800.0  # seconds a sync may spend waiting on Xero in all
    timeout: float = 60.0  # seconds one request may take

    def __repr__(self) -> str:  # never show the secret or the token
        return f"XeroSettings(tenant_id={self.tenant_id!r})"

    @property
    def tokens(self) -> TokenStore:
        return TokenStore(self.token_folder)

    @property
    def token_url(self) -> str:
        return self.identity_url.rstrip("/") + "/connect/token"

    @property
    def accounting_url(self) -> str:
        return self.api_url.rstrip("/") + "/api.xro/2.0"


SETTING_NAMES = {
    "client_id": "XERO_CLIENT_ID", "client_secret": "XERO_CLIENT_SECRET", "redirect_uri": "XERO_REDIRECT_URI",
    "tenant_id": "XERO_TENANT_ID", "refresh_token": "XERO_REFRESH_TOKEN", "api_url": "XERO_API_URL",
    "identity_url": "XERO_IDENTITY_URL", "login_url": "XERO_LOGIN_URL",
}
_REQUIRED = ("client_id", "client_secret", "redirect_uri")
_URLS = ("api_url", "identity_url", "login_url")


def read_settings(reader: Settings | None = None) -> XeroSettings:
    """Xero settings from the settings reader (environment, then .streamlit/secrets.toml)."""
    reader = reader or current_settings()
    values = {name: reader.get(variable) for name, variable in SETTING_NAMES.items()}
    missing = [SETTING_NAMES[name] for name in _REQUIRED if values[name] is None]
    if missing:
        raise SettingsError(f"Xero is not configured: set {', '.join(missing)} (environment variables or "
                            ".streamlit/secrets.toml). See docs/sources/xero.md, 'Connect an organisation'.")
    for name in _URLS:
        url = urlparse(values[name] or "https://x")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise SettingsError(f"{SETTING_NAMES[name]}={values[name]!r} is not an http(s) address: fix it or unset it")
    present = {name: value for name, value in values.items() if value is not None}
    if "tenant_id" not in present:
        present["tenant_id"] = TokenStore(reader.token_folder()).only_connection(SOURCE, "Xero organisations", "XERO_TENANT_ID")
    return XeroSettings(**present, token_folder=reader.token_folder())


def settings_status(reader: Settings | None = None) -> dict[str, bool]:
    """Which settings are present, by variable name (values never leave the settings reader)."""
    return (reader or current_settings()).present(SETTING_NAMES.values())


# --- patience: the shared policy over the SDK's urllib3 pool, and Xero's rate-limit headers -----


def _endpoint(url: str) -> str:
    path = urlparse(url).path
    if path.endswith("/connect/token"):
        return "token"
    if "/Reports/" in path:
        return "reports"
    return path.rstrip("/").rsplit("/", 1)[-1].lower() or "other"


def _failure(exc: BaseException) -> str | None:
    if isinstance(exc, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ProtocolError)):
        return "dropped"  # refused, reset, or cut off before the announced length
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timeout"
    return None


def _daily_limit(tenant_id: str) -> Callable[[int, Mapping[str, str]], str | None]:
    def refuse(status: int, headers: Mapping[str, str]) -> str | None:
        if status != 429 or (headers.get("X-Rate-Limit-Problem") or "").lower() != "day":
            return None
        try:
            hours = f"about {max(1, round(float(headers['Retry-After']) / 3600))} h"
        except (KeyError, ValueError):
            hours = "a day"
        return (f"Xero's daily limit of {DAILY_LIMIT:,} requests for organisation {tenant_id} is used up; nothing "
                f"was written: sync again in {hours} (Xero's Retry-After)")
    return refuse


class _PatientPool(urllib3.PoolManager):
    """The pool the SDK's REST client sends through: every request under the patience policy
    (urllib3's own retries off, so each attempt is counted and every wait is told), with the body
    read inside the attempt so a cut-off answer is a dropped connection. After each answer the
    rate-limit headers are noted; when none of this minute's requests are left, the next one
    waits a minute first instead of being refused."""

    def __init__(self, patience: Patience, **pool_options):
        super().__init__(**pool_options)
        self.patience = patience
        self.limits: dict[str, int] = {}

    def _note(self, response) -> None:
        for header in ("X-DayLimit-Remaining", "X-MinLimit-Remaining", "X-AppMinLimit-Remaining"):
            try:
                self.limits[header] = int(response.headers[header])
            except (KeyError, TypeError, ValueError):
                pass

    def urlopen(self, method, url, redirect=True, **kw):
        kw["retries"] = False
        kw["timeout"] = kw.get("timeout") or urllib3.Timeout(total=self.patience.timeout)
        if 0 in (self.limits.get("X-MinLimit-Remaining"), self.limits.get("X-AppMinLimit-Remaining")):
            self.limits.pop("X-MinLimit-Remaining", None)
            self.limits.pop("X-AppMinLimit-Remaining", None)
            self.patience.wait(self.patience.throttle_wait, "Xero's limit of requests a minute is reached")

        def attempt():
            response = super(_PatientPool, self).urlopen(method, url, redirect, **kw)
            response.data  # noqa: B018 (read now, inside the attempt)
            self._note(response)
            return response

        return self.patience.send(_endpoint(url), attempt, status=lambda r: r.status, headers=lambda r: r.headers,
                                  failure=_failure)


def _client(settings: XeroSettings, patience: Patience, token: Callable[[], dict],
            saved: Callable[[dict], None]) -> tuple[ApiClient, _PatientPool]:
    configuration = Configuration()  # the SDK hands out copies of one default: set ours on the copy
    configuration.oauth2_token = _XeroToken(settings)
    client = ApiClient(configuration, oauth2_token_getter=token, oauth2_token_saver=saved)
    pool = _PatientPool(patience, num_pools=4, **client.rest_client.pool_manager.connection_pool_kw)
    client.rest_client.pool_manager = pool
    return client, pool


class _XeroToken(OAuth2Token):
    """The SDK's token, refreshed at the token endpoint the settings name."""

    def __init__(self, settings: XeroSettings):
        super().__init__(settings.client_id, settings.client_secret)
        self.token_url = settings.token_url

    def call_refresh_token_api(self, token_api):
        token_api.refresh_token_url = self.token_url
        return super().call_refresh_token_api(token_api)


def _json(endpoint: str, response) -> Any:
    try:
        return json.loads(response.data, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise SyncError(f"Xero's answer to the {endpoint} request was not valid JSON (cut off, or an error page); "
                        "nothing was written, try again") from None


def _problem(exc: ApiException) -> str:
    """What Xero said: its validation Message, its gateway's Detail or Title, or the page's text."""
    try:
        body = json.loads(exc.body or b"")
        text = body.get("Message") or body.get("Detail") or body.get("Title") or body.get("error") or ""
        elements = [e for element in body.get("Elements", []) for e in element.get("ValidationErrors", [])]
        text += "".join(f"; {e.get('Message')}" for e in elements[:3])
    except (ValueError, AttributeError, TypeError):
        text = (exc.body or b"").decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body or "")
    text = " ".join(text.split())
    return text[:160] + ("…" if len(text) > 160 else "") or f"HTTP {exc.status}"


# --- signing in ----------------------------------------------------------------------------------


def authorization_url(settings: XeroSettings) -> str:
    """Where the user signs in to Xero and picks the organisations to connect; the link carries a
    fresh OAuth `state`, kept so the redirect can be checked against it."""
    state = secrets.token_urlsafe(24)
    settings.tokens.begin_sign_in(SOURCE, state)
    return settings.login_url + "?" + urlencode({"response_type": "code", "client_id": settings.client_id,
                                                 "redirect_uri": settings.redirect_uri, "scope": " ".join(SCOPES),
                                                 "state": state})


def connect_with_redirect(settings: XeroSettings, redirect_url: str) -> str:
    """Finish the code flow from the address Xero redirected to: exchange the code, ask the
    connections endpoint which organisations the sign-in connected, keep the refresh token for
    each (one token serves them all). Returns the organisations connected, comma-separated."""
    query = {key: values[0] for key, values in parse_qs(urlparse(redirect_url).query).items()}
    if "error" in query:
        raise SyncError(f"Xero did not connect ({query['error']}): sign in again and allow access")
    if "code" not in query:
        raise SyncError("that address has no authorization code: paste the whole address Xero redirected to")
    expected = settings.tokens.sign_in_state(SOURCE)
    if expected is None or query.get("state") != expected:
        raise SyncError("that address does not answer the sign-in link ledgerlight gave last (its state does not match): "
                        "get a new link with `python -m etl connect xero` and sign in again")
    session = _Session(settings)
    tokens = session.exchange(query["code"])
    tenants = session.organisations()
    if not tenants:
        raise SyncError("the sign-in connected no Xero organisation: sign in again and choose one")
    if settings.tenant_id and settings.tenant_id not in tenants:
        listed = ", ".join(f"{tenant} ({name})" for tenant, name in tenants.items())
        raise SettingsError(f"you connected Xero organisations {listed}, but XERO_TENANT_ID is {settings.tenant_id}: "
                            f"set XERO_TENANT_ID to one of them, or sign in again and choose organisation {settings.tenant_id}")
    for tenant in tenants:
        settings.tokens.put(SOURCE, tenant, tokens["refresh_token"], REFRESH_TOKEN_SECONDS)
    settings.tokens.end_sign_in(SOURCE)
    return ", ".join(tenants)


def is_connected(settings: XeroSettings) -> bool:
    return settings.tenant_id is not None and bool(settings.tokens.get(SOURCE, settings.tenant_id) or settings.refresh_token)


def saved_token(settings: XeroSettings) -> Connection | None:
    """When the organisation's refresh token was saved and when it lapses unless used."""
    return next((c for c in settings.tokens.connections(SOURCE) if c.company_id == settings.tenant_id), None)


def check_connection(settings: XeroSettings) -> str:
    """Prove the stored refresh token works (it rotates) and the organisation is still connected."""
    connection = XeroConnection(settings)
    tenants = connection.organisations()
    if settings.tenant_id not in tenants:
        raise SettingsError(f"Xero organisation {settings.tenant_id} is no longer connected to this app: "
                            "reconnect with `python -m etl connect xero`")
    return f"Xero organisation {settings.tenant_id} ({tenants[settings.tenant_id]}) is connected; the refresh token is stored."


# --- the client ----------------------------------------------------------------------------------


class _Session:
    """The SDK's ApiClient under the patience policy, with the token in memory."""

    def __init__(self, settings: XeroSettings, tell: Callable[[str], None] = lambda text: None):
        self.settings = settings
        self.patience = Patience.of("Xero", settings, tell, refuse=_daily_limit(settings.tenant_id or "?"))
        self.requests = self.patience.attempts
        self.token: dict = {}
        self.client, self.pool = _client(settings, self.patience, lambda: self.token, self._saved)
        self.identity = IdentityApi(self.client, base_url=settings.api_url.rstrip("/"))

    def _saved(self, token: dict) -> None:
        self.token = token

    def _post_token(self, form: dict) -> dict:
        """The token endpoint, with the client's credentials as HTTP Basic (Xero's code exchange)."""
        basic = base64.b64encode(f"{self.settings.client_id}:{self.settings.client_secret}".encode()).decode()
        try:
            response, _, _ = self.client.call_api(
                self.settings.token_url, "POST", post_params=form, auth_settings=None, _preload_content=False,
                header_params={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded",
                               "Authorization": f"Basic {basic}"})
        except ApiException as exc:
            raise SyncError(f"Xero refused the authorization code ({_problem(exc)}); sign in again") from None
        except urllib3.exceptions.HTTPError as exc:
            raise SyncError(f"Xero's answer to the sign-in was lost ({type(exc).__name__}); sign in again") from None
        return _json("token", response)

    def exchange(self, code: str) -> dict:
        tokens = self._post_token({"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": self.settings.redirect_uri})
        self.token = {**tokens, "scope": str(tokens.get("scope", "")).split(), "expires_at": None}
        return tokens

    def organisations(self) -> dict[str, str]:
        """The organisations (tenants) this token reaches, by tenant id, with their names."""
        connections = self.call("connections", lambda: self.identity.get_connections(_preload_content=False))
        return {c["tenantId"]: c.get("tenantName") or c["tenantId"] for c in connections
                if c.get("tenantType", "ORGANISATION") == "ORGANISATION"}

    def refresh(self) -> None:
        raise SyncError("Xero refused the access token it had just issued: sign in again")

    def call(self, endpoint: str, request: Callable[[], Any]) -> Any:
        for attempt in (1, 2):
            try:
                return _json(endpoint, request())
            except ApiException as exc:
                if exc.status == 401 and attempt == 1:
                    self.refresh()
                    continue
                raise self._refusal(endpoint, exc) from None
            except urllib3.exceptions.HTTPError as exc:
                raise SyncError(f"network error during the {endpoint} request: {type(exc).__name__}") from None
        raise AssertionError("unreachable")

    def _refusal(self, endpoint: str, exc: ApiException) -> Exception:
        tenant = self.settings.tenant_id
        if exc.status == 401:
            return SyncError(f"Xero refused the access token twice ({_problem(exc)}); reconnect with "
                             "`python -m etl connect xero`")
        if exc.status == 403:
            return SettingsError(f"Xero refused access to organisation {tenant} (HTTP 403, {_problem(exc)}): it is not "
                                 "connected to this app, or XERO_TENANT_ID names another; check XERO_TENANT_ID or "
                                 "reconnect with `python -m etl connect xero`")
        if exc.status == 429:
            return SyncError(f"Xero kept throttling the {endpoint} request after {self.patience.waited:.0f} s of "
                             "waiting; nothing was written, try again later")
        return SyncError(f"Xero answered the {endpoint} request with HTTP {exc.status}: {_problem(exc)}")


class XeroConnection(_Session):
    """An authenticated client for one organisation: patient requests, rotating tokens saved
    before use (for every organisation the token serves), one refresh on a 401, and a count of
    every request made per endpoint (retries too)."""

    def __init__(self, settings: XeroSettings, tell: Callable[[str], None] = lambda text: None):
        if settings.tenant_id is None:
            raise SettingsError("no Xero organisation is connected yet: run `python -m etl connect xero` "
                                "(or set XERO_TENANT_ID and XERO_REFRESH_TOKEN)")
        super().__init__(settings, tell)
        self.tenant, self.store = settings.tenant_id, settings.tokens
        self.accounting = AccountingApi(self.client, base_url=settings.accounting_url)
        self._renew()

    def _renew(self) -> None:
        """Refresh from the newest saved token, holding the sign-in's lock: one Xero token serves
        every organisation of a sign-in, and another run may have rotated it."""
        with self.store.locked(SOURCE, "sign-in", self.patience.tell):
            refresh_token = self.store.get(SOURCE, self.tenant) or self.settings.refresh_token
            if not refresh_token:
                raise SettingsError(f"no refresh token for Xero organisation {self.tenant}: set XERO_REFRESH_TOKEN "
                                    "or run `python -m etl connect xero`")
            self._refresh_with(refresh_token, fallback=self.store.previous(SOURCE, self.tenant))

    def _token_of(self, refresh_token: str) -> dict:
        return {"access_token": None, "refresh_token": refresh_token, "scope": list(SCOPES), "expires_in": 0,
                "token_type": "Bearer", "expires_at": 0}

    def _refresh_with(self, refresh_token: str, fallback: str | None = None) -> None:
        self.token = self._token_of(refresh_token)
        try:
            self.client.refresh_oauth2_token()
        except ApiException as exc:
            if exc.status == 400 and fallback and fallback != refresh_token:
                return self._refresh_with(fallback)  # the token it replaced, if a crash lost the newest
            raise SyncError(f"Xero refused the refresh token for organisation {self.tenant} ({_problem(exc)}); "
                            "reconnect with `python -m etl connect xero`") from None
        except (urllib3.exceptions.HTTPError, ValueError) as exc:  # a dropped or cut-off answer
            raise SyncError(f"Xero's answer to the token request was lost ({type(exc).__name__}); the stored token was "
                            "kept: try again (Xero accepts it for 30 minutes more)") from None

    def _saved(self, token: dict) -> None:
        """Saved before any use, for every organisation the old token served: Xero rotates one
        refresh token per sign-in, and soon refuses the old one."""
        old = self.token.get("refresh_token")
        self.token = token
        new = token["refresh_token"]
        for connection in self.store.connections(SOURCE):
            if connection.company_id == self.tenant or self.store.get(SOURCE, connection.company_id) == old:
                self.store.put(SOURCE, connection.company_id, new, REFRESH_TOKEN_SECONDS)
        if not any(c.company_id == self.tenant for c in self.store.connections(SOURCE)):
            self.store.put(SOURCE, self.tenant, new, REFRESH_TOKEN_SECONDS)

    def refresh(self) -> None:
        self._renew()

    @property
    def day_requests_left(self) -> int | None:
        return self.pool.limits.get("X-DayLimit-Remaining")

    def read(self, endpoint: str, method: str, **params) -> dict:
        """One request of the Accounting API for this organisation, as the JSON Xero sent."""
        call = getattr(self.accounting, method)
        return self.call(endpoint, lambda: call(self.tenant, _preload_content=False, **params))

    def read_pages(self, endpoint: str, method: str, key: str, since: datetime | None = None,
                   on_page: Callable[[int], None] = lambda n: None, **params) -> tuple[list[dict], str | None]:
        """Every record of a paged list (changed since `since`, if given); also the server's
        DateTimeUTC of the first page."""
        records, page, server_time = [], 1, None
        if since is not None:
            params["if_modified_since"] = since
        while True:
            body = self.read(endpoint, method, page=page, page_size=PAGE_SIZE, **params)
            server_time = server_time or body.get("DateTimeUTC")
            batch = body.get(key) or []
            records.extend(batch)
            on_page(len(records))
            if len(batch) < PAGE_SIZE:
                return records, server_time
            page += 1

    def aged_receivables(self, contact_id: str, report_date: date) -> dict:
        return self.read("reports", "get_report_aged_receivables_by_contact", contact_id=contact_id, date=report_date)


# What the CLI and the Data & sync page need to connect one (etl/batch.py Connector).
CONNECTOR = Connector(settings=read_settings, status=settings_status, is_connected=is_connected,
                      authorization_url=authorization_url, connect=connect_with_redirect, check=check_connection,
                      saved_token=saved_token, warn_days=TOKEN_WARNING_DAYS)
