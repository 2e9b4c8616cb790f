"""The SQL models every metric reads: the canonical A/R items at one or more as-of dates.

Report-date method: an invoice's open amount at date d is its total minus the applications
(payments and credit memos) dated on or before d. Voided and deleted invoices, and invoices
dated after d, count nowhere. Amounts are converted to the home currency at the invoice's
own rate after netting, so a fully paid foreign invoice is exactly zero.

Each model is a SELECT taking `$dates` (a list of DATE); `as_of` names the date a row is for.
"""

# Invoices open at each date in $dates, with their open amount in transaction and home currency.
# Only invoices not yet settled at d need their applications summed at d, which keeps a
# 12-month trend over a million invoices cheap.
OPEN_INVOICES = """
WITH as_of_dates AS (
    SELECT unnest($dates::DATE[]) AS as_of
),
settlement AS (
    SELECT source, company_id, invoice_id,
           sum(amount) AS applied_total, max(applied_on) AS last_applied_on
    FROM applications
    GROUP BY ALL
),
candidates AS (
    SELECT d.as_of, i.source, i.company_id, i.invoice_id, i.doc_number, i.customer_id,
           i.txn_date, coalesce(i.due_date, i.txn_date) AS due_date, i.kind,
           i.currency, i.exchange_rate, i.total
    FROM invoices i
    LEFT JOIN settlement s USING (source, company_id, invoice_id)
    JOIN as_of_dates d
      ON i.txn_date <= d.as_of
     AND (coalesce(s.applied_total, 0) < i.total OR s.last_applied_on > d.as_of)
    WHERE i.status = 'posted'
),
applied_by_date AS (
    SELECT c.as_of, c.source, c.company_id, c.invoice_id, sum(a.amount) AS applied
    FROM candidates c
    JOIN applications a USING (source, company_id, invoice_id)
    WHERE a.applied_on <= c.as_of
    GROUP BY ALL
),
open_amounts AS (
    SELECT c.*, c.total - coalesce(p.applied, 0) AS open_amount
    FROM candidates c
    LEFT JOIN applied_by_date p USING (as_of, source, company_id, invoice_id)
)
SELECT *,
       CAST(round(open_amount * exchange_rate, 2) AS DECIMAL(18,2)) AS home_open_amount,
       datediff('day', due_date, as_of) AS days_past_due,
       datediff('day', txn_date, as_of) AS days_since_invoice
FROM open_amounts
WHERE open_amount <> 0
"""

# Each customer with its top-level ancestor: QuickBooks sub-customers ("Parent:Child", up to
# five levels) roll up to the root when aging is shown by parent.
CUSTOMER_ROOTS = """
WITH RECURSIVE climb AS (
    SELECT source, company_id, customer_id, customer_id AS ancestor_id, 0 AS depth
    FROM customers
    UNION ALL
    SELECT k.source, k.company_id, k.customer_id, c.parent_id, k.depth + 1
    FROM climb k
    JOIN customers c
      ON c.source = k.source AND c.company_id = k.company_id AND c.customer_id = k.ancestor_id
    WHERE c.parent_id IS NOT NULL AND k.depth < 10
)
SELECT source, company_id, customer_id, arg_max(ancestor_id, depth) AS root_id
FROM climb
GROUP BY ALL
"""

# Customer credit at each date in $dates: the part of each payment and credit memo dated on or
# before d that was not applied to an invoice by d. It is shown beside the aging, never netted
# into a bucket. A credit memo applied through a Payment counts against the credit memo.
# Only credits unapplied now, or used after d, can be unapplied at d: the loader checks that
# each one's amount = its applications + unapplied_amount, so the rest are known to be zero.
CREDIT_USES = """
SELECT source, company_id,
       CASE WHEN credit_memo_id IS NULL THEN 'payment' ELSE 'credit_memo' END AS kind,
       coalesce(credit_memo_id, payment_id) AS credit_id, applied_on, amount
FROM applications
"""

CREDITS = """
SELECT source, company_id, customer_id, 'payment' AS kind, payment_id AS credit_id,
       txn_date, amount AS total, unapplied_amount, exchange_rate
FROM payments WHERE status = 'posted'
UNION ALL
SELECT source, company_id, customer_id, 'credit_memo', credit_memo_id,
       txn_date, total, unapplied_amount, exchange_rate
FROM credit_memos WHERE status = 'posted'
"""

CUSTOMER_CREDITS = f"""
WITH as_of_dates AS (
    SELECT unnest($dates::DATE[]) AS as_of
),
uses AS ({CREDIT_USES}),
used_later AS (
    SELECT DISTINCT source, company_id, kind, credit_id FROM uses
    WHERE applied_on > (SELECT min(as_of) FROM as_of_dates)
),
candidates AS (
    SELECT d.as_of, c.*
    FROM ({CREDITS}) c
    JOIN as_of_dates d ON c.txn_date <= d.as_of
    WHERE c.unapplied_amount <> 0
       OR (c.source, c.company_id, c.kind, c.credit_id) IN (SELECT * FROM used_later)
),
used_by_date AS (
    SELECT c.as_of, c.source, c.company_id, c.kind, c.credit_id, sum(u.amount) AS used
    FROM candidates c
    JOIN uses u USING (source, company_id, kind, credit_id)
    WHERE u.applied_on <= c.as_of
    GROUP BY ALL
),
unapplied AS (
    SELECT c.as_of, c.source, c.company_id, c.customer_id, c.kind, c.credit_id, c.exchange_rate,
           c.total - coalesce(u.used, 0) AS unapplied_amount
    FROM candidates c
    LEFT JOIN used_by_date u USING (as_of, source, company_id, kind, credit_id)
)
SELECT *, CAST(round(unapplied_amount * exchange_rate, 2) AS DECIMAL(18,2)) AS home_unapplied_amount
FROM unapplied
WHERE unapplied_amount <> 0
"""

# Payments and credit memos whose amount is not their applications plus unapplied_amount:
# a source that breaks this would make the credit column wrong, so a load refuses it.
UNBALANCED_CREDITS = f"""
SELECT c.kind, c.credit_id, c.total, coalesce(sum(u.amount), 0) AS applied, c.unapplied_amount
FROM ({CREDITS}) c
LEFT JOIN ({CREDIT_USES}) u USING (source, company_id, kind, credit_id)
WHERE c.source = $source AND c.company_id = $company_id
GROUP BY ALL
HAVING c.total <> coalesce(sum(u.amount), 0) + c.unapplied_amount
ORDER BY ALL
LIMIT 5
"""

def _settled_invoices(as_of_dates: str) -> str:
    return f"""
WITH as_of_dates AS ({as_of_dates}),
applied AS (
    SELECT d.as_of, a.source, a.company_id, a.invoice_id, sum(a.amount) AS applied,
           max(a.applied_on) AS settled_on,
           bool_or(coalesce(m.is_write_off, false)) AS written_off
    FROM applications a
    JOIN as_of_dates d ON a.applied_on <= d.as_of
    LEFT JOIN credit_memos m USING (source, company_id, credit_memo_id)
    GROUP BY ALL
)
SELECT a.as_of, i.source, i.company_id, i.invoice_id, i.doc_number, i.customer_id, i.kind, i.txn_date,
       coalesce(i.due_date, i.txn_date) AS due_date, i.home_total, a.settled_on, a.written_off,
       datediff('day', i.txn_date, a.settled_on) AS days_to_pay,
       datediff('day', coalesce(i.due_date, i.txn_date), a.settled_on) AS days_late
FROM invoices i
JOIN applied a USING (source, company_id, invoice_id)
WHERE i.status = 'posted' AND i.total > 0 AND a.applied >= i.total AND i.txn_date <= a.as_of
"""


# Invoices fully settled by $as_of: when (the date of the application that brought the invoice
# to zero), days to pay (from the invoice date) and days late (from the due date; negative =
# early). `written_off` marks invoices closed by a bad-debt credit memo rather than paid.
SETTLED_INVOICES = _settled_invoices("SELECT $as_of::DATE AS as_of")
# The same at each date in $dates (column as_of): a backtest replays many cut-offs in one query.
SETTLED_INVOICES_ON_DATES = _settled_invoices("SELECT unnest($dates::DATE[]) AS as_of")

# Where enrollment sources disagree, an imported roster wins over a manual entry, which wins
# over an inference; within a provenance the latest period starting on or before the date counts.
AUTOPAY_PRECEDENCE = "CASE provenance WHEN 'imported' THEN 3 WHEN 'manual' THEN 2 ELSE 1 END"

# Each customer's autopay status on $as_of from the dated enrollment history.
AUTOPAY_STATUS = f"""
SELECT source, company_id, customer_id,
       arg_max(status = 'enabled', (precedence, valid_from)) AS on_autopay,
       arg_max(method, (precedence, valid_from)) AS method,
       arg_max(provenance, (precedence, valid_from)) AS provenance,
       arg_max(valid_from, (precedence, valid_from)) AS since
FROM (
    SELECT *, {AUTOPAY_PRECEDENCE} AS precedence
    FROM autopay_enrollments
    WHERE valid_from <= $as_of AND (valid_to IS NULL OR valid_to > $as_of)
)
GROUP BY ALL
"""

# Autopay status of each (source, company_id, customer_id, day) in a `customer_days` relation the
# caller defines (a CTE), by the same precedence: e.g. each invoice's client on its invoice date,
# or every client at each month-end. A day no enrollment covers is not on autopay.
AUTOPAY_ON_DAYS = f"""
SELECT d.source, d.company_id, d.customer_id, d.day,
       coalesce(arg_max(e.status = 'enabled', (e.precedence, e.valid_from))
                FILTER (WHERE e.provenance IS NOT NULL), false) AS on_autopay
FROM customer_days d
LEFT JOIN (SELECT *, {AUTOPAY_PRECEDENCE} AS precedence FROM autopay_enrollments) e
  ON e.source = d.source AND e.company_id = d.company_id AND e.customer_id = d.customer_id
 AND e.valid_from <= d.day AND (e.valid_to IS NULL OR e.valid_to > d.day)
GROUP BY ALL
"""

# Autopay periods inferred from how one company ($source, $company_id) paid by $as_of (spec:
# "last >= 3 recurring invoices paid by card/ACH within +-2 days of the due date"). Recurring
# invoices are taken in due-date order; each gets a verdict: autopay-like when settled within
# 2 days either side of its due date by card/ACH payments only, not when settled otherwise or
# still unpaid more than 2 days past due (an invoice not yet that far gets no verdict). A run of
# 3 or more autopay-like verdicts is a period from the first one's invoice date until the invoice
# date of the next invoice that was not (open-ended if none), paid by the last one's method.
INFERRED_AUTOPAY = f"""
WITH recurring AS (
    SELECT source, company_id, customer_id, invoice_id, txn_date, coalesce(due_date, txn_date) AS due_date
    FROM invoices
    WHERE status = 'posted' AND kind = 'recurring' AND total > 0 AND txn_date <= $as_of
      AND source = $source AND company_id = $company_id
),
paid_by AS (
    SELECT a.source, a.company_id, a.invoice_id,
           bool_and(p.method IN ('card', 'ach')) AS electronic, arg_max(p.method, a.applied_on) AS method
    FROM applications a
    JOIN payments p USING (source, company_id, payment_id)
    WHERE a.applied_on <= $as_of AND a.credit_memo_id IS NULL
    GROUP BY ALL
),
verdicts AS (
    SELECT r.*, m.method,
           CASE WHEN s.settled_on IS NOT NULL
                THEN abs(s.days_late) <= 2 AND coalesce(m.electronic, false) AND NOT s.written_off
                WHEN datediff('day', r.due_date, $as_of) > 2 THEN false
           END AS autopay_like
    FROM recurring r
    LEFT JOIN ({SETTLED_INVOICES}) s USING (source, company_id, invoice_id)
    LEFT JOIN paid_by m USING (source, company_id, invoice_id)
),
numbered AS (
    SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY due_date, invoice_id)
              - row_number() OVER (PARTITION BY customer_id, autopay_like ORDER BY due_date, invoice_id) AS run
    FROM verdicts
    WHERE autopay_like IS NOT NULL
),
runs AS (
    SELECT source, company_id, customer_id, run, min(txn_date) AS valid_from, max(due_date) AS last_due,
           arg_max(method, due_date) AS method
    FROM numbered
    WHERE autopay_like
    GROUP BY ALL
    HAVING count(*) >= 3
)
SELECT r.customer_id, 'inferred' AS provenance, r.valid_from, min(b.txn_date) AS valid_to,
       'enabled' AS status, r.method
FROM runs r
LEFT JOIN numbered b
  ON b.customer_id = r.customer_id AND NOT b.autopay_like AND b.due_date > r.last_due
GROUP BY r.customer_id, r.valid_from, r.method
"""


# Recurring schedules as they could be known at each date in $dates. The table holds only each
# schedule's latest state, so a row changed after d (updated_at > d, or unknown) is rebuilt from
# what d could see: the amount, terms and cadence of the last invoice it generated by d, no end
# date, active. A row unchanged since d is taken as it is. A schedule ended by d (end_date <= d,
# or inactive and unchanged since) is left out. `next_date` is the next occurrence as known at d
# (on or before d when the schedule has fallen behind: only its occurrences after d are future);
# `terms_days` is the due-date gap of its last invoice (NULL if none yet); amounts are per
# interval in the schedule's currency, `exchange_rate` the latest rate of that currency by d.
SCHEDULES_ON_DATES = """
WITH as_of_dates AS (
    SELECT unnest($dates::DATE[]) AS as_of
),
generated AS (
    SELECT d.as_of, i.source, i.company_id, i.recurring_template_id AS schedule_id,
           min(i.txn_date) AS first_billed, max(i.txn_date) AS last_billed,
           arg_max(i.total, i.txn_date) AS last_total,
           arg_max(datediff('day', i.txn_date, coalesce(i.due_date, i.txn_date)), i.txn_date) AS terms_days
    FROM invoices i
    JOIN as_of_dates d ON i.txn_date <= d.as_of
    WHERE i.status = 'posted' AND i.recurring_template_id IS NOT NULL
    GROUP BY ALL
),
rates AS (
    SELECT d.as_of, i.source, i.company_id, i.currency, arg_max(i.exchange_rate, i.txn_date) AS exchange_rate
    FROM invoices i
    JOIN as_of_dates d ON i.txn_date <= d.as_of
    WHERE i.status = 'posted'
    GROUP BY ALL
),
known AS (
    SELECT d.as_of, s.*, g.first_billed, g.last_billed, g.last_total, g.terms_days,
           coalesce(s.updated_at::DATE <= d.as_of, false) AS unchanged_since,
           CASE s.interval_unit WHEN 'week' THEN to_weeks(s.interval_count)
                                WHEN 'month' THEN to_months(s.interval_count)
                                ELSE to_years(s.interval_count) END AS step
    FROM recurring_schedules s
    JOIN as_of_dates d ON coalesce(s.start_date, DATE '9999-12-31') <= d.as_of
    LEFT JOIN generated g
      ON g.as_of = d.as_of AND g.source = s.source AND g.company_id = s.company_id AND g.schedule_id = s.schedule_id
    WHERE NOT coalesce(s.end_date <= d.as_of, false)
      AND NOT (coalesce(s.updated_at::DATE <= d.as_of, false) AND NOT s.active)
),
dated AS (
    SELECT *,
           CASE WHEN unchanged_since THEN amount ELSE coalesce(last_total, amount) END AS known_amount,
           CASE WHEN unchanged_since THEN end_date END AS known_end_date,
           CASE WHEN unchanged_since AND next_date > as_of THEN next_date
                ELSE CAST(coalesce(last_billed + step, start_date) AS DATE) END AS first_next
    FROM known
)
SELECT k.as_of, k.source, k.company_id, k.schedule_id, k.customer_id, k.currency,
       k.interval_unit, k.interval_count, k.step, k.known_amount AS amount, k.known_end_date AS end_date,
       k.first_next AS next_date,
       k.terms_days, coalesce(r.exchange_rate, 1) AS exchange_rate
FROM dated k
LEFT JOIN rates r USING (as_of, source, company_id, currency)
"""
