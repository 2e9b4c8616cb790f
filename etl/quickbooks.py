"""Source: QuickBooks Online, through python-quickbooks and intuit-oauth (../shared/spec/quickbooks.md).

A sync fetches everything it needs first, holding no database connection, then writes it in
one short transaction: DuckDB lets one process write at a time, and the dashboard in another
process must not be locked out for the length of a slow API conversation.

- Full sync: every Customer (active or not), Invoice, Payment, CreditMemo, Term, PaymentMethod
  and RecurringTransaction, paged 1,000 at a time, replacing the company's books.
- Incremental sync: one CDC request for everything changed since the last succeeded run's
  cursor (deletions are only visible there). Past CDC's 30-day window, or when a CDC block
  comes back full (1,000 objects), it falls back to a full sync, which also catches deletions.
- Each sync stores QuickBooks' own AgedReceivables for the sync date, for reconciliation.
- A file that held the demo company loses it: demo figures must never be summed with real ones.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable
from urllib.parse import parse_qs, urlparse

import pandas as pd
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from etl import quickbooks_mapping as mapping
from etl.db import PROJECT_ROOT, connect_for_write, query_frame
from etl.load import Company, load_run, mark_deleted, record_failed_run, remove_demo_company, replace_books, upsert_rows
from etl.tokens import TokenStore

SOURCE = "quickbooks"
PAGE_SIZE = 1000  # the API's maximum
CDC_WINDOW = timedelta(days=29)  # QuickBooks keeps 30 days of changes; leave a day's margin
MINOR_VERSION = 75
REFS = ("Term", "PaymentMethod")
BOOK_ENTITIES = ("Customer", "Invoice", "Payment", "CreditMemo", "RecurringTransaction")
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"


class SyncError(Exception):
    """A sync that could not finish; the message says what happened and what to do."""


class SettingsError(SyncError):
    """A missing or wrong setting; the message names it."""


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

    def __repr__(self) -> str:  # never show the secret or the token
        return f"QuickBooksSettings(realm_id={self.realm_id!r}, environment={self.environment!r})"


_SETTING_NAMES = {
    "client_id": "QBO_CLIENT_ID", "client_secret": "QBO_CLIENT_SECRET", "redirect_uri": "QBO_REDIRECT_URI",
    "realm_id": "QBO_REALM_ID", "environment": "QBO_ENVIRONMENT", "api_base": "QBO_API_BASE",
    "refresh_token": "QBO_REFRESH_TOKEN", "company_name": "QBO_COMPANY_NAME", "home_currency": "QBO_HOME_CURRENCY",
}
_REQUIRED = ("client_id", "client_secret", "redirect_uri", "realm_id")


def _configured(environ: dict | None, secrets_file) -> dict[str, str]:
    """Each QBO_* setting that is present, by variable name: the environment first, then
    `.streamlit/secrets.toml`."""
    environ = os.environ if environ is None else environ
    secrets = tomllib.loads(secrets_file.read_text()) if secrets_file and secrets_file.exists() else {}
    return {
        variable: str(environ.get(variable) or secrets.get(variable)).strip()
        for variable in _SETTING_NAMES.values()
        if environ.get(variable) or secrets.get(variable)
    }


def read_settings(environ: dict | None = None, secrets_file=SECRETS_FILE) -> QuickBooksSettings:
    """Settings from environment variables, falling back to `.streamlit/secrets.toml`."""
    present = _configured(environ, secrets_file)
    missing = [_SETTING_NAMES[name] for name in _REQUIRED if _SETTING_NAMES[name] not in present]
    if missing:
        raise SettingsError(
            f"QuickBooks is not configured: set {', '.join(missing)} (environment variables or "
            f".streamlit/secrets.toml). See the README's 'Connect QuickBooks Online'."
        )
    return QuickBooksSettings(**{name: present[variable] for name, variable in _SETTING_NAMES.items() if variable in present})


def settings_status(environ: dict | None = None, secrets_file=SECRETS_FILE) -> dict[str, bool]:
    """Which settings are present, by variable name (values never leave this module)."""
    present = _configured(environ, secrets_file)
    return {variable: variable in present for variable in _SETTING_NAMES.values()}


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


def _allow_plain_http_on_loopback(url: str | None) -> None:
    # requests-oauthlib refuses http:// unless told; only ever allowed for a local test server.
    if url and urlparse(url).scheme == "http" and urlparse(url).hostname in ("127.0.0.1", "localhost", "::1"):
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


def _auth_client(settings: QuickBooksSettings) -> AuthClient:
    _allow_plain_http_on_loopback(settings.environment)
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


def connect_with_redirect(settings: QuickBooksSettings, redirect_url: str, store: TokenStore) -> str:
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
    store.put(SOURCE, realm, auth.refresh_token)
    return realm


class QuickBooksConnection:
    """An authenticated python-quickbooks client: retries, timeouts, rotating tokens saved
    before use, one refresh on a 401, and a count of the requests made per endpoint."""

    def __init__(self, settings: QuickBooksSettings, store: TokenStore, backoff: float = 1.0, timeout: float = 60):
        self.settings, self.store = settings, store
        self.requests: Counter = Counter()
        _allow_plain_http_on_loopback(settings.api_base)
        self.auth = _auth_client(settings)
        token = store.get(SOURCE, settings.realm_id) or settings.refresh_token
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
        if settings.api_base:
            self.client.api_url_v3 = self.client.sandbox_api_url_v3 = settings.api_base.rstrip("/")
        adapter = retrying_adapter(timeout, backoff)
        self.client.session.mount("https://", adapter)
        self.client.session.mount("http://", adapter)

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
            self.client.session.token = {"access_token": self.auth.access_token, "token_type": "Bearer"}

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

    def changes_since(self, cursor: str) -> tuple[dict[str, list[dict]], str]:
        entities = ",".join(REFS + BOOK_ENTITIES)
        response = self._call("cdc", lambda: self.client.change_data_capture(entities, cursor))
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


# --- mapping fetched records into rows -------------------------------------------------------


def _refs_by_id(records: list[dict]) -> dict[str, dict]:
    return {record["Id"]: record for record in records if record.get("status") != "Deleted"}


def _book_frames(fetched: dict[str, list[dict]], refs: dict[str, dict[str, dict]], home: str) -> dict[str, pd.DataFrame]:
    live = {entity: [r for r in fetched.get(entity, []) if r.get("status") != "Deleted"] for entity in BOOK_ENTITIES}
    term_names = {ref_id: record.get("Name") for ref_id, record in refs["Term"].items()}
    schedules = [mapping.schedule_row(r, home) for r in live["RecurringTransaction"]]
    return {
        "customers": pd.DataFrame([mapping.customer_row(r, term_names, home) for r in live["Customer"]]),
        "invoices": pd.DataFrame([mapping.invoice_row(r, term_names, home) for r in live["Invoice"]]),
        "payments": pd.DataFrame([mapping.payment_row(r, refs["PaymentMethod"], home) for r in live["Payment"]]),
        "credit_memos": pd.DataFrame([mapping.credit_memo_row(r, home) for r in live["CreditMemo"]]),
        "applications": pd.DataFrame([a for r in live["Payment"] for a in mapping.payment_applications(r)]),
        "recurring_schedules": pd.DataFrame([s for s in schedules if s is not None]),
    }


def _refs_frame(fetched: dict[str, list[dict]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"entity": entity, "ref_id": r["Id"], "record": json.dumps(r, default=str)}
         for entity in REFS for r in fetched.get(entity, []) if r.get("status") != "Deleted"],
        columns=["entity", "ref_id", "record"],
    )


def _stored_refs(con, company: Company) -> dict[str, dict[str, dict]]:
    rows = query_frame(con, "SELECT entity, ref_id, record FROM source_refs WHERE source = $s AND company_id = $c",
                       {"s": company.source, "c": company.company_id})
    refs: dict[str, dict[str, dict]] = {entity: {} for entity in REFS}
    for row in rows.itertuples():
        refs[row.entity][row.ref_id] = json.loads(row.record)
    return refs


def _aging_rows(report: dict) -> pd.DataFrame:
    """AgedReceivables as rows of (customer_id, customer, bucket, amount): each customer's own
    row (sub-customers sit in their parent's Section) and the grand total with customer_id ''."""
    titles = [column.get("ColTitle", "") for column in report.get("Columns", {}).get("Column", [])]
    rows = []

    def add(cells: list[dict], customer_id: str) -> None:
        for title, cell in zip(titles[1:], cells[1:]):
            rows.append({"customer_id": customer_id, "customer": cells[0].get("value"), "bucket": title,
                         "amount": mapping.money(cell.get("value") or 0)})

    def add_customers(block: list[dict]) -> None:
        for row in block:
            if row.get("group") == "GrandTotal":
                add(row["Summary"]["ColData"], "")
            elif "Rows" in row:
                add_customers(row["Rows"].get("Row", []))
            elif "ColData" in row:
                add(row["ColData"], row["ColData"][0].get("id", ""))

    add_customers(report.get("Rows", {}).get("Row", []))
    return pd.DataFrame(rows, columns=["customer_id", "customer", "bucket", "amount"])


# --- the sync --------------------------------------------------------------------------------


@dataclass
class SyncResult:
    mode: str  # 'full' or 'incremental'
    counts: dict[str, int]
    requests: dict[str, int]
    report_date: date


def _last_cursor(db, company: Company) -> str | None:
    con = connect_for_write(db)  # creates or upgrades the file; held only for this read
    try:
        rows = con.execute(
            "SELECT cursor FROM sync_runs WHERE source = ? AND company_id = ? AND status = 'succeeded' "
            "AND cursor IS NOT NULL ORDER BY run_id DESC LIMIT 1",
            [company.source, company.company_id],
        ).fetchall()
    finally:
        con.close()
    return rows[0][0] if rows else None


def _cursor_is_fresh(cursor: str) -> bool:
    return datetime.now(timezone.utc) - datetime.fromisoformat(cursor) < CDC_WINDOW


def sync(
    db,
    settings: QuickBooksSettings,
    store: TokenStore | None = None,
    full: bool = False,
    report_date: date | None = None,
    progress: Callable[[float, str], None] = lambda fraction, text: None,
    backoff: float = 1.0,
) -> SyncResult:
    """Bring the company's books in `db` up to date with QuickBooks (see the module docstring)."""
    store = store or TokenStore()
    report_date = report_date or date.today()
    company = Company(SOURCE, settings.realm_id, settings.company_name or f"QuickBooks company {settings.realm_id}",
                      settings.home_currency, data_through=report_date)
    cursor = None if full else _last_cursor(db, company)
    mode = "incremental" if cursor and _cursor_is_fresh(cursor) else "full"
    connection = None
    try:
        progress(0.02, "Connecting to QuickBooks")
        connection = QuickBooksConnection(settings, store, backoff=backoff)
        fetched, new_cursor = {}, None
        if mode == "incremental":
            progress(0.1, "Fetching changes since the last sync")
            fetched, new_cursor = connection.changes_since(cursor)
            if any(len(records) >= PAGE_SIZE for records in fetched.values()):
                mode = "full"  # a full CDC block may be cut short: start over from a full read
        if mode == "full":
            fetched = {}
            entities = REFS + BOOK_ENTITIES
            for number, entity in enumerate(entities):
                progress(0.05 + 0.8 * number / len(entities), f"Fetching {entity} records")
                fetched[entity], server_time = connection.query_all(
                    entity, lambda n, e=entity: progress(0.05 + 0.8 * number / len(entities), f"Fetching {e}: {n:,}"))
                new_cursor = new_cursor or server_time
        progress(0.88, "Fetching QuickBooks' A/R aging for reconciliation")
        report = connection.aged_receivables(report_date)
    except SyncError as exc:
        requests_made = sum(connection.requests.values()) if connection else 0
        con = connect_for_write(db)
        try:
            record_failed_run(con, company, mode, str(exc), requests_made)
        finally:
            con.close()
        raise

    progress(0.92, "Writing to the database")
    con = connect_for_write(db)
    try:
        with load_run(con, company, mode) as run:
            run.cursor = new_cursor or datetime.now(timezone.utc).isoformat()
            run.requests = sum(connection.requests.values())
            remove_demo_company(con)
            upsert_rows(con, company, "source_refs", _refs_frame(fetched))
            refs = _stored_refs(con, company)
            books = _book_frames(fetched, refs, company.home_currency)
            if mode == "full":
                run.counts = replace_books(con, company, books)
            else:
                run.counts = _apply_changes(con, company, fetched, books)
            _store_source_aging(con, company, report_date, _aging_rows(report))
    finally:
        con.close()
    progress(1.0, "Sync finished")
    return SyncResult(mode, run.counts, dict(connection.requests), report_date)


def _apply_changes(con, company: Company, fetched: dict[str, list[dict]], books: dict[str, pd.DataFrame]) -> dict[str, int]:
    deleted = {entity: [r["Id"] for r in fetched.get(entity, []) if r.get("status") == "Deleted"] for entity in BOOK_ENTITIES}
    changed_payments = [r["Id"] for r in fetched.get("Payment", [])]
    # A changed or deleted payment's applications are replaced by what its lines say now.
    existing = query_frame(
        con, "SELECT application_id FROM applications WHERE source = $s AND company_id = $c AND list_contains($p, payment_id)",
        {"s": company.source, "c": company.company_id, "p": changed_payments},
    )["application_id"].tolist()
    mark_deleted(con, company, "applications", existing)
    counts = {table: upsert_rows(con, company, table, frame) for table, frame in books.items()}
    for entity, table in (("Invoice", "invoices"), ("Payment", "payments"), ("CreditMemo", "credit_memos"),
                          ("RecurringTransaction", "recurring_schedules")):
        counts[f"{table}_deleted"] = mark_deleted(con, company, table, deleted[entity])
    return counts


def _store_source_aging(con, company: Company, report_date: date, rows: pd.DataFrame) -> None:
    con.execute("DELETE FROM source_aging WHERE source = ? AND company_id = ? AND report_date = ?",
                [company.source, company.company_id, report_date])
    upsert_rows(con, company, "source_aging", rows.assign(report_date=report_date))
