"""Collections: the weekly worklist, promises to pay and their status, disputes, each client's
history, what reminders would say, and a client's statement.

Everything is per account (a client with its sub-customers rolled up, as in the aging), at an
as-of date, in the home currency unless said. The rules (docs/collections.md):
- a promise is **kept** once the money paid from the day it was made through its pay-by date
  covers its amount (paid to the promised invoices when it names some, else any payment), and
  **broken** when the pay-by date passes first; **open** before. An open promise parks the client;
- a **disputed** invoice keeps its bucket in the aging (which reconciles with the books' own) and
  is left out of the amount **to chase**.
"""

from __future__ import annotations

from datetime import date
import duckdb
import pandas as pd

import models
from core.errors import InputError
from metrics.aging import ZERO, aging_by_customer, bucket_labels, open_invoices_as_of
from metrics.behaviour import client_payment_habits

_KEYS = ["source", "company_id", "customer_id"]
# The worklist's priority: the money to chase, weighted up by the age of the oldest debt (×1 when
# just due, ×3 from 180 days) and by each promise broken in the last 12 months (+50 % each).
AGE_WEIGHT_DAYS = 90
AGE_WEIGHT_CAP_DAYS = 180
BROKEN_PROMISE_WEIGHT = 0.5


def promise_status(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str | None = None) -> pd.DataFrame:
    """Every promise made by `as_of` (of one account, or all), newest first: made_on, pay_by,
    amount, invoice_ids, covered (what paid it by then) and status ('open', 'kept', 'broken')."""
    return models.frame(con, "promise_status", {"dates": [as_of], "customer_id": customer_id})


def disputes(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str | None = None) -> pd.DataFrame:
    """Every dispute opened by `as_of` (of one account, or all), newest first: the invoice, reason,
    dates, whether it is still open then, and the invoice's open amount then."""
    return models.frame(con, "account_disputes", {"dates": [as_of], "customer_id": customer_id})


def collection_status(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Per account: parked (an open promise), promised_amount and promised_by of its open
    promises, broken_promises (pay-by date in the 12 months to `as_of`), its next action (date,
    owner, what) and the date of its latest activity."""
    return models.frame(con, "collection_status", {"dates": [as_of], "customer_id": None}).drop(columns="as_of")


def collection_timeline(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str | None = None) -> pd.DataFrame:
    """One account's history up to `as_of` (or every account's, each row under its `account_id`),
    newest first: notes, calls, emails, reminders sent, promises made, disputes opened and resolved."""
    return models.frame(con, "collection_timeline", {"dates": [as_of], "customer_id": customer_id})


def reminder_deliveries(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> pd.DataFrame:
    """Every reminder recorded as sent or (a run that died midway) still 'sending', newest first."""
    return models.frame(con, "reminder_deliveries_log")


def pack_deliveries(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> pd.DataFrame:
    """Every monthly review pack emailed (status 'sent') or whose sending broke midway ('sending'),
    newest first: month, as_of, company, recipients, subject, attachment, author, claimed_at, sent_at."""
    return models.frame(con, "pack_deliveries_log")


def saved_reminder_templates(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> pd.DataFrame:
    """The reminder templates people edited (the defaults are in etl/reminder_templates.py)."""
    return models.frame(con, "saved_reminder_templates")


def reminder_invoices(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Invoices a reminder may be about at `as_of`: past due, not disputed, of a client that is not
    parked, with the client's name, email and the books' company name."""
    return models.frame(con, "reminder_invoices", {"dates": [as_of], "roll_up": True, "basis": "due",
                                                   "period_days": 30, "periods": 4, "customer_id": None})


def collections_worklist(con: duckdb.DuckDBPyConnection, as_of: date, include_parked: bool = True,
                         owner: str | None = None, action_due_by: date | None = None) -> pd.DataFrame:
    """Clients with overdue A/R, highest priority first: who owes what, since when, how much of
    it is disputed and how much is left `to_chase`, promises (parked, broken), the next action,
    how they usually pay, and how to reach them.

    `priority` = to_chase × (1 + min(oldest days past due, 180) ÷ 90) × (1 + 0.5 × broken
    promises). `include_parked=False` leaves out clients parked by an open promise; `owner` keeps
    the clients whose next action is that person's; `action_due_by` those whose next action is due
    on or before that date."""
    aging = aging_by_customer(con, as_of, past_due_only=True)
    oldest = models.frame(con, "overdue_accounts", {"dates": [as_of]})
    habits = client_payment_habits(con, as_of)[
        [*_KEYS, "weighted_days_late_12m", "share_on_time_12m", "last_payment_date", "drift"]
    ]
    worklist = (
        aging[aging["total"] > 0]
        .rename(columns={"total": "overdue"})
        .merge(oldest, on=_KEYS)
        .merge(habits, on=_KEYS, how="left")
        .merge(collection_status(con, as_of), on=_KEYS, how="left")
    )
    worklist["drift"] = worklist["drift"].fillna(False).astype(bool)
    worklist["parked"] = worklist["parked"].fillna(False).astype(bool)
    worklist["broken_promises"] = worklist["broken_promises"].fillna(0).astype(int)
    worklist["promised_amount"] = worklist["promised_amount"].map(lambda v: ZERO if pd.isna(v) else v)
    worklist["email"] = worklist["email"].fillna("")
    worklist["to_chase"] = worklist["overdue"] - worklist["disputed"]
    age = worklist["oldest_days_past_due"].clip(upper=AGE_WEIGHT_CAP_DAYS) / AGE_WEIGHT_DAYS
    worklist["priority"] = (worklist["to_chase"].astype(float) * (1 + age)
                            * (1 + BROKEN_PROMISE_WEIGHT * worklist["broken_promises"])).round(2)
    if not include_parked:
        worklist = worklist[~worklist["parked"]]
    if owner is not None:
        worklist = worklist[worklist["next_action_owner"] == owner]
    if action_due_by is not None:
        worklist = worklist[worklist["next_action_on"].notna() & (worklist["next_action_on"] <= action_due_by)]
    return worklist.sort_values(["priority", "overdue", "oldest_days_past_due"], ascending=False, ignore_index=True)


def worklist_owners(con: duckdb.DuckDBPyConnection, as_of: date) -> list[str]:
    """The people who own a next action on any client, for the worklist's filter."""
    owners = collection_status(con, as_of)["next_action_owner"].dropna()
    return sorted(set(owners))


def statements(con: duckdb.DuckDBPyConnection, as_of: date, customer_ids: list[str]) -> dict[str, dict]:
    """Clients' statements at `as_of` (each with its sub-customers), by client id: `client`
    (customer_id, name, email, currency, company), `invoices` (each open invoice in its own
    currency, disputed ones marked), `credits` (unapplied payments and credit memos), and per
    currency in `totals`: the open amount per due-date bucket (`aging`), `open`, `credit`,
    `balance` (open − credit) and `disputed`. One pass over the books for any number of clients."""
    clients = models.frame(con, "statement_client", {"customer_ids": list(customer_ids)})
    missing = sorted(set(customer_ids) - set(clients["customer_id"]))
    if missing:
        raise InputError(f"no client {', '.join(map(repr, missing))} in this database: choose one from the worklist or the aging")
    wanted = set(customer_ids)
    invoices = open_invoices_as_of(con, as_of, roll_up=True)
    invoices = invoices[invoices["account_id"].isin(wanted)]
    credits = models.frame(con, "account_credits", {"dates": [as_of], "customer_id": None})
    credits = credits[credits["account_id"].isin(wanted)]
    labels = bucket_labels()
    made = {}
    for client in clients.drop_duplicates("customer_id").to_dict("records"):
        own = invoices[invoices["account_id"] == client["customer_id"]].reset_index(drop=True)
        own_credits = credits[credits["account_id"] == client["customer_id"]].reset_index(drop=True)
        made[client["customer_id"]] = {"as_of": as_of, "client": client, "invoices": own, "credits": own_credits,
                                       "buckets": labels, "totals": _statement_totals(own, own_credits, labels, client)}
    return made


def _statement_totals(invoices: pd.DataFrame, credits: pd.DataFrame, labels: list[str], client: dict) -> dict:
    totals = {}
    for currency in sorted(set(invoices["currency"]) | set(credits["currency"])) or [client["currency"]]:
        mine = invoices[invoices["currency"] == currency]
        owed = {label: sum(mine.loc[mine["bucket"] == label, "open_amount"], start=ZERO) for label in labels}
        open_total = sum(owed.values(), start=ZERO)
        credit = sum(credits.loc[credits["currency"] == currency, "unapplied_amount"], start=ZERO)
        totals[currency] = {"aging": owed, "open": open_total, "credit": credit, "balance": open_total - credit,
                            "disputed": sum(mine.loc[mine["is_disputed"], "open_amount"], start=ZERO)}
    return totals


def statement(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str) -> dict:
    """One client's statement at `as_of` (see `statements`)."""
    return statements(con, as_of, [customer_id])[customer_id]
