"""Benchmark: each headline metric beside the fastest hand-written DuckDB query of the same result.

    .venv/bin/python -m bench.bench_handwritten [--sizes 100000] [--db PATH ...] [--repeat 5] [--skip-demo] [--profile]

Issue 13's goal: every headline metric within 1.2x of a plain query a reader would write by hand
straight from the canonical tables (core/schema.py), the business rules of models/ written out in
it. On the demo and on books of --sizes invoices generated as bench_metrics does (or the files
--db names, opened read-only), each metric and its query run on a read-only connection; their
results must agree to the cent (compared as Decimal: the script stops, naming the metric, row and
column, where they do not). Each figure is the median of --repeat runs after one warm-up run, the
two interleaved so that machine load falls on both alike; ratio = ledgerlight ÷ hand-written.
--profile prints, for each metric, DuckDB's profile of its model queries and of the hand-written
one (operators that took at least a millisecond), to see where any excess goes.

The queries answer the metrics' defaults: due-date aging in 30-day periods (current, 1-30, 31-60,
61-90, 91+), sub-customers rolled up to their top-level parent, the 90-day KPI window. The pieces
several share (the applications in effect, the open invoices, the customer roll-up) are written
once below and pasted into each query as text: each is still one plain statement to DuckDB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd

import metrics
import models
from bench.bench_metrics import AS_OF
from bench.bench_pages import build_books
from core.db import query_frame, read_only

# The rules, as the models state them (models/base, models/as_of): only posted invoices, payments
# and credit memos count; an invoice without a due date is due on its date; an application counts
# from the latest of its own date and its documents' (a payment dated after it: from the payment's
# date), and only between posted documents; the open amount is the invoice's total less the
# applications in effect, in its own currency, then in the home currency at its own rate to the
# cent. Every join is on (source, company_id, id): a file may hold several companies.

# Per invoice, the applications in effect at $as_of (the invoice's own date is checked where it
# is read: an invoice dated after $as_of is not open at all).
_APPLIED = """
    SELECT a.source, a.company_id, a.invoice_id, sum(a.amount) AS applied
    FROM applications a
    LEFT JOIN payments p ON p.source = a.source AND p.company_id = a.company_id AND p.payment_id = a.payment_id
    LEFT JOIN credit_memos m
           ON m.source = a.source AND m.company_id = a.company_id AND m.credit_memo_id = a.credit_memo_id
    WHERE a.applied_on <= $as_of
      AND (a.payment_id IS NULL OR p.status = 'posted' AND p.txn_date <= $as_of)
      AND (a.credit_memo_id IS NULL OR m.status = 'posted' AND m.txn_date <= $as_of)
    GROUP BY ALL"""

# The invoices open at $as_of, with their open amount (own and home currency) and days past due.
_OPEN = f"""
    SELECT i.*, coalesce(i.due_date, i.txn_date) AS due_on,
           i.total - coalesce(a.applied, 0) AS open_amount,
           CAST(round((i.total - coalesce(a.applied, 0)) * i.exchange_rate, 2) AS DECIMAL(18,2)) AS home_open,
           $as_of - coalesce(i.due_date, i.txn_date) AS days_past_due
    FROM invoices i
    LEFT JOIN ({_APPLIED}) a USING (source, company_id, invoice_id)
    WHERE i.status = 'posted' AND i.txn_date <= $as_of AND i.total <> coalesce(a.applied, 0)"""

# Each sub-customer's top-level ancestor (QuickBooks nests up to five levels; ten are climbed).
_ROOTS = """
    WITH RECURSIVE up AS (
        SELECT source, company_id, customer_id, parent_id AS ancestor_id, 1 AS depth
        FROM customers WHERE parent_id IS NOT NULL
        UNION ALL
        SELECT u.source, u.company_id, u.customer_id, c.parent_id, u.depth + 1
        FROM up u
        JOIN customers c ON c.source = u.source AND c.company_id = u.company_id AND c.customer_id = u.ancestor_id
        WHERE c.parent_id IS NOT NULL AND u.depth < 10
    )
    SELECT source, company_id, customer_id, arg_max(ancestor_id, depth) AS root_id FROM up GROUP BY ALL"""

# The invoice `o` is in dispute at $as_of.
_DISPUTED = """EXISTS (
        SELECT 1 FROM disputes x
        WHERE x.source = o.source AND x.company_id = o.company_id AND x.invoice_id = o.invoice_id
          AND x.opened_on <= $as_of AND (x.resolved_on IS NULL OR x.resolved_on > $as_of))"""

_BUCKET = """CASE WHEN days_past_due <= 0 THEN 'current' WHEN days_past_due <= 30 THEN '1-30'
            WHEN days_past_due <= 60 THEN '31-60' WHEN days_past_due <= 90 THEN '61-90' ELSE '91+' END"""

_BUCKET_SUMS = """
       coalesce(sum(home_open) FILTER (WHERE days_past_due <= 0), 0)::DECIMAL(18,2) AS "current",
       coalesce(sum(home_open) FILTER (WHERE days_past_due BETWEEN 1 AND 30), 0)::DECIMAL(18,2) AS "1-30",
       coalesce(sum(home_open) FILTER (WHERE days_past_due BETWEEN 31 AND 60), 0)::DECIMAL(18,2) AS "31-60",
       coalesce(sum(home_open) FILTER (WHERE days_past_due BETWEEN 61 AND 90), 0)::DECIMAL(18,2) AS "61-90",
       coalesce(sum(home_open) FILTER (WHERE days_past_due >= 91), 0)::DECIMAL(18,2) AS "91+","""

AR_SUMMARY = f"""
SELECT $as_of AS as_of,
       coalesce(sum(home_open), 0)::DECIMAL(18,2) AS total_ar,
       coalesce(sum(home_open) FILTER (WHERE days_past_due <= 0), 0)::DECIMAL(18,2) AS current_ar,
       coalesce(sum(home_open) FILTER (WHERE days_past_due > 0), 0)::DECIMAL(18,2) AS overdue_ar,
       sum(home_open) FILTER (WHERE days_past_due <= 0) / nullif(sum(home_open), 0) AS pct_current,
       coalesce(sum(home_open) FILTER (WHERE days_past_due >= 91), 0)::DECIMAL(18,2) AS ar_91_plus,
       count(*) AS open_invoices
FROM ({_OPEN})"""

AGING_BUCKETS = f"""
SELECT b.bucket, coalesce(sum(o.home_open), 0)::DECIMAL(18,2) AS amount, count(o.invoice_id) AS invoices
FROM (VALUES (0, 'current'), (1, '1-30'), (2, '31-60'), (3, '61-90'), (4, '91+')) b(n, bucket)
LEFT JOIN ({_OPEN}) o ON {_BUCKET} = b.bucket
GROUP BY b.n, b.bucket ORDER BY b.n"""

OPEN_INVOICES_AS_OF = f"""
SELECT o.source, o.company_id, coalesce(r.root_id, o.customer_id) AS account_id, o.customer_id,
       c.name AS customer, o.invoice_id, o.doc_number, o.kind, o.txn_date, o.due_on AS due_date, o.currency,
       o.total, o.open_amount, o.home_open AS home_open_amount, o.days_past_due, {_DISPUTED} AS is_disputed,
       {_BUCKET} AS bucket
FROM ({_OPEN}) o
JOIN customers c USING (source, company_id, customer_id)
LEFT JOIN ({_ROOTS}) r USING (source, company_id, customer_id)
ORDER BY c.name, o.due_on, o.doc_number"""

# Credits (payments and credit memos) need the invoice's date too: a payment applied to an invoice
# dated after $as_of is still the customer's credit at $as_of.
AGING_BY_CUSTOMER = f"""
WITH live AS (
    SELECT a.source, a.company_id, a.invoice_id, a.amount,
           CASE WHEN a.credit_memo_id IS NULL THEN 'payment' ELSE 'credit_memo' END AS credit_kind,
           coalesce(a.credit_memo_id, a.payment_id) AS credit_id
    FROM applications a
    JOIN invoices i ON i.source = a.source AND i.company_id = a.company_id AND i.invoice_id = a.invoice_id
    LEFT JOIN payments p ON p.source = a.source AND p.company_id = a.company_id AND p.payment_id = a.payment_id
    LEFT JOIN credit_memos m
           ON m.source = a.source AND m.company_id = a.company_id AND m.credit_memo_id = a.credit_memo_id
    WHERE a.applied_on <= $as_of AND i.status = 'posted' AND i.txn_date <= $as_of
      AND (a.payment_id IS NULL OR p.status = 'posted' AND p.txn_date <= $as_of)
      AND (a.credit_memo_id IS NULL OR m.status = 'posted' AND m.txn_date <= $as_of)
),
roots AS ({_ROOTS}),
open_by_account AS (
    SELECT o.source, o.company_id, coalesce(r.root_id, o.customer_id) AS account_id, {_BUCKET_SUMS}
           sum(home_open)::DECIMAL(18,2) AS total,
           coalesce(sum(home_open) FILTER (WHERE {_DISPUTED}), 0)::DECIMAL(18,2) AS disputed
    FROM (
        SELECT i.source, i.company_id, i.customer_id, i.invoice_id,
               CAST(round((i.total - coalesce(a.applied, 0)) * i.exchange_rate, 2) AS DECIMAL(18,2)) AS home_open,
               $as_of - coalesce(i.due_date, i.txn_date) AS days_past_due
        FROM invoices i
        LEFT JOIN (SELECT source, company_id, invoice_id, sum(amount) AS applied FROM live GROUP BY ALL) a
               USING (source, company_id, invoice_id)
        WHERE i.status = 'posted' AND i.txn_date <= $as_of AND i.total <> coalesce(a.applied, 0)
    ) o
    LEFT JOIN roots r USING (source, company_id, customer_id)
    GROUP BY ALL
),
credit_by_account AS (
    SELECT k.source, k.company_id, coalesce(r.root_id, k.customer_id) AS account_id,
           sum(CAST(round((k.amount - coalesce(u.used, 0)) * k.exchange_rate, 2) AS DECIMAL(18,2)))::DECIMAL(18,2)
               AS unapplied_credit
    FROM (SELECT source, company_id, customer_id, 'payment' AS credit_kind, payment_id AS credit_id,
                 txn_date, amount, exchange_rate
          FROM payments WHERE status = 'posted'
          UNION ALL
          SELECT source, company_id, customer_id, 'credit_memo', credit_memo_id, txn_date, total, exchange_rate
          FROM credit_memos WHERE status = 'posted') k
    LEFT JOIN (SELECT source, company_id, credit_kind, credit_id, sum(amount) AS used FROM live GROUP BY ALL) u
           USING (source, company_id, credit_kind, credit_id)
    LEFT JOIN roots r USING (source, company_id, customer_id)
    WHERE k.txn_date <= $as_of AND k.amount <> coalesce(u.used, 0)
    GROUP BY ALL
)
SELECT source, company_id, account_id AS customer_id, c.name AS customer, c.email,
       coalesce("current", 0) AS "current", coalesce("1-30", 0) AS "1-30", coalesce("31-60", 0) AS "31-60",
       coalesce("61-90", 0) AS "61-90", coalesce("91+", 0) AS "91+", coalesce(total, 0) AS total,
       coalesce(unapplied_credit, 0) AS unapplied_credit, coalesce(disputed, 0) AS disputed
FROM open_by_account FULL JOIN credit_by_account USING (source, company_id, account_id)
JOIN customers c ON c.source = source AND c.company_id = company_id AND c.customer_id = account_id
ORDER BY total DESC, customer"""

# $as_of and the 11 month-ends before it (a list: DuckDB then knows there are 12, and joins them to
# the invoices by a nested loop rather than a slower merge join). An invoice settled to zero for good before a month-end
# (its applications sum to its total, the last in effect by then) needs no sum at that date.
AR_TREND = f"""
WITH dates AS (
    SELECT unnest([$as_of::DATE] || [last_day($as_of - to_months(k::INTEGER)) FOR k IN range(1, 12)]) AS as_of
),
live AS (
    SELECT a.source, a.company_id, a.invoice_id, a.amount,
           greatest(a.applied_on, coalesce(p.txn_date, a.applied_on), coalesce(m.txn_date, a.applied_on))
               AS effective_on
    FROM applications a
    LEFT JOIN payments p ON p.source = a.source AND p.company_id = a.company_id AND p.payment_id = a.payment_id
    LEFT JOIN credit_memos m
           ON m.source = a.source AND m.company_id = a.company_id AND m.credit_memo_id = a.credit_memo_id
    WHERE (a.payment_id IS NULL OR p.status = 'posted') AND (a.credit_memo_id IS NULL OR m.status = 'posted')
),
candidates AS (
    SELECT d.as_of, i.source, i.company_id, i.invoice_id, i.total, i.exchange_rate,
           d.as_of - coalesce(i.due_date, i.txn_date) AS days_past_due
    FROM invoices i
    LEFT JOIN (SELECT source, company_id, invoice_id, sum(amount) AS applied, max(effective_on) AS settled_on
               FROM live GROUP BY ALL) s USING (source, company_id, invoice_id)
    JOIN dates d ON i.txn_date <= d.as_of AND (i.total <> coalesce(s.applied, 0) OR s.settled_on > d.as_of)
    WHERE i.status = 'posted'
),
open_at AS (
    SELECT c.as_of, c.days_past_due,
           CAST(round((c.total - coalesce(sum(l.amount), 0)) * c.exchange_rate, 2) AS DECIMAL(18,2)) AS home_open
    FROM candidates c
    LEFT JOIN live l ON l.source = c.source AND l.company_id = c.company_id AND l.invoice_id = c.invoice_id
                    AND l.effective_on <= c.as_of
    GROUP BY c.as_of, c.source, c.company_id, c.invoice_id, c.total, c.exchange_rate, c.days_past_due
)
SELECT d.as_of, {_BUCKET_SUMS}
       coalesce(sum(home_open), 0)::DECIMAL(18,2) AS total
FROM dates d LEFT JOIN open_at o USING (as_of)
GROUP BY d.as_of ORDER BY d.as_of"""

# The Overview's DSO: A/R at $as_of ÷ credit sales (invoices and statement charges dated in the
# window) × the window's days; the window is the 3 whole months up to $as_of (from a month-end,
# to the month-end 3 months before).
DSO = f"""
WITH w AS (SELECT CASE WHEN $as_of = last_day($as_of) THEN last_day($as_of - INTERVAL 3 MONTH)
                       ELSE ($as_of - INTERVAL 3 MONTH)::DATE END AS starts_after)
SELECT ar.total_ar, s.credit_sales, $as_of - w.starts_after AS days_in_window,
       ar.total_ar / nullif(s.credit_sales, 0) * ($as_of - w.starts_after) AS dso
FROM w,
     (SELECT coalesce(sum(home_open), 0)::DECIMAL(18,2) AS total_ar FROM ({_OPEN})) ar,
     (SELECT coalesce(sum(i.home_total), 0)::DECIMAL(18,2) AS credit_sales
      FROM invoices i JOIN w ON i.txn_date > w.starts_after
      WHERE i.status = 'posted' AND coalesce(i.doc_type, 'invoice') IN ('invoice', 'statement_charge')
        AND i.txn_date <= $as_of) s"""


def _bucket_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(bucket=frame["bucket"].astype(str))


@dataclass(frozen=True)
class Pair:
    """A headline metric as ledgerlight computes it, and the hand-written query of the same result."""

    metric: str
    ledgerlight: Callable[[duckdb.DuckDBPyConnection, date], pd.DataFrame]
    sql: str
    key: tuple[str, ...]  # what identifies a row: rows are compared in this order

    def handwritten(self, con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
        return query_frame(con, self.sql, {"as_of": as_of})


PAIRS = (
    Pair("ar_summary", metrics.ar_summary, AR_SUMMARY, ("as_of",)),
    Pair("aging_buckets", lambda con, as_of: _bucket_as_text(metrics.aging_buckets(con, as_of)), AGING_BUCKETS,
         ("bucket",)),
    Pair("aging_by_customer", metrics.aging_by_customer, AGING_BY_CUSTOMER, ("source", "company_id", "customer_id")),
    Pair("ar_trend (12 month-ends)", metrics.ar_trend, AR_TREND, ("as_of",)),
    Pair("open_invoices_as_of", lambda con, as_of: _bucket_as_text(metrics.open_invoices_as_of(con, as_of)),
         OPEN_INVOICES_AS_OF, ("source", "company_id", "invoice_id")),
    Pair("kpis: DSO (90 days)", lambda con, as_of: metrics.kpis(con, as_of)[["total_ar", "credit_sales",
                                                                              "days_in_window", "dso"]],
         DSO, ()),
)


def _same(ours, theirs) -> bool:
    if isinstance(ours, Decimal) or isinstance(theirs, Decimal):  # money: exact, and DECIMAL on both sides
        return isinstance(ours, Decimal) and isinstance(theirs, Decimal) and ours == theirs
    if pd.isna(ours) or pd.isna(theirs):
        return bool(pd.isna(ours) and pd.isna(theirs))
    if isinstance(ours, float) or isinstance(theirs, float):  # ratios (DSO, % current)
        return math.isclose(ours, theirs, rel_tol=1e-12)
    return ours == theirs


def differences(metric: str, ours: pd.DataFrame, theirs: pd.DataFrame, key: tuple[str, ...]) -> list[str]:
    """Where the hand-written result differs from ledgerlight's: every column, every row."""
    if list(theirs.columns) != list(ours.columns):
        return [f"{metric}: columns {list(theirs.columns)} by hand, {list(ours.columns)} by ledgerlight"]
    if len(theirs) != len(ours):
        return [f"{metric}: {len(theirs)} rows by hand, {len(ours)} by ledgerlight"]
    if key:
        ours, theirs = (frame.sort_values(list(key), kind="stable").reset_index(drop=True) for frame in (ours, theirs))
    found = []
    for row, (mine, hand) in enumerate(zip(ours.itertuples(index=False), theirs.itertuples(index=False))):
        for column, a, b in zip(ours.columns, mine, hand):
            if not _same(a, b):
                where = ", ".join(f"{k}={getattr(mine, k)}" for k in key) if key else f"row {row}"
                found.append(f"{metric} [{where}] {column}: ledgerlight {a!r}, by hand {b!r}")
    return found


def check(con: duckdb.DuckDBPyConnection, pair: Pair, as_of: date) -> None:
    """Fail loudly unless the hand-written query gives exactly ledgerlight's result."""
    found = differences(pair.metric, pair.ledgerlight(con, as_of), pair.handwritten(con, as_of), pair.key)
    if found:
        raise AssertionError("\n".join(["the hand-written query disagrees with the metric:", *found[:20]]))


def timed_alternately(first: Callable[[], object], second: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median seconds of each over `repeat` runs after a warm-up, the two interleaved (in turn first)."""
    first(), second()
    runs: tuple[list[float], list[float]] = ([], [])
    for round_ in range(repeat):
        order = ((0, first), (1, second)) if round_ % 2 == 0 else ((1, second), (0, first))
        for which, function in order:
            started = time.perf_counter()
            function()
            runs[which].append(time.perf_counter() - started)
    return statistics.median(runs[0]), statistics.median(runs[1])


def model_queries(con: duckdb.DuckDBPyConnection, call: Callable[[], object]) -> list[tuple[str, str, dict]]:
    """The model queries `call` runs: (model name, its SQL, its parameters)."""
    original, seen = models.frame, []

    def recorded(con, name, params=None, **variables):
        seen.append((name, models.sql(name, **variables), params or {}))
        return original(con, name, params, **variables)
    models.frame = recorded
    try:
        call()
    finally:
        models.frame = original
    return seen


def profile(con: duckdb.DuckDBPyConnection, sql: str, params: dict, floor_ms: float = 1.0) -> list[str]:
    """DuckDB's profile of one run: each operator that took at least `floor_ms`, indented by depth."""
    con.execute("SET enable_profiling = 'no_output'")
    try:
        con.execute(sql, params).fetchall()
        tree = json.loads(con.get_profiling_information(format="json"))
    finally:
        con.execute("RESET enable_profiling")
    spent_ms = {part: tree[part]["total_time"] * 1000 for part in ("query", "planner", "optimizer")}
    lines = [f"    total {spent_ms['query']:.1f} ms (planning {spent_ms['planner']:.1f} ms, "
             f"optimizing {spent_ms['optimizer']:.1f} ms)"]

    def walk(node: dict, depth: int) -> None:
        info, ms = node.get("extra_info", {}), node.get("timing", 0) * 1000
        if ms >= floor_ms or "CTE Name" in info:
            detail = " ".join(f"{label}: {info[label] if isinstance(info[label], str) else ', '.join(info[label])}"
                              for label in ("CTE Name", "Table", "Join Type", "Conditions", "Groups") if label in info)
            lines.append(f"    {'  ' * depth}{node['name']} {ms:.1f} ms, {node.get('intermediate_rows', 0):,} rows"
                         f"  {detail[:110]}")
        for child in node.get("children", []):
            walk(child, depth + 1)
    for node in tree["operator"]:
        walk(node, 0)
    return lines


def bench(path: Path, label: str, repeat: int, show_profile: bool) -> None:
    with read_only(path) as con:
        [(invoices,)] = con.execute("SELECT count(*) FROM invoices").fetchall()
        load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
        print(f"\n{label}: {invoices:,} invoices, as of {AS_OF} (load average {load} on {os.cpu_count()} cores)")
        print(f"  {'metric':26} {'ledgerlight s':>13} {'hand-written s':>14} {'ratio':>7}  equal")
        within = 0
        for pair in PAIRS:
            check(con, pair, AS_OF)
            ours, theirs = timed_alternately(lambda: pair.ledgerlight(con, AS_OF),
                                             lambda: pair.handwritten(con, AS_OF), repeat)
            within += ours <= 1.2 * theirs
            print(f"  {pair.metric:26} {ours:13.4f} {theirs:14.4f} {ours / theirs:6.2f}x  yes")
            if show_profile:
                for name, sql, params in model_queries(con, lambda: pair.ledgerlight(con, AS_OF)):
                    print(f"  ledgerlight: model {name}")
                    print("\n".join(profile(con, sql, params)))
                print("  hand-written:")
                print("\n".join(profile(con, pair.sql, {"as_of": AS_OF})))
        print(f"  within the goal of 1.2x: {within} of {len(PAIRS)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000], help="generated books' invoices")
    parser.add_argument("--db", type=Path, nargs="+", default=[],
                        help="existing ledgerlight files to read (read-only) instead of generating --sizes")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print DuckDB's profile of each side's queries")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        books = [] if args.skip_demo else [(build_books(0, Path(folder)), "the demo")]
        if args.db:
            books += [(path, str(path)) for path in args.db]
        else:
            books += [(build_books(size, Path(folder)), "generated books") for size in args.sizes]
        for path, label in books:
            bench(path, label, args.repeat, args.profile)


if __name__ == "__main__":
    main()
