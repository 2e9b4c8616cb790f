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

# Invoices fully settled by $as_of: when (the date of the application that brought the invoice
# to zero), days to pay (from the invoice date) and days late (from the due date; negative =
# early). `written_off` marks invoices closed by a bad-debt credit memo rather than paid.
SETTLED_INVOICES = """
WITH applied AS (
    SELECT a.source, a.company_id, a.invoice_id, sum(a.amount) AS applied,
           max(a.applied_on) AS settled_on,
           bool_or(coalesce(m.is_write_off, false)) AS written_off
    FROM applications a
    LEFT JOIN credit_memos m USING (source, company_id, credit_memo_id)
    WHERE a.applied_on <= $as_of
    GROUP BY ALL
)
SELECT i.source, i.company_id, i.invoice_id, i.doc_number, i.customer_id, i.kind, i.txn_date,
       coalesce(i.due_date, i.txn_date) AS due_date, i.home_total, a.settled_on, a.written_off,
       datediff('day', i.txn_date, a.settled_on) AS days_to_pay,
       datediff('day', coalesce(i.due_date, i.txn_date), a.settled_on) AS days_late
FROM invoices i
JOIN applied a USING (source, company_id, invoice_id)
WHERE i.status = 'posted' AND i.total > 0 AND a.applied >= i.total
"""

# Each customer's autopay status on $as_of from the dated enrollment history. Where sources
# disagree, an imported roster wins over a manual entry, which wins over an inference; within a
# provenance the latest period starting on or before $as_of counts.
AUTOPAY_STATUS = """
SELECT source, company_id, customer_id,
       arg_max(status = 'enabled', (precedence, valid_from)) AS on_autopay,
       arg_max(method, (precedence, valid_from)) AS method,
       arg_max(provenance, (precedence, valid_from)) AS provenance,
       arg_max(valid_from, (precedence, valid_from)) AS since
FROM (
    SELECT *, CASE provenance WHEN 'imported' THEN 3 WHEN 'manual' THEN 2 ELSE 1 END AS precedence
    FROM autopay_enrollments
    WHERE valid_from <= $as_of AND (valid_to IS NULL OR valid_to > $as_of)
)
GROUP BY ALL
"""
