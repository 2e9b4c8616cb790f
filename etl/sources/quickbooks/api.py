"""Talking to QuickBooks Online: settings, sign-in, and an authenticated client that waits out
throttling, retries what is worth retrying, times out, and saves every rotated refresh token
before using it (../shared/spec/quickbooks.md, docs/sources/quickbooks.md).

The real `intuitlib` and `python-quickbooks` clients do the talking. What is ours: both send
their requests through a `requests.Session` with the shared patience policy (etl/patience.py),
and the session python-quickbooks uses is a plain one carrying the bearer token (its OAuth2Session
would refuse a plain-http test server unless the process environment were changed).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlparse

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import AuthorizationException, QuickbooksException

from core.errors import SettingsError, SyncError
from core.settings import Settings, settings as current_settings
from core.tokens import Connection, TokenStore
from etl.batch import Connector
from etl.patience import CONNECTION_TRIES, Patience  # noqa: F401 (tests read CONNECTION_TRIES here)

SOURCE = "quickbooks"
PAGE_SIZE = 1000  # the API's maximum
MINOR_VERSION = 75
ENVIRONMENTS = ("production", "sandbox")
# QuickBooks' own advice to a throttled client: wait 60 s. Its refresh tokens lapse after 100
# days unused; warn when fewer than this many days are left.
THROTTLE_WAIT_SECONDS = 60.0
RETRY_AFTER_CAP_SECONDS = 120.0
TOKEN_WARNING_DAYS = 14


@dataclass(frozen=True)
class QuickBooksSettings:
    client_id: str
    client_secret: str
    redirect_uri: str
    realm_id: str | None = None  # None: the one company connected so far, if there is one
    environment: str = "production"
    api_base: str | None = None
    refresh_token: str | None = None
    company_name: str | None = None
    home_currency: str | None = None
    token_folder: Path | None = None
    backoff: float = 1.0  # seconds before the first retry of a server error, doubled each time
    throttle_wait: float = THROTTLE_WAIT_SECONDS  # a 429 without Retry-After waits this long
    retry_after_cap: float = RETRY_AFTER_CAP_SECONDS  # a longer Retry-After is cut to this
    wait_budget: float = 900.0  # seconds a sync may spend waiting on QuickBooks in all
    timeout: float = 60.0  # seconds one request may take

    def __repr__(self) -> str:  # never show the secret or the token
        return f"QuickBooksSettings(realm_id={self.realm_id!r}, environment={self.environment!r})"

    @property
    def tokens(self) -> TokenStore:
        return TokenStore(self.token_folder)


SETTING_NAMES = {
    "client_id": "QBO_CLIENT_ID", "client_secret": "QBO_CLIENT_SECRET", "redirect_uri": "QBO_REDIRECT_URI",
    "realm_id": "QBO_REALM_ID", "environment": "QBO_ENVIRONMENT", "api_base": "QBO_API_BASE",
    "refresh_token": "QBO_REFRESH_TOKEN", "company_name": "QBO_COMPANY_NAME", "home_currency": "QBO_HOME_CURRENCY",
}
_REQUIRED = ("client_id", "client_secret", "redirect_uri")


def _environment(value: str) -> str:
    """'production', 'sandbox' (any case: intuitlib and python-quickbooks must agree on which), or
    the URL of an OpenID discovery document."""
    if value.lower() in ENVIRONMENTS:
        return value.lower()
    if urlparse(value).scheme in ("http", "https") and urlparse(value).netloc:
        return value
    raise SettingsError(f"QBO_ENVIRONMENT={value!r} is not 'production', 'sandbox' or the URL of an OpenID "
                        "discovery document: fix it in the environment or .streamlit/secrets.toml")


def read_settings(reader: Settings | None = None) -> QuickBooksSettings:
    """QuickBooks settings from the settings reader (environment, then .streamlit/secrets.toml)."""
    reader = reader or current_settings()
    values = {name: reader.get(variable) for name, variable in SETTING_NAMES.items()}
    missing = [SETTING_NAMES[name] for name in _REQUIRED if values[name] is None]
    if missing:
        raise SettingsError(
            f"QuickBooks is not configured: set {', '.join(missing)} (environment variables or "
            ".streamlit/secrets.toml). See docs/sources/quickbooks.md, 'Connect a company'."
        )
    present = {name: value for name, value in values.items() if value is not None}
    if "environment" in present:
        present["environment"] = _environment(present["environment"])
    if "realm_id" not in present:
        present["realm_id"] = TokenStore(reader.token_folder()).only_connection(SOURCE, "QuickBooks companies", "QBO_REALM_ID")
    return QuickBooksSettings(**present, token_folder=reader.token_folder())


def settings_status(reader: Settings | None = None) -> dict[str, bool]:
    """Which settings are present, by variable name (values never leave the settings reader)."""
    return (reader or current_settings()).present(SETTING_NAMES.values())


# --- patience: throttling, server errors, dropped connections, timeouts (etl/patience.py)


def patience_of(settings: "QuickBooksSettings", tell: Callable[[str], None] = lambda text: None) -> Patience:
    return Patience.of("QuickBooks", settings, tell)


def _endpoint(url: str) -> str:
    path = urlparse(url).path
    for marker, name in (("/query", "query"), ("/cdc", "cdc"), ("/reports/", "report"), ("/token", "token"),
                         ("openid", "discovery")):
        if marker in path:
            return name
    return "other"


def _failure(exc: BaseException) -> str | None:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return "dropped"
    return None


class _Patient(requests.Session):
    """Every request goes through the shared patience policy, with QuickBooks' 60 s when a 429
    names no Retry-After."""

    patience: Patience

    def send(self, request, **kwargs):
        kwargs["timeout"] = kwargs.get("timeout") or self.patience.timeout
        return self.patience.send(_endpoint(request.url), lambda: super(_Patient, self).send(request, **kwargs),
                                  status=lambda r: r.status_code, headers=lambda r: r.headers, failure=_failure)


class _BearerSession(_Patient):
    """The session python-quickbooks sends its requests through: it reads `access_token`."""

    def __init__(self, access_token: str, patience: Patience):
        self.patience = patience
        super().__init__()
        self.access_token = access_token


class _PatientAuthClient(_Patient, AuthClient):
    """intuitlib's AuthClient (a requests.Session itself) with the same patience for token calls."""

    def __init__(self, settings: QuickBooksSettings, patience: Patience):
        self.patience = patience
        super().__init__(settings.client_id, settings.client_secret, settings.redirect_uri, settings.environment)


def _auth_client(settings: QuickBooksSettings, patience: Patience | None = None) -> AuthClient:
    try:
        return _PatientAuthClient(settings, patience or patience_of(settings))
    except (requests.RequestException, AuthClientError, ValueError, KeyError) as exc:
        raise SettingsError(
            f"could not read the OAuth discovery document for QBO_ENVIRONMENT={settings.environment!r} "
            f"({type(exc).__name__}). Use 'sandbox', 'production' or a discovery-document URL."
        ) from None


# --- signing in ----------------------------------------------------------------------------------


def authorization_url(settings: QuickBooksSettings) -> str:
    """Where the user signs in to QuickBooks and picks the company to connect. The link carries a
    fresh OAuth `state`, kept so the redirect can be checked against it."""
    state = secrets.token_urlsafe(24)
    settings.tokens.begin_sign_in(SOURCE, state)
    return _auth_client(settings).get_authorization_url([Scopes.ACCOUNTING], state_token=state)


def connect_with_redirect(settings: QuickBooksSettings, redirect_url: str) -> str:
    """Finish the authorization-code flow from the URL QuickBooks redirected to; returns the
    company (realm) the user signed in to, which is the one the token is kept for."""
    query = {key: values[0] for key, values in parse_qs(urlparse(redirect_url).query).items()}
    if "error" in query:
        raise SyncError(f"QuickBooks did not connect ({query['error']}): sign in again and allow access")
    if "code" not in query or "realmId" not in query:
        raise SyncError("that URL has no authorization code and company: paste the whole address QuickBooks redirected to")
    expected = settings.tokens.sign_in_state(SOURCE)
    if expected is None or query.get("state") != expected:
        raise SyncError("that address does not answer the sign-in link ledgerlight gave last (its state does not match): "
                        "get a new link with `python -m etl connect quickbooks` and sign in again")
    realm = query["realmId"]
    if settings.realm_id and settings.realm_id != realm:
        raise SettingsError(f"you signed in to QuickBooks company {realm}, but QBO_REALM_ID is {settings.realm_id}: "
                            f"set QBO_REALM_ID={realm}, or sign in to company {settings.realm_id}")
    auth = _auth_client(settings)
    try:
        auth.get_bearer_token(query["code"], realm_id=realm)
    except AuthClientError as exc:
        raise SyncError(f"QuickBooks refused the authorization code (HTTP {exc.status_code}); sign in again") from None
    except requests.RequestException as exc:
        raise SyncError(f"QuickBooks' answer to the sign-in was lost ({type(exc).__name__}); sign in again") from None
    settings.tokens.put(SOURCE, realm, auth.refresh_token, auth.x_refresh_token_expires_in)
    settings.tokens.end_sign_in(SOURCE)
    return realm


def is_connected(settings: QuickBooksSettings) -> bool:
    return settings.realm_id is not None and bool(settings.tokens.get(SOURCE, settings.realm_id) or settings.refresh_token)


def saved_token(settings: QuickBooksSettings) -> Connection | None:
    """When the company's refresh token was saved and when it lapses unless used."""
    return next((c for c in settings.tokens.connections(SOURCE) if c.company_id == settings.realm_id), None)


def check_connection(settings: QuickBooksSettings) -> str:
    """Prove the stored refresh token works (it rotates); say so."""
    QuickBooksConnection(settings)
    return f"QuickBooks company {settings.realm_id} is connected; the refresh token is stored."


# --- the client ----------------------------------------------------------------------------------


class QuickBooksConnection:
    """An authenticated python-quickbooks client: patient requests, rotating tokens saved before
    use, one refresh on a 401, and a count of every request made per endpoint (retries too)."""

    def __init__(self, settings: QuickBooksSettings, tell: Callable[[str], None] = lambda text: None):
        if settings.realm_id is None:
            raise SettingsError("no QuickBooks company is connected yet: run `python -m etl connect quickbooks` "
                                "(or set QBO_REALM_ID and QBO_REFRESH_TOKEN)")
        self.settings, self.store = settings, settings.tokens
        self.patience = patience_of(settings, tell)
        self.requests = self.patience.attempts
        self.auth = _auth_client(settings, self.patience)
        self._renew()
        self.client = QuickBooks(
            auth_client=self.auth, refresh_token=self.auth.refresh_token, company_id=settings.realm_id,
            minorversion=MINOR_VERSION, use_decimal=True,
        )
        self.client.session = _BearerSession(self.auth.access_token, self.patience)
        self.client.sandbox = settings.environment == "sandbox"
        if settings.api_base:
            self.client.api_url_v3 = self.client.sandbox_api_url_v3 = settings.api_base.rstrip("/")

    def _renew(self) -> None:
        """Refresh from the newest saved token, holding it: another run may have rotated it."""
        realm = self.settings.realm_id
        with self.store.locked(SOURCE, realm, self.patience.tell):
            token = self.store.get(SOURCE, realm) or self.settings.refresh_token
            if not token:
                raise SettingsError(f"no refresh token for QuickBooks company {realm}: set QBO_REFRESH_TOKEN "
                                    "or run `python -m etl connect quickbooks`")
            self._refresh(token, fallback=self.store.previous(SOURCE, realm))

    def _refresh(self, token: str, fallback: str | None = None) -> None:
        try:
            self.auth.refresh(refresh_token=token)
        except AuthClientError as exc:
            if exc.status_code == 400 and fallback and fallback != token:
                return self._refresh(fallback)  # the token it replaced, if a crash lost the newest
            raise SyncError(
                f"QuickBooks refused the refresh token for company {self.settings.realm_id} "
                f"(HTTP {exc.status_code}); reconnect with `python -m etl connect quickbooks`"
            ) from None
        except (requests.RequestException, ValueError) as exc:  # a dropped or cut-off answer
            raise SyncError(
                f"QuickBooks' answer to the token request was lost ({type(exc).__name__}); the stored token was "
                "kept: try again"
            ) from None
        # Saved before any use: the old token stops working soon after a rotation.
        self.store.put(SOURCE, self.settings.realm_id, self.auth.refresh_token, self.auth.x_refresh_token_expires_in)
        if getattr(self, "client", None):
            self.client.session.access_token = self.auth.access_token

    def _call(self, endpoint: str, request: Callable[[], dict]) -> dict:
        for attempt in (1, 2):
            try:
                return request()
            except AuthorizationException as exc:
                if exc.error_code != 401 or attempt == 2:
                    raise SyncError(
                        f"QuickBooks refused access to company {self.settings.realm_id}: {exc.message}. "
                        "Check QBO_REALM_ID and reconnect with `python -m etl connect quickbooks`."
                    ) from None
                self._renew()
            except QuickbooksException as exc:
                if exc.error_code == 3100:  # the app has no access to this realm
                    raise SettingsError(
                        f"QuickBooks refused access to company {self.settings.realm_id} (code 3100): check "
                        "QBO_REALM_ID, or connect that company with `python -m etl connect quickbooks`"
                    ) from None
                if exc.error_code == 3001 or "429" in str(exc.message)[:60]:
                    raise SyncError(f"QuickBooks kept throttling the {endpoint} request after "
                                    f"{self.patience.waited:.0f} s of waiting; nothing was written, try again later") from None
                if exc.message.startswith("Error reading json response"):  # cut off, or an HTML/XML page
                    raise SyncError(f"QuickBooks' answer to the {endpoint} request was not valid JSON "
                                    "(cut off, or an error page); nothing was written, try again") from None
                raise SyncError(f"QuickBooks answered the {endpoint} request with an error: {_short(exc.message)}") from None
            except requests.RequestException as exc:
                raise SyncError(f"network error during the {endpoint} request: {type(exc).__name__}") from None
        raise AssertionError("unreachable")

    def query_all(self, entity: str, where: str = "", on_page: Callable[[int], None] = lambda n: None) -> tuple[list[dict], str]:
        """Every record of `entity` (matching `where`), paged; also the server time of the first page."""
        records, start, server_time = [], 1, None
        while True:
            statement = f"SELECT * FROM {entity}{where} ORDERBY Id STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"
            response = self._call("query", lambda: self.client.query(statement))
            server_time = server_time or response.get("time")
            page = response.get("QueryResponse", {}).get(entity, [])
            records.extend(page)
            on_page(len(records))
            if len(page) < PAGE_SIZE:
                return records, server_time
            start += PAGE_SIZE

    def changes_since(self, entities: tuple[str, ...], cursor: str) -> tuple[dict[str, list[dict]], str]:
        response = self._call("cdc", lambda: self.client.change_data_capture(",".join(entities), cursor))
        changed: dict[str, list[dict]] = {}
        for block in response.get("CDCResponse", []):
            for part in block.get("QueryResponse", []):
                for entity, records in part.items():
                    if isinstance(records, list):
                        changed.setdefault(entity, []).extend(records)
        return changed, response.get("time")

    def aged_receivables(self, report_date) -> dict:
        return self._call("report", lambda: self.client.get_report(
            "AgedReceivables", {"report_date": report_date.isoformat(), "aging_method": "Report_Date"}))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


# What the CLI and the Data & sync page need to connect one (etl/batch.py Connector).
CONNECTOR = Connector(settings=read_settings, status=settings_status, is_connected=is_connected,
                      authorization_url=authorization_url, connect=connect_with_redirect, check=check_connection,
                      saved_token=saved_token, warn_days=TOKEN_WARNING_DAYS)
