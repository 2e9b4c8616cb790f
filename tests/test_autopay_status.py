"""Autopay status at a date from the dated enrollment history, with provenance precedence."""

from datetime import date

import pandas as pd

from core.db import read_only
from metrics.autopay import autopay_status_as_of
from tests.books import SAMPLE_CUSTOMERS, load_books

ENROLLMENTS = [
    # C1 inferred on autopay from March, then the imported roster says enabled from April.
    ("C1", "inferred", date(2026, 3, 1), None, "enabled", "card"),
    ("C1", "imported", date(2026, 4, 1), None, "enabled", "ach"),
    # C2 imported enabled Jan-May, then a roster re-import records it disabled from June.
    ("C2", "imported", date(2026, 1, 1), date(2026, 6, 1), "enabled", "card"),
    ("C2", "imported", date(2026, 6, 1), None, "disabled", "card"),
    # C3: inferred enabled, but a manual entry says no.
    ("C3", "inferred", date(2026, 2, 1), None, "enabled", "card"),
    ("C3", "manual", date(2026, 2, 15), None, "disabled", "other"),
]


def test_status_follows_history_and_precedence(tmp_path):
    columns = ["customer_id", "provenance", "valid_from", "valid_to", "status", "method"]
    books = {"customers": pd.DataFrame([{"currency": "USD", **c} for c in SAMPLE_CUSTOMERS]),
             "autopay_enrollments": pd.DataFrame(ENROLLMENTS, columns=columns)}
    load_books(tmp_path / "a.duckdb", books)

    def status(day):
        with read_only(tmp_path / "a.duckdb") as ro:
            frame = autopay_status_as_of(ro, day)
        return {r.customer_id: (r.on_autopay, r.provenance, r.method) for r in frame.itertuples()}

    assert status(date(2026, 3, 15)) == {
        "C1": (True, "inferred", "card"), "C2": (True, "imported", "card"), "C3": (False, "manual", "other")}
    assert status(date(2026, 6, 1)) == {
        "C1": (True, "imported", "ach"), "C2": (False, "imported", "card"), "C3": (False, "manual", "other")}
    assert status(date(2025, 12, 31)) == {}
