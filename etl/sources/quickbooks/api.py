"""Talking to QuickBooks Online: settings, sign-in, and an authenticated client with retries,
timeouts and rotating refresh tokens (../shared/spec/quickbooks.md).

The real `intuitlib` and `python-quickbooks` clients do the talking. Two things are ours: the
HTTP session of python-quickbooks is a plain `requests.Session` carrying the bearer token (its
OAuth2Session would refuse a plain-http test server unless the process environment were
changed), with urllib3 retries and a timeout mounted on it; and every rotated refresh token is
saved before it is used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlparse

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from core.errors import SettingsError, SyncError
from core.settings import Settings, settings as current_settings
from core.tokens import TokenStore

SOURCE = "quickbooks"
PAGE_SIZE = 1000  # the API's maximum
MINOR_VERSION = 75


@dataclass(frozen=True)
class QuickBooksSettings:
    client_id: str
    client_secret: str
    redirect_uri: str
    realm_id: str
    environment: str = "production"
    api_base: str | None = None
    refresh_token: str | None = None
    company_name: str | None = None
    home_currency: str = "USD"
    token_folder: Path | None = None
    backoff: float = 1.0  # seconds, doubled per retry

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
_REQUIRED = ("client_id", "client_secret", "redirect_uri", "realm_id")


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
    return QuickBooksSettings(**present, token_folder=reader.token_folder())


def settings_status(reader: Settings | None = None) -> dict[str, bool]:
    """Which settings are present, by variable name (values never leave the settings reader)."""
    return (reader or current_settings()).present(SETTING_NAMES.values())


class _TimeoutAdapter(HTTPAdapter):
    """python-quickbooks sets no timeout; a stalled server must not hang a sync forever."""

    def __init__(self, timeout: float, **kwargs):
        self.timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return super().send(request, **kwargs)


def retrying_adapter(timeout: float = 60, backoff: float = 1.0, attempts: int = 5) -> HTTPAdapter:
    """Retry throttling (429) and server errors (5xx) with backoff honouring Retry-After.
    Queries are POSTs, which urllib3 does not retry unless told: they only read."""
    retry = Retry(
        total=attempts, connect=2, read=2, status=attempts, backoff_factor=backoff, backoff_max=60,
        status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"GET", "POST"}),
        respect_retry_after_header=True, raise_on_status=False,
    )
    return _TimeoutAdapter(timeout, max_retries=retry)


class _BearerSession(requests.Session):
    """The session python-quickbooks sends its requests through: it reads `access_token`."""

    def __init__(self, access_token: str, adapter: HTTPAdapter):
        super().__init__()
        self.access_token = access_token
        self.mount("https://", adapter)
        self.mount("http://", adapter)


def _auth_client(settings: QuickBooksSettings) -> AuthClient:
    try:
        return AuthClient(settings.client_id, settings.client_secret, settings.redirect_uri, settings.environment)
    except (requests.RequestException, AuthClientError, ValueError) as exc:
        raise SettingsError(
            f"could not reach the OAuth discovery document for QBO_ENVIRONMENT={settings.environment!r} "
            f"({type(exc).__name__}). Use 'sandbox', 'production' or a discovery-document URL."
        ) from None


def authorization_url(settings: QuickBooksSettings) -> str:
    """Where the user signs in to QuickBooks and picks the company to connect."""
    return _auth_client(settings).get_authorization_url([Scopes.ACCOUNTING])


def connect_with_redirect(settings: QuickBooksSettings, redirect_url: str) -> str:
    """Finish the authorization-code flow from the URL QuickBooks redirected to; returns the realm id."""
    query = parse_qs(urlparse(redirect_url).query)
    if "code" not in query:
        raise SyncError("that URL has no authorization code: paste the whole address QuickBooks redirected to")
    realm = query.get("realmId", [settings.realm_id])[0]
    auth = _auth_client(settings)
    try:
        auth.get_bearer_token(query["code"][0], realm_id=realm)
    except AuthClientError as exc:
        raise SyncError(f"QuickBooks refused the authorization code (HTTP {exc.status_code}); sign in again") from None
    settings.tokens.put(SOURCE, realm, auth.refresh_token)
    return realm


def is_connected(settings: QuickBooksSettings) -> bool:
    return bool(settings.tokens.get(SOURCE, settings.realm_id) or settings.refresh_token)


def check_connection(settings: QuickBooksSettings) -> str:
    """Prove the stored refresh token works (it rotates); say so."""
    QuickBooksConnection(settings)
    return f"QuickBooks company {settings.realm_id} is connected; the refresh token is stored."


class QuickBooksConnection:
    """An authenticated python-quickbooks client: retries, timeouts, rotating tokens saved
    before use, one refresh on a 401, and a count of the requests made per endpoint."""

    def __init__(self, settings: QuickBooksSettings, timeout: float = 60):
        self.settings, self.store = settings, settings.tokens
        self.requests: Counter = Counter()
        self.auth = _auth_client(settings)
        token = self.store.get(SOURCE, settings.realm_id) or settings.refresh_token
        if not token:
            raise SettingsError(
                f"no refresh token for QuickBooks company {settings.realm_id}: set QBO_REFRESH_TOKEN "
                "or run `python -m etl connect quickbooks`"
            )
        self._refresh(token)
        self.client = QuickBooks(
            auth_client=self.auth, refresh_token=self.auth.refresh_token, company_id=settings.realm_id,
            minorversion=MINOR_VERSION, use_decimal=True,
        )
        self.client.session = _BearerSession(self.auth.access_token, retrying_adapter(timeout, settings.backoff))
        if settings.api_base:
            self.client.api_url_v3 = self.client.sandbox_api_url_v3 = settings.api_base.rstrip("/")

    def _refresh(self, token: str | None = None) -> None:
        try:
            self.auth.refresh(refresh_token=token)
        except AuthClientError as exc:
            raise SyncError(
                f"QuickBooks refused the refresh token for company {self.settings.realm_id} "
                f"(HTTP {exc.status_code}); reconnect with `python -m etl connect quickbooks`"
            ) from None
        # Saved before any use: the old token stops working soon after a rotation.
        self.store.put(SOURCE, self.settings.realm_id, self.auth.refresh_token)
        if getattr(self, "client", None):
            self.client.session.access_token = self.auth.access_token

    def _call(self, endpoint: str, request: Callable[[], dict]) -> dict:
        for attempt in (1, 2):
            self.requests[endpoint] += 1
            try:
                return request()
            except AuthorizationException as exc:
                if exc.error_code != 401 or attempt == 2:
                    raise SyncError(
                        f"QuickBooks refused access to company {self.settings.realm_id}: {exc.message}. "
                        "Check QBO_REALM_ID and reconnect with `python -m etl connect quickbooks`."
                    ) from None
                self._refresh()
            except QuickbooksException as exc:
                if exc.error_code == 3100:  # the app has no access to this realm
                    raise SettingsError(
                        f"QuickBooks refused access to company {self.settings.realm_id} (code 3100): check "
                        "QBO_REALM_ID, or connect that company with `python -m etl connect quickbooks`"
                    ) from None
                if exc.message.startswith("Error reading json response"):  # cut off, or an HTML/XML page
                    raise SyncError(f"QuickBooks' answer to the {endpoint} request was not valid JSON "
                                    "(cut off, or an error page); nothing was written, try again") from None
                raise SyncError(f"QuickBooks answered the {endpoint} request with an error: {_short(exc.message)}") from None
            except requests.RequestException as exc:
                raise SyncError(f"network error during the {endpoint} request: {type(exc).__name__}") from None
        raise AssertionError("unreachable")

    def query_all(self, entity: str, on_page: Callable[[int], None] = lambda n: None) -> tuple[list[dict], str]:
        """Every record of `entity`, paged; also the server time of the first page."""
        where = " WHERE Active IN (true, false)" if entity == "Customer" else ""  # else only active ones
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

    def aged_receivables(self, report_date: date) -> dict:
        return self._call("report", lambda: self.client.get_report(
            "AgedReceivables", {"report_date": report_date.isoformat(), "aging_method": "Report_Date"}))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"
