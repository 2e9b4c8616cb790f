"""Invoice-based MRR: the recurring-invoice recognition rule, movements, summary, forecast."""

from datetime import date
from decimal import Decimal

from etl.db import read_only
from metrics.recurring import mrr_forecast, mrr_movements, recurring_invoices, recurring_revenue_summary
from tests.books import write_book

AS_OF = date(2026, 3, 31)

# Monthly agreements billed on the 1st (schedule ids on the invoices):
#   P 100, 100, 150, 150 (Dec-Mar)  -> expansion +50 in February
#   R 200, 200, 200, 120            -> contraction 80 in March
#   S 300, 300 (Dec, Jan)           -> churn 300 in February (January's invoice covers to 02-01 + grace)
#   T 80 (March only)               -> new 80 in March
#   U 50 (December), 50 (March)     -> lapsed by 01-31, reactivation 50 in March
# MRR at 01-31 = 600, 02-28 = 350, 03-31 = 400.
BILLING = {"P": [100, 100, 150, 150], "R": [200, 200, 200, 120], "S": [300, 300, None, None],
           "T": [None, None, None, 80], "U": [50, None, None, 50]}
MONTHS = [date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]


def _movement_book(path):
    invoices = [
        {"invoice_id": f"I{client}{n}", "customer_id": client, "txn_date": day, "due_date": day, "total": amount,
         "recurring_template_id": f"S-{client}"}
        for client, amounts in BILLING.items()
        for n, (day, amount) in enumerate(zip(MONTHS, amounts))
        if amount is not None
    ]
    return write_book(path, [{"customer_id": c, "name": f"Client {c}"} for c in BILLING], invoices)


def test_movements_of_a_three_month_history(tmp_path):
    with read_only(_movement_book(tmp_path / "m.duckdb")) as con:
        months = mrr_movements(con, AS_OF, months=2).set_index("month_end")
    february, march = months.loc[date(2026, 2, 28)], months.loc[AS_OF]
    assert (february["mrr_start"], february["expansion"], february["churn"], february["mrr_end"]) == (
        Decimal("600.00"), Decimal("50.00"), Decimal("300.00"), Decimal("350.00"))
    assert february["new"] == february["contraction"] == february["reactivation"] == 0
    assert round(february["nrr"], 4) == round(350 / 600, 4) and february["grr"] == 0.5
    assert round(february["logo_churn"], 4) == round(1 / 3, 4)
    assert (march["contraction"], march["new"], march["reactivation"], march["net_new"], march["mrr_end"]) == (
        Decimal("80.00"), Decimal("80.00"), Decimal("50.00"), Decimal("50.00"), Decimal("400.00"))
    assert march["arr"] == Decimal("4800.00")


def test_summary_and_forecast(tmp_path):
    with read_only(_movement_book(tmp_path / "m.duckdb")) as con:
        summary = recurring_revenue_summary(con, AS_OF).iloc[0]
        forecast = mrr_forecast(con, AS_OF, months=3)
    assert (summary["mrr"], summary["arr"]) == (Decimal("400.00"), Decimal("4800.00"))
    assert list(forecast["month_end"]) == [date(2026, 4, 30), date(2026, 5, 31), date(2026, 6, 30)]
    assert all(isinstance(value, Decimal) for value in forecast["mrr"])


# Without schedule ids: W bills 100.00, 104.00, 98.00 a month apart (within 10 % and 5 days) ->
# recurring; Y only twice; Z three times but 150.00 in the middle; V quarterly 900.00 x 3.
def test_recognition_rule(tmp_path):
    def invoice(name, client, day, total):
        return {"invoice_id": name, "customer_id": client, "txn_date": day, "due_date": day, "total": total, "kind": "other"}

    invoices = [
        invoice("W1", "W", date(2026, 1, 5), 100), invoice("W2", "W", date(2026, 2, 4), 104),
        invoice("W3", "W", date(2026, 3, 6), 98),
        invoice("Y1", "Y", date(2026, 1, 5), 100), invoice("Y2", "Y", date(2026, 2, 5), 100),
        invoice("Z1", "Z", date(2026, 1, 5), 100), invoice("Z2", "Z", date(2026, 2, 5), 150),
        invoice("Z3", "Z", date(2026, 3, 5), 100),
        invoice("V1", "V", date(2025, 7, 1), 900), invoice("V2", "V", date(2025, 10, 1), 900),
        invoice("V3", "V", date(2026, 1, 1), 900),
    ]
    path = write_book(tmp_path / "r.duckdb", [{"customer_id": c, "name": c} for c in "WYZV"], invoices)
    with read_only(path) as con:
        found = recurring_invoices(con, AS_OF)
    assert dict(zip(found["invoice_id"], found["months"])) == {"W1": 1, "W2": 1, "W3": 1, "V1": 3, "V2": 3, "V3": 3}
    assert set(found["basis"]) == {"recognised"}
