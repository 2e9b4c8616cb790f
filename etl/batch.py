"""What a source declares and what it hands the pipeline (see etl/pipeline.py).

A source module only fetches and maps: it declares a `Source` (its entities, how each is written)
and a `fetch(settings, state, progress)` that returns one `Batch` of rows named like the canonical
tables. It never opens a write connection; `SourceState` lets it read what it needs of the books
as they stand (its cursor, its own earlier rows, the customers to match against).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import pandas as pd

from core.errors import InputError

Progress = Callable[[float, str], None]


def no_progress(fraction: float, text: str) -> None:
    """The default listener: nobody is watching."""


def stepped(progress: Progress) -> tuple[Progress, Callable[[str], None]]:
    """`progress` as a source reports its steps, and `tell(text)`: a line said at the point the
    last step reached (a wait on the source's API, told by etl/patience.py)."""
    reached = [0.0]

    def step(fraction: float, text: str) -> None:
        reached[0] = fraction
        progress(fraction, text)

    return step, lambda text: progress(reached[0], text)


def paid_in_full(invoices: pd.DataFrame, **columns) -> dict[str, pd.DataFrame]:
    """The canonical payments and applications of invoices each settled by one payment of its whole
    amount (what a ledger of invoices with a settled date says): `invoices` has invoice_id,
    customer_id, amount and settled_on; the payment P<invoice_id> on that day, applied to it as
    A<invoice_id>, stamped noon of that day. `columns`: more payment columns (e.g. currency)."""
    payment_ids = "P" + invoices["invoice_id"]
    settled = list(invoices["settled_on"])
    return {
        "payments": pd.DataFrame({
            "payment_id": payment_ids, "customer_id": invoices["customer_id"], "txn_date": settled,
            "amount": invoices["amount"], **columns,
            "updated_at": [datetime.combine(day, time(12)) for day in settled],
        }),
        "applications": pd.DataFrame({
            "application_id": "A" + invoices["invoice_id"], "invoice_id": invoices["invoice_id"],
            "payment_id": payment_ids, "applied_on": settled, "amount": invoices["amount"],
        }),
    }


def company_in_file(companies: pd.DataFrame, company_id: str | None = None) -> "Company":
    """The company a run writes to, of those the file holds: the one named, or the only one."""
    chosen = companies[companies["company_id"] == company_id] if company_id is not None else companies
    if len(chosen) == 1:
        row = chosen.iloc[0]
        return Company(row["source"], row["company_id"], row["name"], row["home_currency"],
                       None if pd.isna(row["data_through"]) else row["data_through"],
                       None if pd.isna(row.get("snapshot_on")) else row.get("snapshot_on"))
    listed = ", ".join(companies["company_id"]) or "none"
    if company_id is not None and chosen.empty:
        raise InputError(f"no company {company_id!r} in this database (companies: {listed}); pass one with --company")
    if companies.empty:
        raise InputError("the database holds no company yet: run `python -m etl demo` or a sync first")
    raise InputError(f"the database holds several companies ({listed}); choose one with --company ID")


@dataclass(frozen=True)
class Company:
    """Whose books: (source, company_id) is part of every canonical row's key. `snapshot_on`: the
    books are a report of what was open on that date, not a history (what a source of such
    reports declares; metrics.snapshot_limit says what can be known from them)."""

    source: str
    company_id: str
    name: str
    home_currency: str = "USD"
    data_through: date | None = None
    snapshot_on: date | None = None


@dataclass(frozen=True)
class Entity:
    """One canonical table a source writes.

    `key`: the natural key after (source, company_id). `disposition`: 'replace' — a complete
    batch is the whole truth for the source's rows, so they are replaced; 'merge' — rows are
    upserted by key and `Batch.deleted` removes some. `owned`: the rows of the table that are
    this source's, beyond the company (e.g. `(("origin", "autopay_roster"),)` in a table several
    sources share); nothing else is ever touched. `made_by`: the column naming the source record a
    row was derived from (a QuickBooks payment's applications, a journal entry's A/R items): in a
    batch that is not complete, every row made by a record the batch read (`Batch.remade`) is
    replaced by the batch's. `cursor`: the field incremental reads follow, for the docs.
    """

    table: str
    key: tuple[str, ...]
    disposition: str = "replace"
    owned: tuple[tuple[str, str], ...] = ()
    made_by: str | None = None
    cursor: str | None = None

    def __post_init__(self) -> None:
        if self.disposition not in ("replace", "merge"):
            raise ValueError(f"{self.table}: disposition must be 'replace' or 'merge'")


@dataclass
class Batch:
    """Everything one run of a source read: rows per table, natural keys deleted at the source
    (one DataFrame of key columns per table), the source records it read again whose derived rows
    it replaces (`remade`, e.g. 'Payment:77'), the cursor the next incremental run starts from,
    and the source's own A/R aging if it has one (report_date, customer_id, customer, bucket,
    amount). `complete`: the batch holds all of the source's rows, not only changes. `kind`
    names the run in the log ('full', 'incremental', 'import', 'demo'). `warnings`: what was odd
    but loaded anyway, one sentence each. `summary`: what the caller is told (the source's own
    report of the run)."""

    company: Company
    kind: str
    complete: bool
    rows: dict[str, pd.DataFrame] = field(default_factory=dict)
    deleted: dict[str, pd.DataFrame] = field(default_factory=dict)
    remade: list[str] = field(default_factory=list)
    cursor: str | None = None
    aging: pd.DataFrame | None = None
    requests: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    summary: Any = None


@dataclass(frozen=True)
class Connector:
    """For sources a user signs in to (QuickBooks, Xero): what the CLI and the Data & sync page
    need to connect one, without knowing the source. `settings(reader)` builds the source's
    settings from the one settings reader; `status(reader)` says which settings are present
    (never their values); `is_connected(settings)`, `authorization_url(settings)` and
    `connect(settings, redirect_url) -> company id` run the sign-in; `check(settings)` proves a
    stored connection still works and says so in a sentence; `saved_token(settings)` says when the
    connection's refresh token was saved and when it lapses (a core.tokens.Connection, or None)."""

    settings: Callable[[Any], Any]
    status: Callable[[Any], dict[str, bool]]
    is_connected: Callable[[Any], bool]
    authorization_url: Callable[[Any], str]
    connect: Callable[[Any, str], str]
    check: Callable[[Any], str]
    saved_token: Callable[[Any], Any]
    warn_days: int = 14  # warn when the token lapses in fewer days than this


@dataclass(frozen=True)
class Importer:
    """For sources that read a file (`python -m etl import KIND FILE`, an upload on a page):
    `settings(file, content=None, company_id=None, mapping=None, on=None, replace_all=False)`
    builds the source's settings for one file (its path, or its `content` as uploaded), or, when
    `several`, for a list of files (paths, with `content` a list of the same length); `on` is the
    date the file describes, `replace_all` the user's confirmation of an import that replaces much
    of what is held. `columns` are the columns a user may map to headers of their own
    (`--map COLUMN=HEADER`)."""

    kind: str
    settings: Callable[..., Any]
    columns: tuple[str, ...] = ()
    several: bool = False


@dataclass(frozen=True)
class Source:
    """A registered source (etl/sources/__init__.py). `company(settings, companies)` names the
    company a run is for, before anything is fetched (`companies`: those the file holds);
    `fetch(settings, state, progress)` reads and maps. `books`: it loads a company's books, so a
    first run into a file that holds the demo removes the demo. `infers_autopay`: after each run
    the pipeline re-infers autopay from the payments. `connector`: sign-in, for `connect` and
    `sync`. `importer`: reading a file, for `import`."""

    name: str
    label: str
    entities: tuple[Entity, ...]
    company: Callable[[Any, pd.DataFrame], Company]
    fetch: Callable[[Any, "SourceState", Progress], Batch]
    books: bool = True
    infers_autopay: bool = False
    connector: Connector | None = None
    importer: Importer | None = None

    def entity(self, table: str) -> Entity | None:
        return next((entity for entity in self.entities if entity.table == table), None)


@dataclass(frozen=True)
class SourceState:
    """What a source may know before it fetches, read for it by the pipeline: the date the
    product takes as today, the company the run is for, where the last succeeded run of this
    source for it ended (`cursor`: None for a first run, or when a full re-read was asked for:
    a source reads everything when it has no cursor), `rows(table, **equal_to)`: that
    company's rows of a canonical table as they stand, and `model(name, **params)`: that
    company's rows of a SQL model (e.g. `autopay_status` at `dates`), so a source asks the books
    a question without writing the rule again (each read through a short read-only connection,
    so a source never holds the database while it talks to its system)."""

    today: date
    company: Company
    cursor: str | None
    rows: Callable[..., pd.DataFrame]
    model: Callable[..., pd.DataFrame] | None = None


# The canonical book tables with their natural keys, in load order (parents first): what a source
# of a company's books (the demo, QuickBooks, a file export) writes. A row derived from a source
# record (a payment's applications) names it in `made_by`: a changed record's rows are replaced.
BOOK_ENTITIES = (
    Entity("customers", ("customer_id",), cursor="updated_at"),
    Entity("invoices", ("invoice_id",), made_by="made_by", cursor="updated_at"),
    Entity("payments", ("payment_id",), made_by="made_by", cursor="updated_at"),
    Entity("credit_memos", ("credit_memo_id",), made_by="made_by", cursor="updated_at"),
    Entity("applications", ("application_id",), made_by="made_by"),
    Entity("recurring_schedules", ("schedule_id",), cursor="updated_at"),
)
