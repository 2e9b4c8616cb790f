"""Autopay rosters from payment portals (CSV or Excel) into dated enrollment history.

A roster is what a portal exports about who pays automatically: ConnectBooster's Autopay
Configurations report, a Stripe customer export or a plain sheet. Its columns are found by
name (`COLUMNS`, or a mapping the user gives), every cell is checked before anything is
written (etl/tabular.py reads the file and holds it to its limits), customers are matched by id,
then exact name, then normalised name (unmatched rows are listed, never guessed), and the differences from the enrollment history held so far are written
in one run: a changed client's open period is closed on the date of the change and a new one
opened, so adoption over time stays right and importing the same roster twice changes nothing.

A roster is the complete list as of its date: a client on autopay who is no longer on it is
recorded as disabled from that date. A roster that matches nobody, or would take more than half
of the clients on autopay off it at once, is refused unless the user confirms (`replace_all`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import partial

import pandas as pd

from core.errors import InputError
from core.settings import settings as current_settings
from etl import tabular
from etl.batch import Batch, Entity, Importer, Progress, Source, SourceState, company_in_file
from etl.tabular import Column, Problems, Records, day, flag, stored_text

# The columns a roster may have, with the header names portals and people write for them
# (compared ignoring case and punctuation). Two headers that could be one column are refused.
COLUMNS = (
    Column("customer", ("customer", "customer name", "client", "client name", "company", "company name",
                        "account name", "display name", "name", "customer id", "client id", "account id"), required=True),
    Column("autopay", ("autopay", "auto pay", "autopay enabled", "auto pay enabled", "autopay status",
                       "autopay active", "auto charge", "autocharge", "enabled", "status"), required=True),
    Column("method", ("method", "payment method", "payment method type", "autopay method", "payment type",
                      "method type", "type")),
    Column("enrolled_on", ("enrolled on", "enrolled", "enrollment date", "enrolled date", "date enrolled",
                           "enabled on", "autopay start", "start date", "since", "created", "created date",
                           "created at", "created utc", "date added")),
    Column("disabled_on", ("disabled on", "disabled date", "date disabled", "autopay end", "end date",
                           "cancelled on", "canceled on", "removed on")),
)
CANONICAL_COLUMNS = tuple(column.name for column in COLUMNS)

_METHODS = {
    "card": {"card", "credit card", "debit card", "credit", "cc", "visa", "mastercard", "amex",
             "american express", "discover"},
    "ach": {"ach", "bank", "bank account", "bank transfer", "echeck", "e check", "us bank account",
            "direct debit", "eft", "checking", "savings"},
    "other": {"other", ""},
}
# Legal-form words a portal and the accounting system spell differently ("Acme, Inc." / "Acme").
_LEGAL_SUFFIXES = {"inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co",
                   "company", "pllc", "pc", "llp", "lp", "plc"}
# A roster that would take more than this share of the clients now on autopay off it at once is
# refused unless the user confirms (`--replace-all`): a wrong or truncated file, not a change.
MOST_ENROLLED = 0.5


ORIGIN = "autopay_roster"


class RosterError(InputError):
    """A roster that cannot be imported as it is. `problems` lists every problem found (file,
    row as a spreadsheet numbers it, column, and the fix); the message is the first of them."""


@dataclass(frozen=True)
class RosterRow:
    row: int  # as the spreadsheet shows it: the header is row 1
    customer: str
    enabled: bool
    method: str
    enrolled_on: date | None
    disabled_on: date | None


@dataclass(frozen=True)
class Match:
    row: RosterRow
    customer_id: str
    name: str
    matched_by: str  # 'id', 'name' or 'normalised name'


@dataclass(frozen=True)
class Unmatched:
    row: int
    customer: str
    reason: str


@dataclass
class ImportReport:
    file: str
    company_id: str
    imported_on: date
    matched: list[Match] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)
    periods_opened: int = 0
    periods_closed: int = 0
    left_roster: list[str] = field(default_factory=list)  # customer ids recorded as disabled

    def describe(self, result) -> str:
        return (
            f"{self.file}: {len(self.matched)} customers matched, {len(self.unmatched)} rows unmatched; "
            f"{self.periods_opened} autopay periods opened, {self.periods_closed} closed"
            + (f" ({len(self.left_roster)} no longer on the roster)" if self.left_roster else "")
            + f"; {result.counts.get('inferred_autopay_periods', 0)} inferred periods"
        )


# --- reading -----------------------------------------------------------------------------------


def _parse_method(value) -> str:
    text = " ".join(re.findall(r"[a-z0-9]+", tabular.text(value).lower()))
    for method, spellings in _METHODS.items():
        if text in spellings:
            return method
    raise ValueError(f"{tabular.text(value)!r} is not a payment method: use card, ach or other")


def _check_dates(values: dict) -> dict[str, str]:
    """What is wrong with a row's dates and flag together, by column."""
    enrolled, disabled = values["enrolled_on"], values["disabled_on"]
    if enrolled and disabled and disabled < enrolled:
        return {"disabled_on": f"disabled on {disabled}, before enrolled on {enrolled}: check both dates"}
    if values["autopay"] and disabled and not (enrolled and enrolled > disabled):
        return {"autopay": f"says autopay is on but disabled on {disabled}: set autopay to no, "
                           "or give the later enrolment date"}
    return {}


def read_roster(name: str, content: bytes, mapping: dict[str, str] | None = None,
                on: date | None = None) -> list[RosterRow]:
    """Every customer row of a roster file describing `on` (default today), checked; raises
    RosterError naming each bad cell."""
    try:
        return _read_roster(name, content, mapping or {}, on or current_settings().today())
    except RosterError:
        raise
    except InputError as exc:
        raise RosterError(exc.problems) from None


def _read_roster(name: str, content: bytes, mapping: dict[str, str], on: date) -> list[RosterRow]:
    sheet = tabular.read_sheet(name, content)
    if not sheet.rows or not any(tabular.text(cell) for cell in sheet.rows[0]):
        raise tabular.refuse(f"{name} has no header row: row 1 must name the columns (customer, autopay, ...)")
    header = tabular.find_columns(name, sheet.rows[0], COLUMNS, mapping)
    problems = Problems(name)
    dated = [(index, header.positions[column]) for index in range(1, len(sheet.rows))
             for column in ("enrolled_on", "disabled_on") if column in header]
    reading = tabular.date_reading([tabular.DateCells(sheet, dated, lambda position: header.headers[position])],
                                   tabular.latest_date(on), problems)
    parsers = {"customer": stored_text, "autopay": flag, "method": _parse_method,
               "enrolled_on": partial(day, reading=reading), "disabled_on": partial(day, reading=reading)}
    rows = []
    for record in Records(sheet, header, problems):
        before = problems.count
        values = {"method": "other", "enrolled_on": None, "disabled_on": None}
        values.update({column: record.get(column, parse) for column, parse in parsers.items() if column in header})
        if problems.count > before:
            continue
        if not values["customer"]:
            record.fail("customer", "no customer: fill it in or delete the row")
            continue
        for column, error in _check_dates(values).items():
            record.fail(column, error)
        if problems.count == before:
            rows.append(RosterRow(record.number, values["customer"], values["autopay"], values["method"],
                                  values["enrolled_on"], values["disabled_on"]))
    problems.check()
    if not rows:
        raise tabular.refuse(f"{name} has a header row but no customers: export the roster again with its rows")
    return rows


# --- matching ----------------------------------------------------------------------------------


def normalised_name(name: str) -> str:
    """Case, accents, punctuation and a trailing legal form ignored: 'Acme Dental, Inc.' -> 'acme dental'."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace("&", " and ")
    words = re.findall(r"[a-z0-9]+", re.sub(r"[.'’]", "", text))
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def match_customers(name: str, rows: list[RosterRow], customers: pd.DataFrame) -> tuple[list[Match], list[Unmatched]]:
    """Match each row by customer id, then exact name, then normalised name; a row that matches no
    customer, or several, is unmatched. Two rows for one customer are an error."""
    by_id = dict(zip(customers["customer_id"], customers["name"]))
    by_name = customers.groupby(customers["name"].str.strip())["customer_id"].apply(list).to_dict()
    by_normal = customers.groupby(customers["name"].map(normalised_name))["customer_id"].apply(list).to_dict()
    matched, unmatched = [], []
    for row in rows:
        if row.customer in by_id:
            matched.append(Match(row, row.customer, by_id[row.customer], "id"))
            continue
        for matched_by, index, key in (("name", by_name, row.customer), ("normalised name", by_normal, normalised_name(row.customer))):
            candidates = index.get(key, [])
            if len(candidates) == 1:
                matched.append(Match(row, candidates[0], by_id[candidates[0]], matched_by))
                break
            if len(candidates) > 1:
                unmatched.append(Unmatched(row.row, row.customer, f"{len(candidates)} customers match by {matched_by}: use the customer id"))
                break
        else:
            unmatched.append(Unmatched(row.row, row.customer, "no customer with this id or name"))
    seen: dict[str, Match] = {}
    problems = []
    for match in matched:
        first = seen.setdefault(match.customer_id, match)
        if first is not match:
            problems.append(f"{name} rows {first.row.row} and {match.row.row} are both {match.name} "
                            f"({match.customer_id}): keep one row per customer")
    if problems:
        raise RosterError(problems)
    return matched, unmatched


# --- history -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Current:
    """A customer's imported state: its open period, or 'disabled' since a closed one ended."""

    status: str
    method: str
    since: date
    open_from: date | None  # valid_from of the open row, if there is one


@dataclass
class _Plan:
    closes: list[tuple[str, date, date]] = field(default_factory=list)  # customer, valid_from, valid_to
    deletes: list[tuple[str, date]] = field(default_factory=list)  # same-day changes replace the row
    opens: list[dict] = field(default_factory=list)
    left_roster: list[str] = field(default_factory=list)

    def change(self, customer_id: str, current: _Current | None, on: date, status: str, method: str) -> None:
        if current is not None and current.open_from is not None:
            if on > current.open_from:
                self.closes.append((customer_id, current.open_from, on))
            else:
                self.deletes.append((customer_id, current.open_from))
        self.opens.append({"customer_id": customer_id, "valid_from": on, "valid_to": None, "status": status, "method": method})


def _first_history(plan: _Plan, row: RosterRow, customer_id: str, imported_on: date) -> None:
    """A customer the history does not know yet: the roster's own dates, as far as they go."""
    if row.enabled:
        plan.change(customer_id, None, row.enrolled_on or imported_on, "enabled", row.method)
    elif row.enrolled_on and row.disabled_on and row.enrolled_on < row.disabled_on:
        plan.opens.append({"customer_id": customer_id, "valid_from": row.enrolled_on, "valid_to": row.disabled_on,
                           "status": "enabled", "method": row.method})
        plan.change(customer_id, None, row.disabled_on, "disabled", row.method)
    else:
        plan.change(customer_id, None, row.disabled_on or imported_on, "disabled", row.method)


def plan_history(matched: list[Match], current: dict[str, _Current], imported_on: date) -> _Plan:
    """The rows to close, replace and open so the history says what the roster says."""
    plan = _Plan()
    for match in matched:
        row, now = match.row, current.get(match.customer_id)
        status = "enabled" if row.enabled else "disabled"
        if now is None:
            _first_history(plan, row, match.customer_id, imported_on)
        elif now.status != status or (row.enabled and now.method != row.method):
            stated = row.enrolled_on if row.enabled else row.disabled_on
            on = stated if stated and stated > now.since else max(imported_on, now.since)
            plan.change(match.customer_id, now, on, status, row.method)
    listed = {m.customer_id for m in matched}
    for customer_id, now in sorted(current.items()):
        if customer_id not in listed and now.status == "enabled" and now.open_from is not None:
            plan.change(customer_id, now, max(imported_on, now.since), "disabled", now.method)
            plan.left_roster.append(customer_id)
    return plan


def _current_imported(periods: pd.DataFrame) -> dict[str, _Current]:
    """Each customer's latest imported period: open, or 'disabled' since a closed one ended."""
    latest = periods.sort_values("valid_from").groupby("customer_id").tail(1)
    return {
        row.customer_id: _Current(row.status, row.method, row.valid_from, row.valid_from) if pd.isna(row.valid_to)
        else _Current("disabled", row.method, row.valid_to, None)
        for row in latest.itertuples()
    }


def _plan_rows(plan: _Plan, periods: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan as rows to write (closed periods with their end, new periods) and keys to delete."""
    by_key = periods.set_index(["customer_id", "valid_from"])
    closed = [{**by_key.loc[(customer_id, valid_from)].to_dict(), "customer_id": customer_id,
               "valid_from": valid_from, "valid_to": valid_to}
              for customer_id, valid_from, valid_to in plan.closes]
    opened = [{**row, "provenance": "imported", "recorded_at": None} for row in plan.opens]
    rows = pd.DataFrame(closed + opened)
    if not rows.empty:
        rows = rows[["customer_id", "provenance", "valid_from", "valid_to", "status", "method", "recorded_at"]]
    deleted = pd.DataFrame(plan.deletes, columns=["customer_id", "valid_from"])
    return rows, deleted


@dataclass(frozen=True)
class RosterSettings:
    """One import: the file (`content`, or read from the path `file`), the company (the file's
    only one if not named), headers to map, the date the roster describes (default today), and
    `replace_all`: the user confirmed a roster that matches nobody or would take most clients on
    autopay off it at once."""

    file: str
    content: bytes | None = None
    company_id: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    imported_on: date | None = None
    replace_all: bool = False


def _confirm_if_sweeping(name: str, rows: list[RosterRow], matched: list[Match], unmatched: list[Unmatched],
                         plan: _Plan, on_autopay: set[str], company: str) -> None:
    """Refuse a roster that matches no customer, or that would take more than half of the clients
    on autopay off it at once: far more often a wrong, truncated or half-filled file than a change."""
    if not matched:
        first = unmatched[0]
        raise RosterError([
            f"{name}: none of its {len(rows)} rows matches a customer of {company} (row {first.row}: "
            f"{first.customer!r}): is it this company's roster? Fix the names or use the customer ids. "
            "To import it anyway, and record every client it does not list as off autopay, confirm with "
            "--replace-all (on the Autopay page: tick the confirmation)"])
    going = sorted(on_autopay & ({m.customer_id for m in matched if not m.row.enabled} | set(plan.left_roster)))
    if on_autopay and len(going) > MOST_ENROLLED * len(on_autopay):
        names = {m.customer_id: m.name for m in matched}
        shown = ", ".join(names.get(customer_id, customer_id) for customer_id in going[:3])
        raise RosterError([
            f"{name} would take {len(going)} of the {len(on_autopay)} clients on autopay off it at once "
            f"(more than half; {shown}{', ...' if len(going) > 3 else ''}): check that it is the complete roster "
            "with every autopay cell filled in. If it is right, confirm with --replace-all (on the Autopay page: "
            "tick the confirmation)"])


def fetch(settings: RosterSettings, state: SourceState, progress: Progress) -> Batch:
    """Read, check and match a roster, then plan what changes in the enrollment history.

    Nothing is written unless the whole file is good; `imported_on` (default today) is used
    where the roster gives no date of its own."""
    try:
        name, content = tabular.read_bytes(settings.file, settings.content)
    except InputError as exc:
        raise RosterError(exc.problems) from None
    progress(0.1, f"Reading {name}")
    imported_on = settings.imported_on or state.today
    rows = read_roster(name, content, settings.mapping, imported_on)
    customers = state.rows("customers")[["customer_id", "name"]].sort_values("customer_id", ignore_index=True)
    matched, unmatched = match_customers(name, rows, customers)
    periods = state.rows("autopay_enrollments", origin=ORIGIN)
    plan = plan_history(matched, _current_imported(periods), imported_on)
    if not settings.replace_all:
        status = state.model("autopay_status", dates=[imported_on])
        _confirm_if_sweeping(name, rows, matched, unmatched, plan,
                             set(status.loc[status["on_autopay"], "customer_id"]), state.company.name)
    report = ImportReport(name, state.company.company_id, imported_on, matched, unmatched,
                          periods_opened=len(plan.opens), periods_closed=len(plan.closes) + len(plan.deletes),
                          left_roster=plan.left_roster)
    changed, deleted = _plan_rows(plan, periods)
    return Batch(state.company, kind="import", complete=False, rows={"autopay_enrollments": changed},
                 deleted={"autopay_enrollments": deleted}, summary=report)


SOURCE = Source(
    name=ORIGIN,
    label="autopay roster",
    entities=(Entity("autopay_enrollments", ("customer_id", "valid_from"), disposition="merge",
                     owned=(("origin", ORIGIN),)),),
    company=lambda settings, companies: company_in_file(companies, settings.company_id),
    fetch=fetch,
    books=False,
    infers_autopay=True,
    importer=Importer("autopay", lambda file, content=None, company_id=None, mapping=None, on=None, replace_all=False:
                      RosterSettings(file, content, company_id, dict(mapping or {}), on, replace_all),
                      columns=CANONICAL_COLUMNS),
)
