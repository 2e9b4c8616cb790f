"""Payment behaviour: days to pay / late per invoice, habits per client, drift, the worklist."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.errors import InputError

from core.db import read_only
from metrics import client_payment_habits, collections_worklist, invoice_payment_days
from tests import test_kpis as kpi_book
from tests.books import write_book, write_sample_book

D = Decimal


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    return write_sample_book(tmp_path_factory.mktemp("sample") / "s.duckdb")


@pytest.fixture(scope="module")
def kpi_db(tmp_path_factory):
    b = kpi_book
    return write_book(tmp_path_factory.mktemp("kpi") / "k.duckdb", b.CUSTOMERS, b.INVOICES, b.PAYMENTS, b.CREDIT_MEMOS, b.APPLICATIONS)


def test_days_to_pay_and_days_late_per_invoice(sample_db):
    with read_only(sample_db) as con:
        at_march_end = invoice_payment_days(con, date(2026, 3, 31))
        at_april_end = invoice_payment_days(con, date(2026, 4, 30))
    # I4: dated 02-20, due 03-07, paid 03-20 -> 28 days to pay, 13 late. I1 is still part-paid.
    assert at_march_end[["invoice_id", "settled_on", "days_to_pay", "days_late"]].values.tolist() == [
        ["I4", date(2026, 3, 20), 28, 13]]
    # By 04-30 the 04-10 payment settles I1 (dated 03-01, due 03-31): 40 days to pay, 10 late.
    assert at_april_end[["invoice_id", "days_to_pay", "days_late"]].values.tolist() == [["I4", 28, 13], ["I1", 40, 10]]


def test_habits_exclude_write_offs_and_weight_by_amount(kpi_db):
    with read_only(kpi_db) as con:
        (row,) = client_payment_habits(con, kpi_book.AS_OF).itertuples()
    # Paid: J0 6,000 (50 days to pay, 20 late), J1 2,000 (40, 10). J4 was written off.
    assert (row.customer_id, row.mean_days_to_pay_3m, row.weighted_days_to_pay_3m) == ("K1", 45.0, 47.5)
    assert (row.mean_days_late_12m, row.weighted_days_late_12m) == (15.0, 17.5)
    assert (row.share_on_time_12m, row.median_days_late_12m, row.paid_invoices_12m) == (0.0, 15.0, 2)
    assert row.last_payment_date == date(2026, 6, 10)
    # Latest three by due date: J2 open 16 days past due, J1 10 late, J0 20 late: not beyond 15 + 10.
    assert not row.drift


def test_habits_split_recurring_from_one_off(sample_db):
    with read_only(sample_db) as con:
        recurring = client_payment_habits(con, date(2026, 4, 30), invoice_kind="recurring")
        one_off = client_payment_habits(con, date(2026, 4, 30), invoice_kind="one-off")
    # Recurring: C1 paid I1, C2 paid I4 (and owes I3), C3 owes I6 (past due, nothing paid off yet).
    assert sorted(recurring["customer_id"]) == ["C1", "C2", "C3"]
    assert recurring.set_index("customer_id").loc["C2", "mean_days_late_12m"] == 13  # I4
    # One-off: only C1's project invoice I2, past due and unpaid, so no paid habit yet.
    assert one_off["customer_id"].tolist() == ["C1"]
    assert one_off["mean_days_late_12m"].isna().all()
    with pytest.raises(InputError, match="unknown invoice kind 'weekly'"):
        with read_only(sample_db) as con:
            client_payment_habits(con, date(2026, 4, 30), invoice_kind="weekly")


def monthly_history(customer_id: str, late_days: list[int]) -> tuple[list, list, list]:
    """One 100.00 invoice a month from 2025-01-01 (Net 30), each paid `late_days[n]` after its due date."""
    invoices, payments, applications = [], [], []
    for n, late in enumerate(late_days):
        issued = date(2025, n + 1, 1)
        paid = issued + timedelta(days=30 + late)
        key = f"{customer_id}-{n}"
        invoices.append({"invoice_id": key, "customer_id": customer_id, "txn_date": issued,
                         "due_date": issued + timedelta(days=30), "total": "100.00"})
        payments.append({"payment_id": key, "customer_id": customer_id, "txn_date": paid, "amount": "100.00"})
        applications.append({"application_id": key, "invoice_id": key, "payment_id": key, "applied_on": paid, "amount": "100.00"})
    return invoices, payments, applications


def test_drift_flags_a_client_whose_latest_invoices_slipped(tmp_path):
    slipping = monthly_history("R1", [0] * 9 + [30, 30, 30])
    steady = monthly_history("R2", [0] * 12)
    path = write_book(
        tmp_path / "drift.duckdb",
        [{"customer_id": "R1", "name": "Rowan Dental"}, {"customer_id": "R2", "name": "Spruce Law"}],
        slipping[0] + steady[0], slipping[1] + steady[1], [], slipping[2] + steady[2],
    )
    with read_only(path) as con:
        habits = client_payment_habits(con, date(2026, 2, 15)).set_index("customer_id")
    # R1's 12-month median is 0 days late; its last three were 30 late each, beyond 0 + 10.
    assert habits.loc["R1", "median_days_late_12m"] == 0
    assert bool(habits.loc["R1", "drift"]) is True
    assert bool(habits.loc["R2", "drift"]) is False


def test_collections_worklist_ranks_overdue_clients(sample_db):
    with read_only(sample_db) as con:
        worklist = collections_worklist(con, date(2026, 3, 31))
    columns = ["customer_id", "overdue", "oldest_days_past_due", "overdue_invoices", "email", "last_payment_date"]
    assert worklist[columns].values.tolist() == [
        ["C3", D("486.67"), 28, 1, "", date(2026, 3, 25)],
        ["C1", D("280.00"), 70, 2, "ap@acme.example", date(2026, 3, 15)],  # I2 45 dpd + I8 (sub-customer) 70 dpd
        ["C2", D("120.50"), 120, 1, "billing@birch.example", date(2026, 3, 28)],
    ]
