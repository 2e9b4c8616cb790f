"""The monthly review pack: one document for the monthly review meeting, as HTML or PDF.

Everything in it is as of the month's last day (or today, for the month under way), each figure
beside its value at the end of the month before: the month in a few sentences, receivables and
their aging, the collection KPIs beside the CRF medians, the clients with the most overdue money,
autopay and its what-if, recurring revenue, the 13-week cash forecast, and how last month's forecast
did. Every figure is a metric (metrics/); this module only picks, compares and words them.

One view of text (`pack_view`) feeds one Jinja template (etl/templates/pack.html). The charts are
the dashboard's own Plotly figures (etl/charts.py) drawn as SVG by Kaleido through Chromium; the PDF
is that same HTML printed by headless Chromium, its dates set to the generation date, so a fixed
month, data and product clock give the same bytes. No network is used: Plotly's own plotly.js is
loaded from the plotly package and MathJax is off.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from email.utils import make_msgid
from pathlib import Path

import duckdb
import jinja2
import pandas as pd

import metrics
from core.access import COLLECTOR, Actor, require
from core.errors import InputError, SendError, SettingsError
from core.money import money
from core.settings import Settings, settings as current_settings
from core.units import days, percent, ratio, signed_days, signed_money, signed_points
from etl import activity, charts, mail
from metrics.autopay import WHAT_IF_CANDIDATES
from metrics.forecast import BACKTEST_METHOD_NAMES, backtest_summary, backtest_weeks
from metrics.kpi_review import previous_month_end
from metrics.kpis import CRF_MEDIANS
from metrics.status import books_span

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = (".pdf", ".html")
TOP_OVERDUE_CLIENTS = 10
SAID = ("note", "call", "email", "promise")  # the history a person wrote or agreed; not reminders sent, nor disputes
SAID_LENGTH = 160  # characters of a note the overdue page shows
HEADLINE_CLIENTS = 3  # "three clients hold 48 % of it"
ACCURACY_WEEKS = 4  # the weeks of last month's forecast that have ended by this month's end
KPI_WINDOW_DAYS = 90  # the Overview's default window
CHART_SIZE = {"width": 900, "height": 360}
_HTML = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                           undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Month:
    """The month a pack is for: its first day, the date its figures are as of (the last day, or
    today for the month under way) and the previous month's last day, which changes are from."""

    first: date
    as_of: date
    previous: date
    to_date: bool

    @property
    def label(self) -> str:
        return f"{self.first:%B %Y}"


def pack_month(con: duckdb.DuckDBPyConnection, text: str, today: date) -> Month:
    """The month `text` (YYYY-MM) names, refused when it has not begun by `today` or the books
    hold nothing for it."""
    matched = _MONTH.fullmatch(text.strip())
    if not matched or not 1 <= int(matched[2]) <= 12:
        raise InputError(f"--month {text!r} is not a month: use YYYY-MM, e.g. {today:%Y-%m}")
    first = date(int(matched[1]), int(matched[2]), 1)
    last = (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    if first > today:
        raise InputError(f"{first:%B %Y} has not begun: today is {today} (the product clock, LEDGERLIGHT_TODAY); "
                         f"choose {today:%Y-%m} or earlier")
    first_transaction, data_through = books_span(con)
    if first_transaction is None:
        raise InputError("the database holds no invoices yet: run `python -m etl demo` or a sync first")
    if last < first_transaction or first > data_through:
        raise InputError(f"the books hold no data for {first:%B %Y}: they run from {first_transaction} to "
                         f"{data_through}; choose a month from {first_transaction:%Y-%m} to {data_through:%Y-%m}")
    limit = metrics.snapshot_limit(con, min(last, today))
    if limit:
        raise InputError(f"no review pack for these books: {limit}")
    as_of = min(last, today)
    return Month(first, as_of, previous_month_end(as_of), last > today)


def available_months(con: duckdb.DuckDBPyConnection, up_to: date) -> list[str]:
    """The months (YYYY-MM, newest first) a pack can be made for, to the month of `up_to`."""
    first_transaction, data_through = books_span(con)
    if first_transaction is None:
        return []
    cursor, last = first_transaction.replace(day=1), min(up_to, data_through or up_to)
    months = []
    while cursor <= last:
        months.append(f"{cursor:%Y-%m}")
        cursor = (cursor + timedelta(days=31)).replace(day=1)
    return months[::-1]


# --- the figures -----------------------------------------------------------------------------


def _headline(con: duckdb.DuckDBPyConnection, as_of: date) -> dict:
    """The figures a pack compares month to month, at one date."""
    mrr = metrics.recurring_revenue_summary(con, as_of).iloc[0]
    return {
        "summary": metrics.ar_summary(con, as_of).iloc[0],
        "buckets": metrics.aging_buckets(con, as_of),
        "kpis": metrics.kpis(con, as_of, KPI_WINDOW_DAYS).iloc[0],
        "adoption": metrics.autopay_adoption(con, as_of).iloc[0],
        "mrr": mrr,
        "forecast": metrics.forecast_totals(metrics.cash_forecast(con, as_of)),
    }


def pack_data(con: duckdb.DuckDBPyConnection, month: Month) -> dict:
    """Every metric the pack shows for `month`, and the headline figures of the month before
    (None when the books begin after it)."""
    as_of = month.as_of
    first_transaction, _ = books_span(con)
    candidates = metrics.autopay_conversion_candidates(con, as_of)
    top = candidates.head(WHAT_IF_CANDIDATES)
    weeks = min(ACCURACY_WEEKS, (as_of - month.previous).days // 7)  # of last month's forecast, ended by now
    accuracy = (backtest_weeks(con, month.previous + timedelta(weeks=weeks), cutoffs=1, weeks=weeks)
                if month.previous >= first_transaction and weeks else None)
    return {
        "month": month,
        "currency": metrics.home_currency(con),
        "companies": metrics.companies(con)["name"].tolist(),
        "now": _headline(con, as_of),
        "before": _headline(con, month.previous) if month.previous >= first_transaction else None,
        "ar_trend": metrics.ar_trend(con, as_of),
        "kpi_series": metrics.kpi_series(con, as_of, KPI_WINDOW_DAYS),
        "worklist": metrics.collections_worklist(con, as_of),
        "timeline": metrics.collection_timeline(con, as_of),
        "adoption_trend": metrics.autopay_adoption_trend(con, as_of),
        "candidates": top,
        "what_if": (metrics.autopay_what_if(con, as_of, customer_ids=tuple(top["customer_id"])).iloc[0]
                    if len(top) else None),
        "movements": metrics.mrr_movements(con, as_of),
        "mrr_forecast": metrics.mrr_forecast(con, as_of),
        "cash_forecast": metrics.cash_forecast(con, as_of),
        "at_risk": metrics.invoices_at_risk(con, as_of),
        "accuracy": accuracy,
    }


def pack_figures(data: dict) -> dict[str, object]:
    """The dashboard's Plotly figures for the pack, by name."""
    currency = data["currency"]
    return {
        "aging": charts.aging_bars(data["now"]["buckets"], currency),
        "ar_trend": charts.ar_trend(data["ar_trend"], currency),
        "kpi_trend": charts.kpi_trend(data["kpi_series"]),
        "autopay_adoption": charts.autopay_adoption(data["adoption_trend"]),
        "mrr": charts.mrr_trend(data["movements"], data["mrr_forecast"], currency),
        "cash_forecast": charts.cash_forecast(data["cash_forecast"], currency),
    }


# --- words -----------------------------------------------------------------------------------


def _missing(value) -> bool:
    return value is None or (not isinstance(value, (str, Decimal)) and pd.isna(value))


def _share(fraction) -> str:
    return percent(None if _missing(fraction) else float(fraction))


def _days(value) -> str:
    return days(None if _missing(value) else float(value))


def _was(before, key: str):
    """A figure of the month before, or None when the books begin after it."""
    return None if before is None else before[key]


def _change(now, before) -> float | None:
    """now − before, or None when either is missing (the books begin after the month before)."""
    return None if _missing(now) or _missing(before) else float(now - before)


def _money_change(now: Decimal, before: Decimal | None, currency: str) -> str:
    """'+$1,234.56 (+1.2%)', '-$10.00 (-0.1%)', '–' when there is nothing to compare with."""
    if _missing(before):
        return "–"
    delta = now - before
    relative = f" ({'+' if delta >= 0 else ''}{_share(float(delta / before))})" if before else ""
    return f"{signed_money(delta, currency)}{relative}"


def _moved(now, before) -> str:
    return "rose" if now > before else "fell" if now < before else "held"


def _money_sentence(name: str, now: Decimal, before: Decimal | None, currency: str) -> str:
    if _missing(before):
        return f"{name} is {money(now, currency)}"
    if now == before:
        return f"{name} held at {money(now, currency)}"
    if not before:
        return f"{name} rose from {money(before, currency)} to {money(now, currency)}"
    return f"{name} {_moved(now, before)} {_share(abs(float((now - before) / before)))} to {money(now, currency)}"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _count(n: int) -> str:
    return {1: "one client", 2: "two clients", 3: "three clients"}.get(n, f"{n} clients")


def top_overdue_share(worklist: pd.DataFrame, overdue_ar: Decimal, clients: int = HEADLINE_CLIENTS) -> tuple[list[str], float | None]:
    """The names of the `clients` clients with the most overdue money, and their share of it."""
    top = worklist.head(clients)
    held = sum(top["overdue"], start=Decimal("0.00"))
    return top["customer"].tolist(), float(held / overdue_ar) if overdue_ar else None


def headline_sentences(data: dict) -> list[str]:
    """The month's cash story in a few plain sentences."""
    now, before, currency = data["now"], data["before"], data["currency"]
    past = before or {}
    summary, kpi, adoption, mrr = now["summary"], now["kpis"], now["adoption"], now["mrr"]
    was = (lambda group, key: past[group][key]) if before else (lambda group, key: None)
    sentences = [f"{_money_sentence('Total A/R', summary.total_ar, was('summary', 'total_ar'), currency)}, "
                 f"{_share(summary.pct_current)} of it current."]
    overdue = _money_sentence("Overdue A/R", summary.overdue_ar, was("summary", "overdue_ar"), currency)
    names, share = top_overdue_share(data["worklist"], summary.overdue_ar)
    if names:
        overdue += f"; {_count(len(names))} hold {_share(share)} of it: {_names(names)}"
    sentences.append(overdue + ".")
    low, high = CRF_MEDIANS["dso"]
    dso = f"DSO is {_days(kpi.dso)}"
    if before and not _missing(kpi.dso) and not _missing(was("kpis", "dso")):
        dso += f" ({signed_days(_change(kpi.dso, was('kpis', 'dso')))} on the month)"
    sentences.append(f"{dso} against a CRF median of {low:.0f}–{high:.0f} days; CEI {_share(None if _missing(kpi.cei) else kpi.cei / 100)}.")
    sentences.append(f"{adoption.autopay_clients:,} of {adoption.active_recurring_clients:,} active recurring clients pay by "
                     f"autopay ({_share(adoption.adoption_by_clients)}), securing {_share(adoption.adoption_by_mrr)} of MRR.")
    what_if = data["what_if"]
    if what_if is not None and what_if.clients:
        sentences.append(f"Moving the top {what_if.clients} conversion candidates to autopay would release "
                         f"{money(what_if.cash_released, currency)} at once and take DSO to {_days(what_if.dso_after)}.")
    sentences.append(f"{_money_sentence('MRR', mrr['mrr'], was('mrr', 'mrr'), currency)}.")
    forecast = now["forecast"]
    sentences.append(f"The next 13 weeks should bring in {money(forecast['expected'], currency)} "
                     f"(band {money(forecast['low'], currency)} – {money(forecast['high'], currency)}).")
    accuracy = data["accuracy"]
    if accuracy is not None:
        expected, actual = (sum(accuracy[c], start=Decimal("0.00")) for c in ("expected", "actual"))
        sentences.append(f"Last month's forecast expected {money(expected, currency)} in its first {len(accuracy)} weeks; "
                         f"{money(actual, currency)} came in.")
    return sentences


# --- the view: everything the template shows, as text -----------------------------------------


def _tile(label: str, value: str, change: str = "–") -> dict:
    return {"label": label, "value": value, "change": change}


def _table(headings: list[str], rows: list[list[str]], caption: str = "", wrapped: tuple[int, ...] = ()) -> dict:
    """A table of text; the columns `wrapped` (by place) hold words, which wrap, the rest figures."""
    return {"headings": headings, "rows": rows, "caption": caption, "wrapped": wrapped}


def _receivables_page(data: dict) -> dict:
    now, before, currency = data["now"], data["before"], data["currency"]
    summary, past = now["summary"], before and before["summary"]
    buckets, past_buckets = now["buckets"], before and before["buckets"].set_index("bucket")["amount"]
    return {
        "id": "receivables", "title": "Receivables and aging",
        "tiles": [
            _tile("Total A/R", money(summary.total_ar, currency), _money_change(summary.total_ar, _was(past, "total_ar"), currency)),
            _tile("Overdue A/R", money(summary.overdue_ar, currency),
                  _money_change(summary.overdue_ar, _was(past, "overdue_ar"), currency)),
            _tile("% current", _share(summary.pct_current), signed_points(_change(summary.pct_current, _was(past, "pct_current")))),
            _tile("Open invoices", f"{summary.open_invoices:,}",
                  "–" if not before else f"{summary.open_invoices - past.open_invoices:+,}"),
        ],
        "charts": ["aging", "ar_trend"],
        "tables": [_table(
            ["Days past due", "Amount", "Invoices", "Change on the month"],
            [[str(row.bucket), money(row.amount, currency), f"{row.invoices:,}",
              _money_change(row.amount, None if past_buckets is None else past_buckets.get(row.bucket), currency)]
             for row in buckets.itertuples()])],
    }


_KPIS = (  # (metric column, label, how it is written, its unit: days, a share, CEI in points, a ratio)
    ("dso", "DSO", days, "days"), ("dso_countback", "DSO (countback)", days, "days"),
    ("bpdso", "Best possible DSO", days, "days"), ("add_crf", "Avg days delinquent (CRF)", days, "days"),
    ("add_invoice", "Avg days delinquent (invoices)", days, "days"),
    ("cei", "CEI", lambda v: _share(None if _missing(v) else v / 100), "cei"),
    ("pct_current", "% current", percent, "share"), ("pct_91_plus", "% 91+ days", percent, "share"),
    ("ar_turnover", "A/R turnover", ratio, "ratio"), ("bad_debt_ratio", "Bad-debt ratio", percent, "share"),
)


_CHANGES = {  # a KPI's change since the month before, by unit
    "days": signed_days, "share": signed_points,
    "cei": lambda change: signed_points(None if change is None else change / 100),  # CEI is kept in points
    "ratio": lambda change: "–" if change is None else f"{change:+.1f}×",
}


def _median(column: str, unit: str) -> str:
    if column not in CRF_MEDIANS:
        return "–"
    low, high = CRF_MEDIANS[column]
    if unit == "share":
        return _share(low) if low == high else f"{low * 100:.1f}–{high * 100:.1f}%"
    suffix = " days" if unit == "days" else "%"
    return f"≈ {low:.0f}{suffix}" if low == high else f"{low:.0f}–{high:.0f}{suffix}"


def _kpi_page(data: dict) -> dict:
    kpi, past = data["now"]["kpis"], data["before"] and data["before"]["kpis"]
    rows = []
    for column, label, written, unit in _KPIS:
        value, was = kpi[column], None if past is None else past[column]
        change = _CHANGES[unit](_change(value, was))
        rows.append([label, written(None if _missing(value) else value), "–" if past is None else written(None if _missing(was) else was),
                     change, _median(column, unit)])
    return {
        "id": "kpis", "title": "Collection KPIs", "tiles": [],
        "tables": [_table(["KPI", data["month"].label, "Month before", "Change", "CRF median"], rows,
                          f"Window: the {KPI_WINDOW_DAYS} days to each date. CRF medians: national summaries, 2020–21.")],
        "charts": ["kpi_trend"],
    }


def latest_said(timeline: pd.DataFrame) -> dict[tuple[str, str, str], dict]:
    """Each account's newest note, call, email or promise in its collections history (the
    timeline is newest first), by (source, company_id, account_id)."""
    said = timeline[timeline["kind"].isin(SAID)].drop_duplicates(["source", "company_id", "account_id"])
    return {(row["source"], row["company_id"], row["account_id"]): row for row in said.to_dict("records")}


def said_cell(entry: dict | None) -> str:
    """'2026-10-26 · call: Spoke to the office manager…', '2026-10-06 · promise (kept): Promised 950.00 by…'."""
    if entry is None:
        return "–"
    status = "" if _missing(entry["status"]) else f" ({entry['status']})"
    text = " ".join(str(entry["text"]).split())
    if len(text) > SAID_LENGTH:
        text = text[:SAID_LENGTH - 1].rstrip() + "…"
    return f"{entry['happened_on']} · {entry['kind']}{status}: {text}"


def _overdue_page(data: dict) -> dict:
    worklist, currency = data["worklist"], data["currency"]
    overdue_ar = data["now"]["summary"].overdue_ar
    oldest = metrics.bucket_labels()[-1]
    names, share = top_overdue_share(worklist, overdue_ar)
    said = latest_said(data["timeline"])
    rows = [[row["customer"], money(row["overdue"], currency),
             _share(float(row["overdue"] / overdue_ar) if overdue_ar else None), money(row[oldest], currency),
             f"{row['oldest_days_past_due']:,}", "–" if _missing(row["last_payment_date"]) else str(row["last_payment_date"]),
             said_cell(said.get((row["source"], row["company_id"], row["customer_id"])))]
            for row in worklist.head(TOP_OVERDUE_CLIENTS).to_dict("records")]
    lead = (f"{len(worklist):,} clients have overdue money; the top {_count(len(names))} hold {_share(share)} of it."
            if names else "No client has overdue money.")
    return {
        "id": "overdue", "title": "Top overdue clients", "lead": lead, "tiles": [], "charts": [],
        "tables": [_table(["Client", "Overdue", "Share of overdue", f"{oldest} days", "Oldest (days past due)",
                           "Last payment", "Latest note or promise"], rows,
                          "The latest note, call, email or promise to pay in each client's collections history "
                          "(Clients to chase), up to the as-of date.", wrapped=(6,))],
    }


def _autopay_page(data: dict) -> dict:
    now, before, currency = data["now"], data["before"], data["currency"]
    adoption, past = now["adoption"], before and before["adoption"]
    what_if = data["what_if"]
    tables = [_table(
        ["Candidate", "MRR", "Usually pays (days late, 12 mo.)", "Pays by card/ACH", "Cash released"],
        [[row.customer, money(row.mrr, currency), _days(row.weighted_days_late_12m), "yes" if row.pays_by_card_or_ach else "no",
          money(row.cash_released, currency)] for row in data["candidates"].itertuples()],
        f"The top {WHAT_IF_CANDIDATES} active recurring clients not on autopay, ranked by the cash moving them would release.")]
    if what_if is not None:
        tables.append(_table(["If they paid by autopay", "Now", "After", "Change"], [
            ["DSO", _days(what_if.dso_before), _days(what_if.dso_after), signed_days(_change(what_if.dso_after, what_if.dso_before))],
            ["Overdue A/R", money(what_if.overdue_ar_before, currency), money(what_if.overdue_ar_after, currency),
             money(what_if.overdue_ar_change, currency)],
            ["One-time cash released", "", money(what_if.cash_released, currency), ""],
        ]))
    return {
        "id": "autopay", "title": "Autopay",
        "tiles": [
            _tile("Clients on autopay", f"{adoption.autopay_clients:,} of {adoption.active_recurring_clients:,}",
                  "–" if past is None else f"{adoption.autopay_clients - past.autopay_clients:+,}"),
            _tile("Adoption by clients", _share(adoption.adoption_by_clients),
                  signed_points(_change(adoption.adoption_by_clients, _was(past, "adoption_by_clients")))),
            _tile("Autopay-secured MRR", money(adoption.autopay_secured_mrr, currency),
                  _money_change(adoption.autopay_secured_mrr, _was(past, "autopay_secured_mrr"), currency)),
            _tile("Adoption by MRR", _share(adoption.adoption_by_mrr), signed_points(_change(adoption.adoption_by_mrr, _was(past, "adoption_by_mrr")))),
        ],
        "charts": ["autopay_adoption"], "tables": tables,
    }


_MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn", "net_new")


def _mrr_page(data: dict) -> dict:
    now, before, currency = data["now"], data["before"], data["currency"]
    mrr, past = now["mrr"], before and before["mrr"]
    movements = data["movements"].set_index("month_end")
    months = [d for d in (data["month"].as_of, data["month"].previous) if d in movements.index]
    return {
        "id": "mrr", "title": "Recurring revenue",
        "tiles": [
            _tile("MRR", money(mrr["mrr"], currency), _money_change(mrr["mrr"], _was(past, "mrr"), currency)),
            _tile("ARR", money(mrr["arr"], currency), _money_change(mrr["arr"], _was(past, "arr"), currency)),
            _tile("NRR, 12 months", _share(mrr["nrr_12m"]), signed_points(_change(mrr["nrr_12m"], _was(past, "nrr_12m")))),
            _tile("GRR, 12 months", _share(mrr["grr_12m"]), signed_points(_change(mrr["grr_12m"], _was(past, "grr_12m")))),
            _tile("Delinquent MRR", money(mrr["delinquent_mrr"], currency),
                  _money_change(mrr["delinquent_mrr"], _was(past, "delinquent_mrr"), currency)),
        ],
        "charts": ["mrr"],
        "tables": [_table(["Movement", *(f"{d:%B %Y}" for d in months)],
                          [[name.replace("_", " "), *(money(movements.loc[d, name], currency) for d in months)]
                           for name in _MOVEMENTS],
                          "Invoice-based MRR: each client's latest recurring invoice per month it covers.")],
    }


def forecast_page(data: dict) -> dict:
    """The 13-week cash forecast: its totals beside last month's, its 80 % band, what is at risk
    (past-due money not expected within the 13 weeks), the chart and the weeks."""
    now, before, currency = data["now"], data["before"], data["currency"]
    totals, past = now["forecast"], before and before["forecast"]
    return {
        "id": "forecast", "title": "Cash forecast, 13 weeks",
        "tiles": [
            _tile("Expected cash, 13 weeks", money(totals["expected"], currency),
                  _money_change(totals["expected"], _was(past, "expected"), currency)),
            _tile("From open invoices", money(totals["from_open"], currency),
                  _money_change(totals["from_open"], _was(past, "from_open"), currency)),
            _tile("From invoices not yet issued", money(totals["from_not_yet_issued"], currency),
                  _money_change(totals["from_not_yet_issued"], _was(past, "from_not_yet_issued"), currency)),
            _tile("80 % band", f"{money(totals['low'], currency)} – {money(totals['high'], currency)}"),
            _tile("At risk", money(metrics.at_risk_total(data["at_risk"]), currency)),
        ],
        "charts": ["cash_forecast"],
        "tables": [_table(["Week", "From", "To", "Expected", "Low", "High"],
                          [[str(row.week), str(row.week_start), str(row.week_end), money(row.expected, currency),
                            money(row.low, currency), money(row.high, currency)]
                           for row in data["cash_forecast"].itertuples()])],
    }


def _accuracy_page(data: dict) -> dict:
    weekly, currency = data["accuracy"], data["currency"]
    if weekly is None:
        return {"id": "accuracy", "title": "How last month's forecast did", "tiles": [], "charts": [], "tables": [],
                "lead": "No forecast to check yet: the books begin after last month's end, or not a week of this "
                        "month has ended."}
    summary = backtest_summary(weekly)
    expected, actual = (sum(weekly[c], start=Decimal("0.00")) for c in ("expected", "actual"))
    return {
        "id": "accuracy", "title": "How last month's forecast did",
        "lead": f"The forecast made on {weekly['cutoff'].iloc[0]}, from the data known then, against the cash collected "
                f"in its first {len(weekly)} weeks (those ended by {data['month'].as_of}).",
        "tiles": [_tile("Expected", money(expected, currency)), _tile("Collected", money(actual, currency)),
                  _tile("Mean error per week", money(Decimal(str(round(summary['ledgerlight']['mae_1_4'], 2))), currency)),
                  _tile("Mean % error", _share(summary["ledgerlight"]["mape_1_4"]))],
        "charts": [],
        "tables": [
            _table(["Week", "From", "To", "Expected", "Band", "Collected", "Paid on due date"],
                   [[str(row.week), str(row.week_start), str(row.week_end), money(row.expected, currency),
                     f"{money(row.low, currency)} – {money(row.high, currency)}", money(row.actual, currency),
                     money(row.due_date_baseline, currency)] for row in weekly.itertuples()]),
            _table(["Method", "Mean error per week", "Mean % error"],
                   [[BACKTEST_METHOD_NAMES[method],
                     money(Decimal(str(round(figures["mae_1_4"], 2))), currency), _share(figures["mape_1_4"])]
                    for method, figures in summary.items() if method != "cutoffs"],
                   "The same weeks forecast by the baselines the backtest compares against (docs/forecast.md)."),
        ],
    }


def pack_view(data: dict, company: str | None, generated_on: date) -> dict:
    """Everything the pack shows, as text: the cover, the sentences and one entry per page."""
    month = data["month"]
    return {
        "company": company or ", ".join(data["companies"]),
        "month": month.label,
        "month_id": f"{month.first:%Y-%m}",
        "as_of": month.as_of.isoformat(),
        "as_of_long": f"{month.as_of.day} {month.as_of:%B %Y}" + (" (month to date)" if month.to_date else ""),
        "previous_long": f"{month.previous.day} {month.previous:%B %Y}",
        "generated_on": f"{generated_on.day} {generated_on:%B %Y}",
        "currency": data["currency"],
        "sentences": headline_sentences(data),
        "pages": [_receivables_page(data), _kpi_page(data), _overdue_page(data), _autopay_page(data),
                  _mrr_page(data), forecast_page(data), _accuracy_page(data)],
    }


# --- drawing -----------------------------------------------------------------------------------


def _chromium(reader: Settings) -> Path:
    path = reader.chromium()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise SettingsError(f"no Chromium at {path}: the pack draws its charts and prints its PDF with it. Install "
                            "Debian's chromium (apt-get install chromium) or set LEDGERLIGHT_CHROMIUM to a Chrome or Chromium")
    return path


def _named_traces(figure, name: str):
    """A copy of `figure` whose traces are named `name` and their place: Plotly would give each a
    random id, which its SVG repeats."""
    steady = figure.to_dict()
    for index, trace in enumerate(steady["data"]):
        trace["uid"] = f"{name}-{index}"
    return steady


def _steady_ids(svg: str, name: str) -> str:
    """Plotly names each drawing's clip paths after a random id: name them after the chart, so
    the same figure always gives the same SVG."""
    uid = re.search(r'id="defs-([0-9a-z]+)"', svg)
    return svg.replace(uid[1], name) if uid else svg


class ChartDrawer:
    """Kaleido's Chromium, started on a thread of its own as soon as it is made, so it boots while
    the metrics are computed; `draw` turns figures into SVG. Use it as a context manager."""

    def __init__(self, chromium: Path):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ledgerlight-charts", daemon=True)
        self._thread.start()
        self._browser = asyncio.run_coroutine_threadsafe(self._open(chromium), self._loop)

    @staticmethod
    async def _open(chromium: Path):
        import kaleido  # only when a pack is drawn

        browser = kaleido.Kaleido(path=str(chromium), mathjax=False, n=1, timeout=60)
        await browser.open()
        return browser

    def draw(self, figures: dict[str, object]) -> dict[str, str]:
        """Each figure drawn as SVG, by name, as a data: URL."""
        browser = self._browser.result()

        async def draw() -> list[bytes]:
            return [await browser.calc_fig(_named_traces(figure, name), opts={"format": "svg", **CHART_SIZE})
                    for name, figure in figures.items()]

        drawn = asyncio.run_coroutine_threadsafe(draw(), self._loop).result()
        return {name: "data:image/svg+xml;base64," + base64.b64encode(_steady_ids(svg.decode(), name).encode()).decode()
                for name, svg in zip(figures, drawn)}

    def __enter__(self) -> ChartDrawer:
        return self

    def __exit__(self, *exc) -> None:
        try:
            browser = self._browser.result(timeout=120)
            asyncio.run_coroutine_threadsafe(browser.close(), self._loop).result(timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()


def pack_html(view: dict, images: dict[str, str]) -> str:
    return _HTML.get_template("pack.html").render(view, images=images)


_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}[^)]*\)")


def pack_pdf(html: str, chromium: Path, generated_on: date) -> bytes:
    """`html` printed by headless Chromium, its creation dates the generation date."""
    with tempfile.TemporaryDirectory(prefix="ledgerlight-pack-") as folder:
        page, printed = Path(folder) / "pack.html", Path(folder) / "pack.pdf"
        page.write_text(html, encoding="utf-8")
        run = subprocess.run(
            [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={Path(folder) / 'profile'}", f"--print-to-pdf={printed}", page.as_uri()],
            capture_output=True, timeout=120, check=False)
        if run.returncode or not printed.exists():
            said = run.stderr.decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"{chromium} could not print the pack (exit {run.returncode}): {said[-1] if said else ''}")
        stamp = f"D:{generated_on:%Y%m%d}000000+00'00'".encode()
        return _PDF_DATE.sub(lambda m: b"/" + m[1] + b" (" + stamp + b")", printed.read_bytes())


# --- the whole pack ----------------------------------------------------------------------------


def check_output(out: str | os.PathLike) -> Path:
    """Where a pack is to be written: a .pdf or .html file in a folder that exists and may be
    written (tried with an empty file, removed at once, so nothing is left whatever the answer)."""
    path = Path(out).expanduser()
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"--out {path}: the pack is written as PDF or HTML, so name a .pdf or .html file")
    folder = path.parent
    if not folder.is_dir():
        being = "is a file, not a folder" if folder.exists() else "does not exist"
        raise InputError(f"--out {path}: {folder} {being}; create the folder or choose another")
    if path.is_dir():
        raise InputError(f"--out {path} is a folder; name a file in it, e.g. {path / 'review.pdf'}")
    probe = folder / f".{path.name}.{os.getpid()}.probe"
    try:
        with open(probe, "xb"):
            pass
        probe.unlink()
    except OSError as exc:
        raise InputError(f"--out {path}: ledgerlight may not write in {folder} ({exc.strerror}); "
                         "choose another place") from None
    return path


@dataclass(frozen=True)
class Pack:
    view: dict
    html: str
    images: dict[str, str]

    def pdf(self, reader: Settings | None = None) -> bytes:
        reader = reader or current_settings()
        return pack_pdf(self.html, _chromium(reader), reader.today())


def build_pack(con: duckdb.DuckDBPyConnection, month_text: str, company: str | None = None,
               reader: Settings | None = None) -> Pack:
    """The pack for the month `month_text` (YYYY-MM) of the books in `con`, dated by the product clock."""
    reader = reader or current_settings()
    month = pack_month(con, month_text, reader.today())
    with ChartDrawer(_chromium(reader)) as drawer:  # boots while the metrics are computed
        data = pack_data(con, month)
        view = pack_view(data, company, reader.today())
        images = drawer.draw(pack_figures(data))
    return Pack(view, pack_html(view, images), images)


def write_pack(pack: Pack, out: str | os.PathLike, reader: Settings | None = None, pdf: bytes | None = None) -> Path:
    """The pack written to `out` (.pdf or .html) whole or not at all; `pdf`: the pack already
    printed, so it is not printed twice when it is also emailed."""
    path = check_output(out)
    if path.suffix.lower() == ".pdf":
        content = pdf if pdf is not None else pack.pdf(reader)
    else:
        content = pack.html.encode("utf-8")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")  # beside it, so the rename is atomic
    try:
        with open(temporary, "xb") as file:  # a new file's permissions, as the umask says
            file.write(content)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


# --- by email ----------------------------------------------------------------------------------


def check_email(actor: Actor, to: str, reader: Settings | None = None) -> list[str]:
    """Before any work: may `actor` send, are the addresses in `to` (comma-separated) and the
    From address addresses, and does the SMTP server take the login. The recipients, checked."""
    require(actor, COLLECTOR, "email the review pack")
    recipients = mail.addresses(to, "--email")
    if not recipients:
        raise InputError("--email names no address: give one or more, separated by commas")
    mail.check_connection(reader)
    return recipients


def pack_subject(view: dict) -> str:
    return f"{view['company']} · monthly review · {view['month']}"


def pack_file_name(view: dict) -> str:
    return f"review-{view['month_id']}.pdf"


def pack_body(view: dict) -> str:
    """The message: what the pack is, the month's sentences, and the attachment's name."""
    lines = [f"Monthly review · {view['month']}", view["company"],
             f"Figures as of {view['as_of_long']}, each beside the end of the month before ({view['previous_long']}); "
             f"amounts in {view['currency']}.", "",
             *(f"- {sentence}" for sentence in view["sentences"]), "",
             f"The whole pack is attached ({pack_file_name(view)}).",
             f"Generated on {view['generated_on']} by ledgerlight."]
    return "\n".join(lines) + "\n"


def email_pack(db, actor: Actor, pack: Pack, recipients: list[str], pdf: bytes,
               reader: Settings | None = None) -> activity.PackDelivery:
    """Email the pack (`pdf` attached, its sentences in the body) to `recipients` through the SMTP
    settings, as the reminders go (etl/mail.py). Recorded in pack_deliveries 'sending' before it
    goes and 'sent' once the server took it; when it did not go, no record stays. SendError says
    what went wrong (a broken connection while the server held it: it may have gone)."""
    require(actor, COLLECTOR, "email the review pack")
    reader = reader or current_settings()
    sender = mail.sender(reader)
    view = pack.view
    delivery = activity.PackDelivery(
        date.fromisoformat(f"{view['month_id']}-01"), date.fromisoformat(view["as_of"]), view["company"],
        make_msgid(f"pack-{uuid.uuid4().hex[:12]}", domain=sender.rpartition("@")[2]), tuple(recipients),
        pack_subject(view), pack_file_name(view))
    message = mail.compose(sender, recipients, delivery.subject, pack_body(view), reader.now(),
                           [(delivery.attachment, pdf, "application/pdf")], delivery.message_id,
                           {"X-Ledgerlight-Pack": view["month_id"]})
    activity.claim_pack_delivery(db, actor, delivery)
    try:
        mail.send_one(message, reader)
    except mail.DeliveryUncertain as exc:
        raise SendError(f"{exc}: the pack may have gone, so it stays recorded as 'sending' (message "
                        f"{delivery.message_id}); check the mailbox before sending it again") from None
    except mail.MessageRefused as exc:
        activity.release_pack_delivery(db, actor, delivery)
        raise SendError(f"{exc}; the pack was not sent") from None
    except Exception:
        activity.release_pack_delivery(db, actor, delivery)
        raise
    activity.confirm_pack_delivery(db, actor, delivery)
    return delivery
