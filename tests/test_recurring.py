"""Invoice-based MRR: the recurring-invoice recognition rule, movements, summary, forecast."""

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from core.errors import InputError

from core.db import read_only
from metrics.recurring import (
    mrr_forecast,
    mrr_forecast_backtest,
    mrr_movements,
    recurring_invoices,
    recurring_revenue_summary,
)
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


# Delinquent MRR counts clients with an invoice more than 30 days past due at the as-of date. Monthly
# agreements billed on the 1st, due the same day, February 2025 to March 2026:
#   K 100.00 a month; its 2025-02 invoice was paid 2025-06-15 (58 days past due a year before the
#     as-of date, on 2025-03-31), all others on the day: not delinquent at 2026-03-31
#   L 200.00 a month; its 2026-02 invoice is unpaid: 58 days past due at 2026-03-31
# So delinquent MRR is 200.00 at 2026-03-31 (not 300.00: K was late a year ago, not now), 100.00 at
# 2025-05-31 (K's February invoice 119 days past due) and 0.00 at 2025-06-30.
def test_delinquent_mrr_counts_only_what_is_late_now(tmp_path):
    months = [date(2025 + (1 + n) // 12, (1 + n) % 12 + 1, 1) for n in range(14)]
    invoices, payments, applications = [], [], []
    for client, amount in (("K", "100.00"), ("L", "200.00")):
        for n, day in enumerate(months):
            invoice = f"I{client}{n}"
            invoices.append({"invoice_id": invoice, "customer_id": client, "txn_date": day, "due_date": day,
                             "total": amount, "recurring_template_id": f"S-{client}"})
            paid = date(2025, 6, 15) if (client, n) == ("K", 0) else None if (client, day) == ("L", date(2026, 2, 1)) else day
            if paid is not None and paid <= AS_OF:
                payments.append({"payment_id": f"P{invoice}", "customer_id": client, "txn_date": paid, "amount": amount})
                applications.append({"application_id": f"A{invoice}", "invoice_id": invoice, "payment_id": f"P{invoice}",
                                     "applied_on": paid, "amount": amount})
    path = write_book(tmp_path / "d.duckdb", [{"customer_id": c, "name": c} for c in "KL"], invoices, payments,
                      applications=applications)
    with read_only(path) as con:
        assert recurring_revenue_summary(con, AS_OF).iloc[0]["delinquent_mrr"] == Decimal("200.00")
        assert recurring_revenue_summary(con, date(2025, 6, 30)).iloc[0]["delinquent_mrr"] == Decimal("0.00")
        assert recurring_revenue_summary(con, date(2025, 5, 31)).iloc[0]["delinquent_mrr"] == Decimal("100.00")


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


# A year of monthly billing on the 1st (schedule ids), for the forecast worked by hand at 2025-09-30:
#   A 1000 all year; B 500, 600 from July (expansion 100); C 200 to July (churn 200 in August:
#   July's invoice covers to 08-01 + grace); D 300 from September (new 300).
# MRR at the month-ends 03-31 ... 09-30: 1700, 1700, 1700, 1700, 1800, 1600, 1900; 1900 after.
# F bills 100 on 08-05 and 09-05 without a schedule: two invoices are no run, so not recurring.
CUTOFF = date(2025, 9, 30)
YEAR = [date(2025, month, 1) for month in range(1, 13)]
PLAN = {"A": lambda m: 1000, "B": lambda m: 500 if m < 7 else 600, "C": lambda m: 200 if m <= 7 else None,
        "D": lambda m: 300 if m >= 9 else None}


def _year_book(path, planted=()):
    invoices = [
        {"invoice_id": f"I{client}{day.month}", "customer_id": client, "txn_date": day, "due_date": day,
         "total": amount, "recurring_template_id": f"S-{client}"}
        for client, amount_in in PLAN.items() for day in YEAR if (amount := amount_in(day.month)) is not None
    ] + [
        {"invoice_id": f"IF{month}", "customer_id": "F", "txn_date": date(2025, month, 5),
         "due_date": date(2025, month, 5), "total": 100, "kind": "other", "recurring_template_id": None}
        for month in (8, 9)
    ] + list(planted)
    return write_book(path, [{"customer_id": c, "name": f"Client {c}"} for c in [*PLAN, "E", "F"]], invoices)


def test_forecast_rule_worked_by_hand(tmp_path):
    # Six months to 09-30: net rates (share of the month's start) 0, 0, 0, +100/1700, -200/1800, 0;
    # mean -0.0087146 -> growth 0.991285 (6 places); mean new + reactivated = 300 / 6 = 50.00.
    # October: 1900 x 0.991285 + 50 = 1933.44; November: 1933.44 x 0.991285 + 50 = 1966.59;
    # December: 1966.59 x 0.991285 + 50 = 1999.45.
    with read_only(_year_book(tmp_path / "y.duckdb")) as con:
        forecast = mrr_forecast(con, CUTOFF, months=3, method="rule")
        rows, summary = mrr_forecast_backtest(con, date(2025, 12, 31), cutoffs=1, horizons=(1, 3))
    assert list(forecast["mrr"]) == [Decimal("1933.44"), Decimal("1966.59"), Decimal("1999.45")]
    # h = 3 from 09-30 (target 12-31); h = 1 from 11-30 (the last month-end whose next has passed).
    by_horizon = rows.set_index("horizon")
    assert (by_horizon.loc[3, "cutoff"], by_horizon.loc[1, "cutoff"]) == (CUTOFF, date(2025, 11, 30))
    # Trend: least squares through 1700 x 4, 1800, 1600, 1900 (x = 0..6) has slope 500/28 and
    # passes (3, 12100/7), so at x = 9: 12850/7 = 1835.71.
    three = by_horizon.loc[3]
    assert (three["actual"], three["rule"], three["flat"], three["trend"]) == (
        Decimal("1900.00"), Decimal("1999.45"), Decimal("1900.00"), Decimal("1835.71"))
    figures = summary.set_index(["method", "horizon"])
    assert figures.loc[("rule", 3), "mae"] == 99.45 and figures.loc[("flat", 3), "mae"] == 0
    assert round(figures.loc[("trend", 3), "mape"], 6) == round(64.29 / 1900, 6)


def test_backtest_at_a_cutoff_reads_nothing_after_it(tmp_path):
    # After 09-30: a new client E on a schedule, and F's third and later invoices, which make its
    # August and September invoices a recognisable run - but only from 10-05 on.
    planted = [
        {"invoice_id": f"IE{month}", "customer_id": "E", "txn_date": date(2025, month, 1),
         "due_date": date(2025, month, 1), "total": 400, "recurring_template_id": "S-E"}
        for month in (10, 11, 12)
    ] + [
        {"invoice_id": f"IF{month}", "customer_id": "F", "txn_date": date(2025, month, 5),
         "due_date": date(2025, month, 5), "total": 100, "kind": "other", "recurring_template_id": None}
        for month in (10, 11, 12)
    ]
    results = []
    for name, extra in (("base", ()), ("planted", planted)):
        with read_only(_year_book(tmp_path / f"{name}.duckdb", extra)) as con:
            rows, _ = mrr_forecast_backtest(con, date(2025, 12, 31), cutoffs=1, horizons=(3,))
            results.append((rows.iloc[0], mrr_forecast(con, CUTOFF, months=3)))
    (base, base_forecast), (planted_row, planted_forecast) = results
    assert planted_row["cutoff"] == base["cutoff"] == CUTOFF
    assert [planted_row[m] for m in ("rule", "flat", "trend")] == [base[m] for m in ("rule", "flat", "trend")]
    assert planted_forecast.equals(base_forecast)
    assert (base["actual"], planted_row["actual"]) == (Decimal("1900.00"), Decimal("2400.00"))


def test_the_forecast_uses_the_method_that_backtests_best(demo_db):
    from tests.conftest import DEMO_AS_OF

    with read_only(demo_db) as con:
        _, accuracy = mrr_forecast_backtest(con, DEMO_AS_OF)
        chosen = mrr_forecast(con, DEMO_AS_OF)
        rule = mrr_forecast(con, DEMO_AS_OF, method="rule")
        summary = recurring_revenue_summary(con, DEMO_AS_OF).iloc[0]
        with pytest.raises(InputError, match="unknown MRR forecast method 'arima'"):
            mrr_forecast(con, DEMO_AS_OF, method="arima")
    # On the demo, keeping MRR flat has the lowest mean backtest MAPE, so the forecast keeps it flat.
    mean_error = accuracy.groupby("method")["mape"].mean()
    assert mean_error.idxmin() == "flat" and mean_error["flat"] < mean_error["rule"]
    assert set(chosen["method"]) == {"flat"} and set(chosen["mrr"]) == {summary["mrr"]}
    assert (rule["method"].iloc[0], rule["mrr"].iloc[-1]) == ("rule", Decimal("257025.80"))


def test_each_date_recognises_a_run_from_what_it_knew(tmp_path):
    # W is billed 100.00 without a schedule on 01-05, 02-04, 03-06 and 04-05: a run of three from
    # 03-06 on. As known at 02-28 there is no run (MRR 0 at 01-31 and 02-28); as known at 03-31
    # all three are recurring, so January's and February's month-ends, recomputed then, have MRR
    # 100 (W1's and W2's periods plus grace cover them), and March's too. The backtest's one query over several dates gives
    # what mrr_movements gives at each of them alone.
    from metrics.recurring import _movements_as_known

    days = (date(2026, 1, 5), date(2026, 2, 4), date(2026, 3, 6), date(2026, 4, 5))
    invoices = [{"invoice_id": f"W{n}", "customer_id": "W", "txn_date": day, "due_date": day, "total": 100,
                 "kind": "other"} for n, day in enumerate(days, 1)]
    path = write_book(tmp_path / "w.duckdb", [{"customer_id": "W", "name": "W"}], invoices)
    dates = [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    with read_only(path) as con:
        together = _movements_as_known(con, dates, 2)
        alone = {day: mrr_movements(con, day, 2) for day in dates}
    assert list(together[date(2026, 2, 28)]["mrr_end"]) == [Decimal("0.00"), Decimal("0.00")]
    assert list(together[date(2026, 3, 31)]["mrr_end"]) == [Decimal("100.00"), Decimal("100.00")]
    assert together[date(2026, 3, 31)]["mrr_start"].iloc[0] == Decimal("100.00")  # 01-31, as known at 03-31
    for day in dates:
        pd.testing.assert_frame_equal(together[day], alone[day])
