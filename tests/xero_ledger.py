"""The Xero books the connector tests sync, served by tests/xero_server.py, worked by hand, and how
a test syncs them (the fixture `xero_server` lives in tests/conftest.py). Report date 2026-11-25; due-date aging 30 x 4; amounts in NZD unless named.

Koala Managed IT (base NZD; also USD and AUD):
  Alder  (20 days after the invoice date) INV A1 500.00 dated 09-01 due 09-21, 200.00 paid 10-15:
         300.00 open, 65 days past due                                            -> 61-90   300.00
         INV A2 120.00 dated 11-01 due 11-21, paid in a batch payment on 11-20 (with B1)
         a repeating invoice of 120.00 a month, next on 12-01
  Birch  INV B1 80.00 dated 10-20 due 11-19, paid in the batch payment
         INV B2 250.00 dated 11-10 due 12-10; credit note CN 100.00 dated 11-12 allocates 60.00
         to it on 11-12: B2 owes 190.00                                           -> current 190.00
         the credit note's 40.00 left is credit dated 11-12 (13 days)             -> credit   40.00 (1-30)
  Cedar  a USD contact, CurrencyRate 0.625 (1 NZD = 0.625 USD: 1.6 NZD per USD)
         INV C1 400.00 USD dated 10-01 due 10-31, 100.00 USD paid 11-01: 300.00 USD = 480.00 NZD,
         25 days past due                                                         -> 1-30    480.00
         a prepayment of 50.00 USD received 11-15, unallocated: 80.00 NZD         -> credit   80.00 (1-30)
  Dune   INV D1 60.00 dated 06-01 due 06-30, 148 days past due                    -> 91+      60.00
         an overpayment of 45.00 on 11-18, 15.00 of it refunded 11-22: 30.00 left -> credit   30.00 (1-30)
  Elm    archived, but still owes INV E1 35.00 dated 08-01 due 08-31, 86 days     -> 61-90    35.00
  Fern   a voided invoice of 90.00, a draft of 70.00 and a deleted draft of 20.00: nothing on A/R
  Gum Office Supplies: a supplier: a bill of 300.00 and an overpayment spent, never A/R
Totals: current 190.00, 1-30 480.00, 61-90 335.00, 91+ 60.00, total 1,065.00; credit 150.00.
Xero's report nets the credits in the bucket of their date: 1-30 480.00 - 150.00 = 330.00, total 915.00.

Wombat IT Pty Ltd (base AUD; also NZD), beside it in the same file:
  Quokka Clinic  INV Q1 1,000.00 dated 11-01 due 11-15, 400.00 paid 11-20: 600.00 (10 days) -> 1-30 600.00
                 INV Q2 500.00 NZD at CurrencyRate 1.25 (0.8 AUD per NZD) dated 11-20 due 12-20
                                                                                  -> current 400.00 AUD
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from core.tokens import TokenStore
from etl import pipeline
from etl.sources import xero
from etl.sources.xero.api import XeroSettings
from tests.xero_server import XeroServer

REPORT_DATE = date(2026, 11, 25)
SERVER_NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
ORGANISATIONS = (("Koala Managed IT", "NZD", ("USD", "AUD")), ("Wombat IT Pty Ltd", "AUD", ("NZD",)))


def build_koala(books) -> dict[str, str]:
    ids = {"Alder": books.add_contact("Alder", email="ap@alder.example", terms=(20, "DAYSAFTERBILLDATE")),
           "Birch": books.add_contact("Birch"), "Cedar": books.add_contact("Cedar", currency="USD"),
           "Dune": books.add_contact("Dune"), "Elm": books.add_contact("Elm"), "Fern": books.add_contact("Fern"),
           "Gum": books.add_contact("Gum Office Supplies", supplier=True)}
    d = date
    ids["A1"] = books.add_invoice(ids["Alder"], d(2026, 9, 1), "500.00", due=d(2026, 9, 21))
    ids["A1_paid"] = books.add_payment(ids["A1"], d(2026, 10, 15), "200.00")
    ids["A2"] = books.add_invoice(ids["Alder"], d(2026, 11, 1), "120.00", due=d(2026, 11, 21))
    ids["template"] = books.add_repeating_invoice(ids["Alder"], "120.00", start=d(2025, 1, 1), next=d(2026, 12, 1),
                                                  reference="Managed services")
    ids["B1"] = books.add_invoice(ids["Birch"], d(2026, 10, 20), "80.00", due=d(2026, 11, 19))
    ids["batch"], _ = books.add_batch_payment(d(2026, 11, 20), {ids["A2"]: "120.00", ids["B1"]: "80.00"})
    ids["B2"] = books.add_invoice(ids["Birch"], d(2026, 11, 10), "250.00", due=d(2026, 12, 10))
    ids["CN"] = books.add_credit_note(ids["Birch"], d(2026, 11, 12), "100.00")
    books.allocate(ids["CN"], ids["B2"], "60.00", d(2026, 11, 12))
    ids["C1"] = books.add_invoice(ids["Cedar"], d(2026, 10, 1), "400.00", due=d(2026, 10, 31), currency="USD",
                                  rate="0.625")
    books.add_payment(ids["C1"], d(2026, 11, 1), "100.00")
    ids["C_prepaid"] = books.add_prepayment(ids["Cedar"], d(2026, 11, 15), "50.00", currency="USD", rate="0.625")
    ids["D1"] = books.add_invoice(ids["Dune"], d(2026, 6, 1), "60.00", due=d(2026, 6, 30))
    ids["D_over"] = books.add_overpayment(ids["Dune"], d(2026, 11, 18), "45.00")
    ids["D_refund"] = books.refund(ids["D_over"], d(2026, 11, 22), "15.00")
    ids["E1"] = books.add_invoice(ids["Elm"], d(2026, 8, 1), "35.00", due=d(2026, 8, 31))
    books.edit_contact(ids["Elm"], archived=True)
    ids["F_voided"] = books.add_invoice(ids["Fern"], d(2026, 11, 2), "90.00", due=d(2026, 12, 2))
    books.void_invoice(ids["F_voided"])
    ids["F_draft"] = books.add_invoice(ids["Fern"], d(2026, 11, 3), "70.00", due=d(2026, 12, 3), status="DRAFT")
    ids["F_deleted"] = books.add_invoice(ids["Fern"], d(2026, 11, 4), "20.00", due=d(2026, 12, 4), status="DRAFT")
    books.delete_invoice(ids["F_deleted"])
    ids["bill"] = books.add_invoice(ids["Gum"], d(2026, 11, 5), "300.00", due=d(2026, 12, 5), type="ACCPAY")
    books._add_credit("Overpayment", "SPEND-OVERPAYMENT", "", ids["Gum"], d(2026, 11, 6), "25.00", None, None)
    return ids


def build_wombat(books) -> dict[str, str]:
    ids = {"Quokka": books.add_contact("Quokka Clinic")}
    ids["Q1"] = books.add_invoice(ids["Quokka"], date(2026, 11, 1), "1000.00", due=date(2026, 11, 15))
    books.add_payment(ids["Q1"], date(2026, 11, 20), "400.00")
    ids["Q2"] = books.add_invoice(ids["Quokka"], date(2026, 11, 20), "500.00", due=date(2026, 12, 20), currency="NZD",
                                  rate="1.25")
    return ids


def running(monkeypatch, **options):
    monkeypatch.setenv("LEDGERLIGHT_TODAY", REPORT_DATE.isoformat())
    with XeroServer(ORGANISATIONS, now=SERVER_NOW, **options) as server:
        koala, wombat = server.organisations.values()
        server.ids = build_koala(koala)
        server.wombat, server.wombat_ids = wombat, build_wombat(wombat)
        server.tick()
        yield server


def settings_for(server: XeroServer, store: TokenStore, **overrides) -> XeroSettings:
    values = dict(client_id=server.client_id, client_secret=server.client_secret, redirect_uri=server.redirect_uri,
                  tenant_id=server.tenant_id, refresh_token="xrt-0", api_url=server.api_url,
                  identity_url=server.identity_url, login_url=server.login_url, token_folder=store.folder,
                  backoff=0.01, throttle_wait=0.05, timeout=5)
    return XeroSettings(**{**values, **overrides})


def run_sync(server, store, db, full=False, progress=None, **overrides):
    """A sync as `python -m etl sync xero` runs it, on the report date."""
    return pipeline.run(db, xero.SOURCE, settings_for(server, store, **overrides), progress or (lambda f, t: None), full=full)
