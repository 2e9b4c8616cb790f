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
