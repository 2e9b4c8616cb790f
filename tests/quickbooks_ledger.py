"""The QuickBooks ledger the connector tests sync, served by tests/qbo_server.py, and how a test
syncs it (the fixtures `server`, `big_server` and `store` live in tests/conftest.py).

The ledger (report date 2026-11-25):
  Acme       24 invoices of 10.00 (2,520 for the paging test; 2024-01-01 onwards, Net 30), all paid but the last 20;
             one payment of 30.00 covers three of them; a 15.00 overpayment is unapplied
  Birch      parent of Birch Annex; Annex owes INV-B1 200.00 due 2026-10-15 (41 days past due: 31-60),
             of which a 50.00 credit memo was applied through a zero-amount payment -> 150.00
  Cedar      CAD customer: INV-C1 1,000.00 CAD at 0.73 due 2026-11-10 (15 days past due) -> 730.00 USD
  Dormant    inactive but owes INV-D1 80.00 due 2026-06-01 (177 days past due: 91+)
  plus a voided Acme invoice and a deleted one.
"""

import os
from datetime import date, datetime, timedelta, timezone

from core.tokens import TokenStore
from etl import pipeline
from etl.sources import quickbooks
from etl.sources.quickbooks.api import QuickBooksSettings
from tests.qbo_server import QuickBooksServer

REPORT_DATE = date(2026, 11, 25)


def build_ledger(server: QuickBooksServer, acme_invoices: int = 24) -> dict[str, str]:
    net30 = server.add_term("Net 30", 30)
    ach = server.add_payment_method("ACH")
    visa = server.add_payment_method("Visa", type="CREDIT_CARD")
    ids = {
        "acme": server.add_customer("Acme Dental", email="ap@acme.example", terms_id=net30),
        "birch": server.add_customer("Birch Legal"),
        "cedar": server.add_customer("Cedar CPA", currency="CAD"),
        "dormant": server.add_customer("Dormant Co", active=False),
    }
    ids["annex"] = server.add_customer("Birch Annex", parent_id=ids["birch"])
    acme = [server.add_invoice(ids["acme"], date(2024, 1, 1) + timedelta(days=n // 4), "10.00", term_id=net30,
                               due_date=date(2024, 1, 31) + timedelta(days=n // 4), doc_number=f"A{n}")
            for n in range(acme_invoices)]
    for n, invoice in enumerate(acme[3:-20]):  # paid one by one, by ACH, on the due date
        server.add_payment(ids["acme"], date(2024, 1, 31) + timedelta(days=(n + 3) // 4), "10.00", {invoice: "10.00"}, method_id=ach)
    ids["multi"] = server.add_payment(ids["acme"], date(2024, 2, 1), "30.00", {i: "10.00" for i in acme[:3]}, method_id=visa)
    ids["overpaid"] = server.add_payment(ids["acme"], date(2026, 11, 20), "15.00", {}, method_id=ach)
    ids["voided"] = server.add_invoice(ids["acme"], date(2026, 11, 2), "99.00", due_date=date(2026, 12, 2))
    server.void_invoice(ids["voided"])
    ids["deleted"] = server.add_invoice(ids["acme"], date(2026, 11, 3), "77.00", due_date=date(2026, 12, 3))
    server.delete_invoice(ids["deleted"])
    ids["annex_invoice"] = server.add_invoice(ids["annex"], date(2026, 9, 15), "200.00", due_date=date(2026, 10, 15), doc_number="INV-B1")
    ids["memo"] = server.add_credit_memo(ids["annex"], date(2026, 10, 1), "50.00")
    ids["memo_payment"] = server.apply_credit_memo(ids["memo"], ids["annex_invoice"], "50.00", date(2026, 10, 1))
    ids["cad_invoice"] = server.add_invoice(ids["cedar"], date(2026, 10, 11), "1000.00", due_date=date(2026, 11, 10),
                                            currency="CAD", exchange_rate="0.73", doc_number="INV-C1")
    ids["dormant_invoice"] = server.add_invoice(ids["dormant"], date(2026, 5, 2), "80.00", due_date=date(2026, 6, 1))
    ids["template"] = server.add_recurring_invoice_template(
        ids["acme"], "10.00", name="Acme managed services", start_date=date(2024, 1, 1), next_date=date(2026, 12, 1))
    return ids


# The server's clock on the report date: 09:00 in the company's time zone (America/Los_Angeles).
SERVER_NOW = datetime(2026, 11, 25, 17, 0, tzinfo=timezone.utc)


def running_server(monkeypatch, acme_invoices: int):
    monkeypatch.setenv("LEDGERLIGHT_TODAY", REPORT_DATE.isoformat())
    with QuickBooksServer(now=SERVER_NOW) as running:
        running.ids = build_ledger(running, acme_invoices)
        tick(running)
        yield running


def tick(server: QuickBooksServer) -> None:
    """Let a minute pass on the server's clock (it stands still otherwise), as between real edits and syncs."""
    server.now += timedelta(minutes=1)


def settings_for(server, store: TokenStore, **overrides) -> QuickBooksSettings:
    values = dict(client_id=server.client_id, client_secret=server.client_secret, redirect_uri=server.redirect_uri,
                  realm_id=server.realm_id, environment=server.discovery_url, api_base=server.api_base,
                  refresh_token="rt-0", company_name="Test MSP", token_folder=store.folder, backoff=0.01,
                  throttle_wait=0.05)
    return QuickBooksSettings(**{**values, **overrides})


def run_sync(server, store, db, full=False, **overrides):
    """A sync as `python -m etl sync quickbooks` runs it, on the report date."""
    return pipeline.run(db, quickbooks.SOURCE, settings_for(server, store, **overrides), full=full)


def cli_environment(server, db) -> dict:
    """The environment `python -m etl sync quickbooks` needs to sync `server` into `db`."""
    return {**os.environ, "QBO_CLIENT_ID": server.client_id, "QBO_CLIENT_SECRET": server.client_secret,
            "QBO_REDIRECT_URI": server.redirect_uri, "QBO_REALM_ID": server.realm_id,
            "QBO_ENVIRONMENT": server.discovery_url, "QBO_API_BASE": server.api_base,
            "QBO_REFRESH_TOKEN": "rt-0", "LEDGERLIGHT_DB": str(db), "LEDGERLIGHT_TOKENS": str(db.parent / "tokens")}
